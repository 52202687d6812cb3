package main

import (
	"fmt"
	"math"
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

// renderReport formats the results as Markdown: the machine, the appends,
// the asynchronous standby's lag, the physical limits, the targets and the
// ratios that explain them.
func renderReport(s settings, sys system, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/replbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", sys.date.Format("2006-01-02 15:04 MST"), cmd)
	table(&b, []string{"", ""}, [][]string{
		{"CPU", fmt.Sprintf("%s, %d logical CPUs, GOMAXPROCS %d", sys.cpu, sys.cpus, sys.gomaxprocs)},
		{"Go", sys.goVersion},
		{"continuity", sys.library},
		{"Kernel", sys.kernel},
		{"File system", sys.fs},
		{"Disk", sys.disk},
		{"Nodes", "the primary and its standbys in one process, each with its own wal.Log (default Options: one fdatasync per group commit) in its own directory on the file system above: one disk for all"},
		{"Transport", "127.0.0.1, TLS 1.3 with mutual authentication (ECDSA P-256 certificates made by the program)"},
		{"Load average (1, 5, 15 min)", fmt.Sprintf("%s at start, %s at end", sys.loadStart, sys.loadEnd)},
		{"Runs", fmt.Sprintf("%d per configuration, round by round, %v each after a %v warm-up (physical limits: %v after %v); cells are median (min–max)",
			s.runs, s.duration, s.warmup, min(s.duration, limitDuration), min(s.warmup, limitWarmup))},
	})

	b.WriteString("\n#### Appends on the primary\n\n")
	var rows [][]string
	for _, j := range res.repl {
		rows = append(rows, []string{
			sizeName(j.size), strconv.Itoa(j.writers), j.mode.label(),
			rangeOf(j.stat(opsPerSec), sig3), rangeOf(j.stat(mbPerSec), sig3),
			rangeOf(j.stat(p50ms), sig3), rangeOf(j.stat(p99ms), sig3),
			rangeOf(j.stat(recPerBatch), oneDecimal), rangeOf(j.stat(syncMs), sig3), rangeOf(j.stat(cpuPerOpUs), sig3),
			rangeOf(j.stat(busyPct), percent), rangeOf(j.stat(schedP50ms), sig3), rangeOf(j.stat(schedP99ms), sig3),
		})
	}
	table(&b, []string{"payload", "writers", "mode", "records/s", "MB/s", "p50 ms", "p99 ms", "records/commit", "fdatasync ms", "CPU µs/record", "machine CPU busy", "run wait p50 ms", "run wait p99 ms"}, rows)
	b.WriteString("\nrecords/s, MB/s (payload, 10^6 bytes), p50, p99: Append calls (one record each) completed in the timed window; latency from the call to its return. records/commit: the primary log's records per group commit (one write, one fdatasync); fdatasync ms: the mean time of its fdatasyncs (wal.Stats). CPU µs/record: user + system time of the whole process (primary, standbys, TLS) per record appended. machine CPU busy: the share of all CPUs' time that was not idle or waiting for I/O during the window, kernel threads included (/proc/stat). run wait: how long the process's goroutines waited, runnable, for one of the GOMAXPROCS Ps before they ran (the Go runtime's /sched/latencies:seconds histogram over the window, buckets at their upper bounds): how long a writer whose Append returned, or a standby with a frame in its socket, waited to run.\n")

	rows = rows[:0]
	for _, j := range res.repl {
		if j.mode != modeAsync {
			continue
		}
		rows = append(rows, []string{
			sizeName(j.size), strconv.Itoa(j.writers),
			rangeOf(j.stat(standbyOps), sig3), rangeOf(j.stat(func(r runResult) float64 { return r.standbyOpsPerSec * float64(j.size) / 1e6 }), sig3),
			rangeOf(j.stat(lagP50ms), sig3), rangeOf(j.stat(lagP99ms), sig3),
			rangeOf(j.stat(standbyPerBatch), oneDecimal), rangeOf(j.stat(standbySyncMs), sig3), rangeOf(j.stat(catchUpMs), sig3),
		})
	}
	if len(rows) > 0 {
		b.WriteString("\n#### Asynchronous standby: replication throughput and lag\n\n")
		table(&b, []string{"payload", "writers", "applied records/s", "MB/s", "lag p50 ms", "lag p99 ms", "standby records/commit", "standby fdatasync ms", "catch-up ms"}, rows)
		b.WriteString("\napplied records/s, MB/s: records the standby applied during the timed window. Lag: for every record appended in the window, the time from its Append returning on the primary to the standby's StateMachine.Apply of it (written to the standby's WAL and fdatasynced first), 0 if the standby was first. standby records/commit, fdatasync ms: records per group commit of the standby's log, and the mean time of its fdatasyncs. catch-up: from the end of the window until the standby applied the last record appended in it.\n")
	}

	if len(res.limits) > 0 {
		b.WriteString("\n#### Physical limits, same disk, same run\n\n")
		rows = rows[:0]
		for _, j := range res.limits {
			rows = append(rows, []string{
				sizeName(j.size), j.limit.label(),
				rangeOf(j.stat(opsPerSec), sig3), rangeOf(j.stat(p50ms), sig3), rangeOf(j.stat(p99ms), sig3),
			})
		}
		table(&b, []string{"payload", "loop", "per second", "p50 ms", "p99 ms"}, rows)
		b.WriteString("\nOne goroutine per loop, no framing or checksums; files preallocated with real zeros and synced before timing, as the WAL's segments are.\n")
	}

	trows, met, total := targets(s, res)
	b.WriteString("\n#### Targets\n\n")
	table(&b, []string{"target", "measured", "met?"}, trows)
	fmt.Fprintf(&b, "\n%d of %d target checks met.\n", met, total)

	if frows := floorRows(s, res); len(frows) > 0 {
		b.WriteString("\n#### What the disk and the network allow (context, not targets)\n\n")
		table(&b, []string{"payload", "two fdatasync loops side by side: each ÷ one alone", "sync(1) floor, one disk: (fdatasync on two files in series + round trip) ÷ one fdatasync", "sync(1) floor, a disk each: (2 × fdatasync + round trip) ÷ one fdatasync", "round trip ÷ one fdatasync"}, frows)
		b.WriteString("\nRatios of the physical limits' medians (p50 for latencies). The first column is the most a primary can keep of its syncs per second while a standby syncs beside it on the same disk: the bound on target (a) at one writer. The next two are the least sync(1) p50 ÷ async p50 (target (b)) can be at one writer while the primary streams only records it has synced (wal.Reader sees only durable records), so that the standby's fdatasync starts after the primary's ends.\n")
	}
	if crows := contextRows(s, res); len(crows) > 0 {
		b.WriteString("\n#### Where the asynchronous standby's cost goes (context, not targets)\n\n")
		table(&b, []string{"payload", "writers", "async ÷ baseline: records/s", "= commits/s", "× records/commit", "fdatasync time", "p50", "CPU/record", "sync(1) records/s ÷ baseline", "sync(2) p50 ÷ sync(1) p50"}, crows)
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
			r := async.stat(opsPerSec).med / base.stat(opsPerSec).med
			add(fmt.Sprintf("%s, %s: async records/s ÷ baseline records/s ≥ %.2f", writersName(w), sizeName(size), targetAsyncShare), r, r >= targetAsyncShare)
		}
	}
	for _, size := range s.sizes {
		for _, w := range s.writers {
			async, sync1 := res.find(modeAsync, w, size), res.find(modeSync1, w, size)
			if async == nil || sync1 == nil {
				continue
			}
			r := sync1.stat(p50ms).med / async.stat(p50ms).med
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
	return []string{target, ratio(r), yes}
}

// floorRows gives, per payload size, what the physical limits allow the
// targets: the share of its syncs a primary keeps beside a standby on the
// same disk, and the least sync(1) ÷ async latency ratio when the primary
// ships only synced records.
func floorRows(s settings, res *results) [][]string {
	var rows [][]string
	for _, size := range s.sizes {
		one, side := res.limit(limFsync, size), res.limit(limSide, size)
		serial, rtt := res.limit(limSerial, size), res.limit(limRTT, size)
		if one == nil || side == nil || serial == nil || rtt == nil {
			continue
		}
		f := one.stat(p50ms).med
		rows = append(rows, []string{sizeName(size),
			ratio(side.stat(opsPerSec).med / one.stat(opsPerSec).med),
			ratio((serial.stat(p50ms).med + rtt.stat(p50ms).med) / f),
			ratio((2*f + rtt.stat(p50ms).med) / f),
			ratio(rtt.stat(p50ms).med / f),
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
				return ratio(async.stat(metric).med / base.stat(metric).med)
			}
			commits := func(r runResult) float64 {
				if r.recPerBatch == 0 {
					return 0
				}
				return r.opsPerSec / r.recPerBatch
			}
			s1, s2 := "—", "—"
			if sync1 != nil {
				s1 = ratio(sync1.stat(opsPerSec).med / base.stat(opsPerSec).med)
			}
			if sync1 != nil && sync2 != nil {
				s2 = ratio(sync2.stat(p50ms).med / sync1.stat(p50ms).med)
			}
			rows = append(rows, []string{sizeName(size), strconv.Itoa(w),
				r(opsPerSec), r(commits), r(recPerBatch), r(syncMs), r(p50ms), r(cpuPerOpUs), s1, s2})
		}
	}
	return rows
}

// table writes a Markdown table.
func table(b *strings.Builder, head []string, rows [][]string) {
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
		}
		b.WriteString("\n")
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}

// rangeOf formats a stat as "median (min–max)", or the median alone if
// the runs agree to the shown precision.
func rangeOf(s stat, f func(float64) string) string {
	med, lo, hi := f(s.med), f(s.lo), f(s.hi)
	if lo == hi {
		return med
	}
	return fmt.Sprintf("%s (%s–%s)", med, lo, hi)
}

// sig3 formats v with three significant digits, and large numbers as
// whole numbers with thousands separators.
func sig3(v float64) string {
	if v >= 1000 {
		return thousands(int64(math.Round(v)))
	}
	if v <= 0 || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	dec := max(0, 2-int(math.Floor(math.Log10(v))))
	return strconv.FormatFloat(v, 'f', dec, 64)
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func percent(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + "%" }

func oneDecimal(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
