// Package bench holds the benchmarks that compare continuity's WAL with the
// physical limit of the disk and with other Go write-ahead logs.
//
// It is a module of its own (github.com/continuity-go/continuity/bench) so
// that the peer libraries it measures never enter the library's go.mod.
//
// Two ways to run it, from this directory:
//
//	go run ./cmd/walbench -readme README.md   # the full side-by-side table, median of 5 runs
//	go test -run '^$' -bench . ./...          # Go benchmarks, for benchstat
//
// The peer adapters, the raw write+fdatasync loop and the payload generator
// live in internal/peers and are shared by both. README.md explains the
// method and holds the latest results.
package bench
