package main

import (
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"strconv"
	"strings"
)

// The targets, checked in the report.
const (
	// targetAsyncShare is the least share of the baseline's records/s
	// that appends with an asynchronous standby must keep.
	targetAsyncShare = 0.95
	// targetSyncLatency is the most sync(1)'s p50 may be, as a multiple
	// of async's.
	targetSyncLatency = 2.0
)

// nodesFact says where the nodes' logs were.
func nodesFact(s settings) string {
	const nodes = "the primary and its standbys in one process, each with its own wal.Log (default Options: one fdatasync per group commit) in its own directory"
	if s.standbyDir == "" {
		return nodes + " on the file system above: one disk for all"
	}
	return fmt.Sprintf("%s; the primary's on the file system above, the standbys' in %s: %s", nodes, s.standbyDir, s.standbyFS)
}

// renderReport formats the results as Markdown: the machine, the appends,
// the asynchronous standby's lag, the physical limits, the targets and the
// ratios that explain them.
func renderReport(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/replbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd)
	benchkit.Table(&b, []string{"", ""}, append(sys.Facts(), [][]string{
		{"Nodes", nodesFact(s)},
		{"Transport", "127.0.0.1, TLS 1.3 with mutual authentication (ECDSA P-256 certificates made by the program)"},
		sys.Load(),
		{"Runs", fmt.Sprintf("%d per configuration, round by round, %v each after a %v warm-up (physical limits: %v after %v); cells are median (min–max)",
			s.runs, s.duration, s.warmup, min(s.duration, limitDuration), min(s.warmup, limitWarmup))},
	}...))

	b.WriteString("\n#### Appends on the primary\n\n")
	var rows [][]string
	for _, j := range res.repl {
		rows = append(rows, []string{
			sizeName(j.size), strconv.Itoa(j.writers), j.mode.label(),
			benchkit.RangeOf(j.stat(opsPerSec), benchkit.Sig3), benchkit.RangeOf(j.stat(mbPerSec), benchkit.Sig3),
			benchkit.RangeOf(j.stat(p50ms), benchkit.Sig3), benchkit.RangeOf(j.stat(p99ms), benchkit.Sig3),
			benchkit.RangeOf(j.stat(recPerBatch), benchkit.OneDecimal), benchkit.RangeOf(j.stat(syncMs), benchkit.Sig3), benchkit.RangeOf(j.stat(cpuPerOpUs), benchkit.Sig3),
			benchkit.RangeOf(j.stat(busyPct), benchkit.Percent), benchkit.RangeOf(j.stat(schedP50ms), benchkit.Sig3), benchkit.RangeOf(j.stat(schedP99ms), benchkit.Sig3),
		})
	}
	benchkit.Table(&b, []string{"payload", "writers", "mode", "records/s", "MB/s", "p50 ms", "p99 ms", "records/commit", "fdatasync ms", "CPU µs/record", "machine CPU busy", "run wait p50 ms", "run wait p99 ms"}, rows)
	b.WriteString("\nrecords/s, MB/s (payload, 10^6 bytes), p50, p99: Append calls (one record each) completed in the timed window; latency from the call to its return. records/commit: the primary log's records per group commit (one write, one fdatasync); fdatasync ms: the mean time of its fdatasyncs (wal.Stats). CPU µs/record: user + system time of the whole process (primary, standbys, TLS) per record appended. machine CPU busy: the share of all CPUs' time that was not idle or waiting for I/O during the window, kernel threads included (/proc/stat). run wait: how long the process's goroutines waited, runnable, for one of the GOMAXPROCS Ps before they ran (the Go runtime's /sched/latencies:seconds histogram over the window, buckets at their upper bounds): how long a writer whose Append returned, or a standby with a frame in its socket, waited to run.\n")

	rows = rows[:0]
	for _, j := range res.repl {
		if j.mode != modeAsync {
			continue
		}
		rows = append(rows, []string{
			sizeName(j.size), strconv.Itoa(j.writers),
			benchkit.RangeOf(j.stat(standbyOps), benchkit.Sig3), benchkit.RangeOf(j.stat(func(r runResult) float64 { return r.standbyOpsPerSec * float64(j.size) / 1e6 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(lagP50ms), benchkit.Sig3), benchkit.RangeOf(j.stat(lagP99ms), benchkit.Sig3),
			benchkit.RangeOf(j.stat(standbyPerBatch), benchkit.OneDecimal), benchkit.RangeOf(j.stat(standbySyncMs), benchkit.Sig3), benchkit.RangeOf(j.stat(catchUpMs), benchkit.Sig3),
		})
	}
	if len(rows) > 0 {
		b.WriteString("\n#### Asynchronous standby: replication throughput and lag\n\n")
		benchkit.Table(&b, []string{"payload", "writers", "applied records/s", "MB/s", "lag p50 ms", "lag p99 ms", "standby records/commit", "standby fdatasync ms", "catch-up ms"}, rows)
		b.WriteString("\napplied records/s, MB/s: records the standby applied during the timed window. Lag: for every record appended in the window, the time from its Append returning on the primary to the standby's StateMachine.Apply of it (the standby applies a record once it is fdatasynced in its own WAL, which an asynchronous standby does every StandbyOptions.FlushDelay, 2 ms by default, and once the primary's log has it durable: Batch.Committed), 0 if the standby was first. standby records/commit, fdatasync ms: records per group commit of the standby's log, and the mean time of its fdatasyncs. catch-up: from the end of the window until the standby applied the last record appended in it.\n")
	}

	if len(res.limits) > 0 {
		b.WriteString("\n#### Physical limits, same disk, same run\n\n")
		rows = rows[:0]
		for _, j := range res.limits {
			rows = append(rows, []string{
				sizeName(j.size), j.limit.label(),
				benchkit.RangeOf(j.stat(opsPerSec), benchkit.Sig3), benchkit.RangeOf(j.stat(p50ms), benchkit.Sig3), benchkit.RangeOf(j.stat(p99ms), benchkit.Sig3),
			})
		}
		benchkit.Table(&b, []string{"payload", "loop", "per second", "p50 ms", "p99 ms"}, rows)
		b.WriteString("\nOne goroutine per loop, no framing or checksums; files preallocated with real zeros and synced before timing, as the WAL's segments are.\n")
	}

	trows, met, total := targets(s, res)
	b.WriteString("\n#### Targets\n\n")
	benchkit.Table(&b, []string{"target", "measured", "met?"}, trows)
	fmt.Fprintf(&b, "\n%d of %d target checks met.\n", met, total)

	if frows := floorRows(s, res); len(frows) > 0 {
		b.WriteString("\n#### What the disk and the network allow (context, not targets)\n\n")
		benchkit.Table(&b, []string{"payload", "two fdatasync loops side by side: each ÷ one alone", "sync(1) floor, one disk: (fdatasync on two files at once + round trip) ÷ one fdatasync", "sync(1) floor, a disk each: (fdatasync + round trip) ÷ one fdatasync", "if the standby synced only after the primary, one disk: (fdatasync on two files in series + round trip) ÷ one fdatasync"}, frows)
		b.WriteString("\nRatios of the physical limits' medians (p50 for latencies). The first column is what a primary keeps of its syncs per second while a standby syncs every commit beside it on the same disk (an asynchronous standby syncs only every StandbyOptions.FlushDelay, so it costs less). The primary ships records while it syncs them, so a sync(1) append waits for its own fdatasync and, beside it, the round trip and the standby's fdatasync: the next two columns are the least sync(1) p50 ÷ async p50 (target (b)) can then be at one writer, on one shared disk and with a disk each. The last is that floor for a primary that ships only synced records, as this package did before protocol version 2.\n")
	}
	if crows := contextRows(s, res); len(crows) > 0 {
		b.WriteString("\n#### Where the asynchronous standby's cost goes (context, not targets)\n\n")
		benchkit.Table(&b, []string{"payload", "writers", "async ÷ baseline: records/s", "= commits/s", "× records/commit", "fdatasync time", "p50", "CPU/record", "sync(1) records/s ÷ baseline", "sync(2) p50 ÷ sync(1) p50"}, crows)
		b.WriteString("\nRatios of medians, from the appends table. records/s is commits/s × records/commit: a miss of target (a) is either slower group commits on the primary (its fdatasyncs take longer beside the standby's, or its goroutines wait longer to run: the appends table's run wait) or fewer records in each.\n")
	}
	return b.String()
}

// writersName says "1 writer" or "8 writers".
func writersName(n int) string {
	if n == 1 {
		return "1 writer"
	}
	return fmt.Sprintf("%d writers", n)
}

// targets checks the targets at every size and writer count:
// async records/s ÷ baseline records/s ≥ 0.95, and sync(1) p50 ÷ async
// p50 ≤ 2. It returns the rows and how many were met.
func targets(s settings, res *results) (rows [][]string, met, total int) {
	add := func(target string, r float64, ok bool) {
		rows = append(rows, check(target, r, ok))
		total++
		if ok {
			met++
		}
	}
	for _, size := range s.sizes {
		for _, w := range s.writers {
			base, async := res.find(modeBaseline, w, size), res.find(modeAsync, w, size)
			if base == nil || async == nil {
				continue
			}
			r := async.stat(opsPerSec).Med / base.stat(opsPerSec).Med
			add(fmt.Sprintf("%s, %s: async records/s ÷ baseline records/s ≥ %.2f", writersName(w), sizeName(size), targetAsyncShare), r, r >= targetAsyncShare)
		}
	}
	for _, size := range s.sizes {
		for _, w := range s.writers {
			async, sync1 := res.find(modeAsync, w, size), res.find(modeSync1, w, size)
			if async == nil || sync1 == nil {
				continue
			}
			r := sync1.stat(p50ms).Med / async.stat(p50ms).Med
			add(fmt.Sprintf("%s, %s: sync(1) p50 ÷ async p50 ≤ %.0f", writersName(w), sizeName(size), targetSyncLatency), r, r <= targetSyncLatency)
		}
	}
	return rows, met, total
}

func check(target string, r float64, ok bool) []string {
	yes := "no"
	if ok {
		yes = "yes"
	}
	return []string{target, benchkit.Ratio(r), yes}
}

// floorRows gives, per payload size, what the physical limits allow the
// targets: the share of its syncs a primary keeps beside a standby on the
// same disk, and the least sync(1) ÷ async latency ratio, with the
// standby's sync beside the primary's (as the package ships) or after it.
func floorRows(s settings, res *results) [][]string {
	var rows [][]string
	for _, size := range s.sizes {
		one, side, pair := res.limit(limFsync, size), res.limit(limSide, size), res.limit(limPair, size)
		serial, rtt := res.limit(limSerial, size), res.limit(limRTT, size)
		if one == nil || side == nil || pair == nil || serial == nil || rtt == nil {
			continue
		}
		f, rt := one.stat(p50ms).Med, rtt.stat(p50ms).Med
		rows = append(rows, []string{sizeName(size),
			benchkit.Ratio(side.stat(opsPerSec).Med / one.stat(opsPerSec).Med),
			benchkit.Ratio((pair.stat(p50ms).Med + rt) / f),
			benchkit.Ratio((f + rt) / f),
			benchkit.Ratio((serial.stat(p50ms).Med + rt) / f),
		})
	}
	return rows
}

// contextRows gives, per configuration, the ratios that show where the
// asynchronous standby's cost comes from, and what the synchronous modes
// cost.
func contextRows(s settings, res *results) [][]string {
	var rows [][]string
	for _, size := range s.sizes {
		for _, w := range s.writers {
			base, async := res.find(modeBaseline, w, size), res.find(modeAsync, w, size)
			sync1, sync2 := res.find(modeSync1, w, size), res.find(modeSync2, w, size)
			if base == nil || async == nil {
				continue
			}
			r := func(metric func(runResult) float64) string {
				return benchkit.Ratio(async.stat(metric).Med / base.stat(metric).Med)
			}
			commits := func(r runResult) float64 {
				if r.recPerBatch == 0 {
					return 0
				}
				return r.opsPerSec / r.recPerBatch
			}
			s1, s2 := "—", "—"
			if sync1 != nil {
				s1 = benchkit.Ratio(sync1.stat(opsPerSec).Med / base.stat(opsPerSec).Med)
			}
			if sync1 != nil && sync2 != nil {
				s2 = benchkit.Ratio(sync2.stat(p50ms).Med / sync1.stat(p50ms).Med)
			}
			rows = append(rows, []string{sizeName(size), strconv.Itoa(w),
				r(opsPerSec), r(commits), r(recPerBatch), r(syncMs), r(p50ms), r(cpuPerOpUs), s1, s2})
		}
	}
	return rows
}
