// Package bench holds the benchmarks that compare continuity with the
// physical limits of the machine and with peer tools, in the same run.
//
// It is a module of its own (github.com/continuity-go/continuity/bench) so
// that the peer libraries it measures never enter the library's go.mod.
//
// From this directory:
//
//	go run ./cmd/walbench -readme README.md   # WAL vs raw write+fdatasync, tidwall/wal, etcd wal
//	go run ./cmd/snapbench -readme README.md  # snapshots vs restic, chunkers, hashes, AEADs, limits
//	go run ./cmd/replbench -readme README.md  # replication over loopback TLS: async, sync(1), sync(2) vs no replication, standby lag
//	go test -run '^$' -bench . ./...          # Go benchmarks, for benchstat
//
// internal/peers holds the WAL peer adapters and the raw loop;
// internal/chunkers the chunker adapters and the shift-resistance
// workloads; internal/benchkit what the commands share (machine facts,
// medians, Markdown tables, the README's generated sections). README.md explains the method and holds the latest results.
package bench
