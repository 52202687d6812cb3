package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/continuity-go/continuity/bench/internal/peers"
)

// The project's targets, checked in the report.
const (
	// targetRawShare is the least share of the raw prealloc loop's MB/s,
	// at the same write size, that continuity must reach with many
	// writers.
	targetRawShare = 0.80
	// targetLatency is the most continuity's p50 with one writer may be,
	// as a multiple of one raw prealloc write+fdatasync of the same size.
	targetLatency = 1.2
	// targetManyWriters is the writer count target (i) is about.
	targetManyWriters = 64
)

// renderReport formats the results as Markdown: the machine, the logs,
// the raw loops, the targets and some context ratios.
func renderReport(s settings, sys system, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/walbench"
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
		{"Load average (1, 5, 15 min)", fmt.Sprintf("%s at start, %s at end", sys.loadStart, sys.loadEnd)},
		{"Runs", fmt.Sprintf("%d per configuration, %v each after a %v warm-up; cells are median (min–max)", s.runs, s.duration, s.warmup)},
	})

	b.WriteString("\n#### Logs: every record durable before Append returns\n\n")
	var rows [][]string
	for _, j := range res.logs {
		batch, kib := "—", "—"
		if j.stat(recPerBatch).med > 0 {
			batch = rangeOf(j.stat(recPerBatch), oneDecimal)
			kib = rangeOf(j.stat(func(r runResult) float64 { return r.bytesPerBatch / 1024 }), oneDecimal)
		}
		rows = append(rows, []string{
			sizeName(j.size), strconv.Itoa(j.writers), string(j.impl),
			rangeOf(j.stat(opsPerSec), sig3), rangeOf(j.stat(mbPerSec), sig3),
			rangeOf(j.stat(p50ms), sig3), rangeOf(j.stat(p99ms), sig3), batch, kib,
		})
	}
	table(&b, []string{"payload", "writers", "log", "records/s", "MB/s", "p50 ms", "p99 ms", "records/batch", "KiB/batch"}, rows)
	b.WriteString("\nMB/s counts payload bytes (10^6 bytes). KiB/batch counts the bytes continuity wrote per group commit, frame headers included (the group adapters count payload only). `+group` rows: the peer's batch API behind a group committer written in this module, not shipped by the library.\n")

	b.WriteString("\n#### Raw write+fdatasync, one goroutine: the physical limit\n\n")
	rows = rows[:0]
	for _, j := range res.raws {
		rows = append(rows, []string{
			string(j.mode), sizeName(j.size),
			rangeOf(j.stat(opsPerSec), sig3), rangeOf(j.stat(mbPerSec), sig3),
			rangeOf(j.stat(p50ms), sig3), rangeOf(j.stat(p99ms), sig3), matches(res, j.size),
		})
	}
	table(&b, []string{"mode", "bytes/write", "writes/s", "MB/s", "p50 ms", "p99 ms", "same size as"}, rows)

	b.WriteString("\n#### Targets\n\n")
	table(&b, []string{"target", "measured", "met?"}, targets(s, res))

	b.WriteString("\n#### Context (not targets)\n\n")
	table(&b, []string{"ratio", "measured"}, contextRows(s, res))
	return b.String()
}

// matches says which continuity configurations a raw write size stands
// for: the batches it is the rounded size of, and single records.
func matches(res *results, size int) string {
	var batches []string
	one := false
	for _, j := range res.logs {
		if j.impl != peers.Continuity {
			continue
		}
		if res.rawSize[j] == size {
			batches = append(batches, fmt.Sprintf("%d×%s", j.writers, sizeName(j.size)))
		}
		one = one || j.writers == 1 && j.size == size
	}
	var m []string
	if len(batches) > 0 {
		m = append(m, "batches of "+strings.Join(batches, ", "))
	}
	if one {
		m = append(m, "one "+sizeName(size)+" record")
	}
	return strings.Join(m, "; ")
}

// writersName says "1 writer" or "8 writers".
func writersName(n int) string {
	if n == 1 {
		return "1 writer"
	}
	return fmt.Sprintf("%d writers", n)
}

// targets checks the project's targets: (i) with many writers, MB/s
// against the raw prealloc loop at the same batch size; (ii) with one
// writer, p50 against one raw prealloc write+fdatasync of the record's
// size; (iii) records/s against every peer used as it is.
func targets(s settings, res *results) [][]string {
	var rows [][]string
	for _, size := range s.sizes {
		j := res.log(peers.Continuity, targetManyWriters, size)
		if j == nil {
			continue
		}
		n := res.rawSize[j]
		raw := res.rawJob(peers.RawPrealloc, n)
		r := j.stat(mbPerSec).med / raw.stat(mbPerSec).med
		rows = append(rows, check(fmt.Sprintf("(i) %d writers, %s: continuity MB/s ÷ raw prealloc MB/s at %s/write ≥ %.2f",
			targetManyWriters, sizeName(size), sizeName(n), targetRawShare), r, r >= targetRawShare))
	}
	for _, size := range s.sizes {
		j, raw := res.log(peers.Continuity, 1, size), res.rawJob(peers.RawPrealloc, size)
		if j == nil || raw == nil {
			continue
		}
		r := j.stat(p50ms).med / raw.stat(p50ms).med
		rows = append(rows, check(fmt.Sprintf("(ii) 1 writer, %s: continuity p50 ÷ raw prealloc p50 of one %s write ≤ %.1f",
			sizeName(size), sizeName(size), targetLatency), r, r <= targetLatency))
	}
	for _, size := range s.sizes {
		for _, w := range s.writers {
			j := res.log(peers.Continuity, w, size)
			for _, impl := range s.impls {
				p := res.log(impl, w, size)
				if impl == peers.Continuity || impl.Grouped() || p == nil {
					continue
				}
				r := j.stat(opsPerSec).med / p.stat(opsPerSec).med
				rows = append(rows, check(fmt.Sprintf("(iii) %s, %s: continuity records/s ÷ %s records/s > 1",
					writersName(w), sizeName(size), impl), r, r > 1))
			}
		}
	}
	return rows
}

func check(target string, r float64, met bool) []string {
	yes := "no"
	if met {
		yes = "yes"
	}
	return []string{target, ratio(r), yes}
}

// contextRows gives ratios that explain the targets without being targets.
func contextRows(s settings, res *results) [][]string {
	var rows [][]string
	for _, size := range s.sizes {
		j := res.log(peers.Continuity, targetManyWriters, size)
		if j == nil || j.stat(recPerBatch).med == 0 {
			continue
		}
		n := res.rawSize[j]
		raw := res.rawJob(peers.RawPrealloc, n)
		// Group commits per second, and bytes continuity wrote per
		// second (batches/s × bytes/batch): the same comparison without
		// the frame headers and the rounding of the raw write size.
		batches := j.stat(func(r runResult) float64 {
			if r.recPerBatch == 0 {
				return 0
			}
			return r.opsPerSec / r.recPerBatch
		}).med
		written := j.stat(func(r runResult) float64 {
			if r.recPerBatch == 0 {
				return 0
			}
			return r.opsPerSec / r.recPerBatch * r.bytesPerBatch / 1e6
		}).med
		rows = append(rows,
			[]string{fmt.Sprintf("%d writers, %s: continuity group commits/s ÷ raw prealloc writes/s at %s/write",
				targetManyWriters, sizeName(size), sizeName(n)), ratio(batches / raw.stat(opsPerSec).med)},
			[]string{fmt.Sprintf("%d writers, %s: bytes continuity wrote per second, frame headers included, ÷ raw prealloc MB/s at %s/write",
				targetManyWriters, sizeName(size), sizeName(n)), ratio(written / raw.stat(mbPerSec).med)},
			// Each new segment was zero-filled in the background while
			// the appends ran; the raw loop's fill happened before timing.
			[]string{fmt.Sprintf("%d writers, %s: new continuity segments per second (each zero-filled in the background beside the appends)",
				targetManyWriters, sizeName(size)), ratio(j.stat(func(r runResult) float64 { return r.segPerSec }).med)})
	}
	for _, size := range s.sizes {
		for _, w := range s.writers {
			j := res.log(peers.Continuity, w, size)
			for _, impl := range s.impls {
				p := res.log(impl, w, size)
				if !impl.Grouped() || p == nil {
					continue
				}
				rows = append(rows, []string{fmt.Sprintf("%s, %s: continuity records/s ÷ %s records/s", writersName(w), sizeName(size), impl),
					ratio(j.stat(opsPerSec).med / p.stat(opsPerSec).med)})
			}
		}
	}
	for _, a := range res.raws {
		if a.mode != peers.RawAppend {
			continue
		}
		p := res.rawJob(peers.RawPrealloc, a.size)
		rows = append(rows, []string{fmt.Sprintf("raw %s/write: prealloc writes/s ÷ append writes/s", sizeName(a.size)),
			ratio(p.stat(opsPerSec).med / a.stat(opsPerSec).med)})
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

func oneDecimal(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func ratio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
