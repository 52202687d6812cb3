package main

import "github.com/continuity-go/continuity/bench/internal/benchkit"

// The markers around the generated part of the README.
const (
	beginMarker = "<!-- walbench:begin -->"
	endMarker   = "<!-- walbench:end -->"
)

// readmeTemplate is the README written when none exists; the report goes
// where resultsToken is.
const resultsToken = "{{results}}"

const readmeTemplate = `# Benchmarks

This module measures continuity's write-ahead log against the physical
limit of the disk it runs on and against other Go write-ahead logs, in one
run, side by side on the same disk. It has its own go.mod so that the peer
libraries never enter the library's.

## How to run

From this directory:

    go run ./cmd/walbench -readme README.md         # full run, about 10 minutes; rewrites the results below
    go run ./cmd/walbench -runs 1 -duration 200ms   # a quick look, printed only
    go test -run '^$' -bench . ./...                # Go benchmarks (sub-benchmarks named impl=, writers=, size=)
    go test -run '^$' -bench 'Append/impl=continuity/' -count 10 ./... | tee new.txt   # for benchstat

Flags: -dir DIR puts the logs on another disk (a temporary directory is
made inside DIR and removed; the default is $TMPDIR), -runs and -duration
set the number and length of timed runs, -warmup the untimed warm-up before
each, -writers, -sizes and -impls narrow the configurations.

## What is measured

- **Logs.** N goroutines (N = 1, 8, 64) each call Append with one record in
  a closed loop: the next call starts when the previous returns. Payloads
  are 128 B and 4 KiB of bytes from a seeded PCG generator (the same bytes
  every run, incompressible). Every log is in its fully durable
  configuration: when Append returns, the record is on disk.
  - ` + "`continuity`" + `: our WAL with ` + "`wal.Options{}`" + `: group commit
    (one write and one fdatasync per batch of concurrent appends),
    64 MiB segments preallocated with zeros.
  - ` + "`tidwall`" + `: github.com/tidwall/wal with NoSync false: one write and
    one fsync per Write. It is single-writer, so callers take a mutex,
    under which the index is assigned.
  - ` + "`etcd`" + `: go.etcd.io/etcd/server/v3/storage/wal, one Save (an empty
    HardState and one entry) per record; Save fdatasyncs. Callers take a
    mutex, under which the entry index is assigned.
  - ` + "`tidwall+group`" + `, ` + "`etcd+group`" + ` (8 and 64 writers only): the
    same libraries behind a group committer written in this module, the
    scheme continuity uses: whatever is queued while a batch syncs is the
    next batch, written with one WriteBatch or one Save. etcd's raft loop
    saves all entries of a Ready this way; neither library ships it for
    concurrent callers, so these rows are context, not targets.
- **Raw write+fdatasync**, one goroutine, no framing or checksums: the
  physical limit. ` + "`prealloc`" + ` overwrites a 64 MiB file that was filled with
  real zeros and synced before timing (wrapping at its end), so fdatasync
  has no file size to commit; ` + "`append`" + ` appends to an empty file. Each runs
  at the single-record sizes and at the batch size continuity reached in
  each configuration (its bytes per group commit in its first run, frame
  headers included, rounded up to a multiple of 4 KiB so that the raw loop
  writes at least as much per sync as the log did), so that the
  comparison is at the same batch size.

Each configuration runs -runs times (default 5), each -duration long
(default 2 s) after an untimed warm-up (default 1 s: continuity zero-fills
its next 64 MiB segment in the background right after its first append,
which is a start-up cost, not the steady state), in a fresh directory
removed afterwards. The runs go round by round: every configuration runs
once per round, so that a disturbance of the machine (another process
using the disk or the CPUs) spreads over all configurations instead of
hitting one.
The first round starts with continuity, whose batch sizes set the raw
write sizes. Cells show the median and, in parentheses, the minimum and
maximum over the runs.

## What the columns mean

- **records/s**, **writes/s**: Append calls (raw: write+fdatasync pairs)
  that completed during the timed window, per second.
- **MB/s**: payload bytes per second, 1 MB = 10^6 bytes. For raw rows,
  bytes written.
- **p50 ms**, **p99 ms**: latency of one Append (raw: one write+fdatasync),
  over all calls completed in the timed window of a run.
- **records/batch**, **KiB/batch**: for continuity, Stats().Records and
  Stats().Bytes divided by Stats().Batches over the timed window: how many
  records one group commit carried, and how many bytes it wrote (48-byte
  frame headers and padding to 8 bytes included).
- **Targets**: (i) with 64 writers, continuity's MB/s ÷ the raw prealloc
  loop's MB/s at the same batch size, target at least 0.80; (ii) with one
  writer, continuity's p50 ÷ the raw prealloc p50 of one write of the
  record's size, target at most 1.2; (iii) continuity's records/s ÷ each
  peer's (used as it is, not the +group rows), target above 1 at every
  size and writer count. Ratios are of medians.
- **Context**: ratios that explain the targets without being targets.
  Group commits per second ÷ raw writes per second at the same size, and
  bytes written per second with frame headers ÷ raw MB/s, show how much of
  a miss of (i) is the sync path and how much is framing (a 128 B record
  takes a 176 B frame) or the rounding of the raw size. New segments per
  second counts continuity's 64 MiB zero-fills, which run in the
  background beside the appends (the raw loop's fill is not timed).
  Prealloc ÷ append writes/s shows what overwriting saves on this file
  system.

The header of the results records the machine: CPU model, cores, Go
version, kernel, file system, disk and the load average, all gathered by
the program when it runs. Numbers from a shared or virtual machine move
with its neighbours; compare runs made on the same machine.

## Results

` + resultsToken + `
`

// readme is the generated section of bench/README.md.
var readme = benchkit.Section{Begin: beginMarker, End: endMarker, Heading: "## Results",
	Template: readmeTemplate, Token: resultsToken}

// writeReadme puts report between the markers of the Markdown file at
// path, creating the file from readmeTemplate if it does not exist.
func writeReadme(path, report string) error { return readme.Write(path, report) }

// replaceBlock returns text with report between the markers.
func replaceBlock(text, report string) (string, error) { return readme.Replace(text, report) }
