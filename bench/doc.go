// Command bench runs continuity's benchmark suites side by side with the
// peer tools and the physical limits of the machine, and writes the
// results (tables and PNG charts) into README.md.
//
// It is a module of its own (github.com/continuity-go/continuity/bench) so
// that the peer libraries it measures never enter the library's go.mod.
//
// From this directory:
//
//	go run .                        # every suite, full; rewrites README.md and charts/
//	go run . -short                 # every suite in under 3 minutes, into a temporary directory
//	go run . -suites wal,failover   # some suites (hotpath, wal, snapshot, replication, archive, failover)
//	go test -run '^$' -bench . ./...  # Go benchmarks, for benchstat
//
// Each suite is a program under cmd/ that can also run alone with more
// flags: walbench (WAL vs raw write+fdatasync, tidwall/wal, etcd wal),
// snapbench (snapshots vs restic; chunkers, hashes, compressors, AEADs
// and memmove), replbench (replication over loopback TLS: async, sync(1),
// sync(2) vs no replication, standby lag), archbench (archive lag on
// file:// and S3, the cost of the archive's integrity data, restore
// speed, Verify speed) and failbench (fail-over and switchover times).
// This command builds them, runs them one after the other, each in a
// process of its own, and writes the overview section: the machine, the
// arguments, each program's wall time and result.
//
// internal/peers holds the WAL peer adapters and the raw loop;
// internal/chunkers the chunker adapters and the shift-resistance
// workloads; internal/benchkit what the programs share (machine facts,
// medians, Markdown tables, charts, the README's generated sections).
// README.md explains the method and holds the latest results.
package main
