package main

import (
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
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
func renderReport(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/walbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd)
	benchkit.Table(&b, []string{"", ""}, append(sys.Facts(), [][]string{
		sys.Load(),
		{"Runs", fmt.Sprintf("%d per configuration, %v each after a %v warm-up; cells are median (min–max)", s.runs, s.duration, s.warmup)},
	}...))

	b.WriteString("\n#### Logs: every record durable before Append returns\n\n")
	var rows [][]string
	for _, j := range res.logs {
		batch, kib := "—", "—"
		if j.stat(recPerBatch).Med > 0 {
			batch = benchkit.RangeOf(j.stat(recPerBatch), benchkit.OneDecimal)
			kib = benchkit.RangeOf(j.stat(func(r runResult) float64 { return r.bytesPerBatch / 1024 }), benchkit.OneDecimal)
		}
		rows = append(rows, []string{
			sizeName(j.size), strconv.Itoa(j.writers), string(j.impl),
			benchkit.RangeOf(j.stat(opsPerSec), benchkit.Sig3), benchkit.RangeOf(j.stat(mbPerSec), benchkit.Sig3),
			benchkit.RangeOf(j.stat(p50ms), benchkit.Sig3), benchkit.RangeOf(j.stat(p99ms), benchkit.Sig3), batch, kib,
		})
	}
	benchkit.Table(&b, []string{"payload", "writers", "log", "records/s", "MB/s", "p50 ms", "p99 ms", "records/batch", "KiB/batch"}, rows)
	b.WriteString("\nMB/s counts payload bytes (10^6 bytes). KiB/batch counts the bytes continuity wrote per group commit, frame headers included (the group adapters count payload only). `+group` rows: the peer's batch API behind a group committer written in this module, not shipped by the library.\n")

	b.WriteString("\n#### Raw write+fdatasync, one goroutine: the physical limit\n\n")
	rows = rows[:0]
	for _, j := range res.raws {
		rows = append(rows, []string{
			string(j.mode), sizeName(j.size),
			benchkit.RangeOf(j.stat(opsPerSec), benchkit.Sig3), benchkit.RangeOf(j.stat(mbPerSec), benchkit.Sig3),
			benchkit.RangeOf(j.stat(p50ms), benchkit.Sig3), benchkit.RangeOf(j.stat(p99ms), benchkit.Sig3), matches(res, j.size),
		})
	}
	benchkit.Table(&b, []string{"mode", "bytes/write", "writes/s", "MB/s", "p50 ms", "p99 ms", "same size as"}, rows)

	b.WriteString("\n#### Targets\n\n")
	benchkit.Table(&b, []string{"target", "measured", "met?"}, targets(s, res))

	b.WriteString("\n#### Context (not targets)\n\n")
	benchkit.Table(&b, []string{"ratio", "measured"}, contextRows(s, res))
	return b.String()
}

// matches says which continuity configurations a raw write size stands
// for: the batches it is the rounded size of, and single records.
func matches(res *results, size int) string {
	var batches []string
	one := false
	for _, j := range res.logs {
		if j.impl != peers.Continuity && j.impl != peers.ContinuityRetention {
			continue
		}
		if res.rawSize[j] == size {
			name := fmt.Sprintf("%d×%s", j.writers, sizeName(j.size))
			if j.impl == peers.ContinuityRetention {
				name += " (retention)"
			}
			batches = append(batches, name)
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
		r := j.stat(mbPerSec).Med / raw.stat(mbPerSec).Med
		rows = append(rows, check(fmt.Sprintf("(i) %d writers, %s: continuity MB/s ÷ raw prealloc MB/s at %s/write ≥ %.2f",
			targetManyWriters, sizeName(size), sizeName(n), targetRawShare), r, r >= targetRawShare))
		// In steady state (retention on, segments recycled), against the
		// raw loop at its own batch size.
		if jr := res.log(peers.ContinuityRetention, targetManyWriters, size); jr != nil {
			nr := res.rawSize[jr]
			rawr := res.rawJob(peers.RawPrealloc, nr)
			r := jr.stat(mbPerSec).Med / rawr.stat(mbPerSec).Med
			rows = append(rows, check(fmt.Sprintf("(i) %d writers, %s, steady state with retention (segments recycled): continuity MB/s ÷ raw prealloc MB/s at %s/write ≥ %.2f",
				targetManyWriters, sizeName(size), sizeName(nr), targetRawShare), r, r >= targetRawShare))
		}
	}
	for _, size := range s.sizes {
		j, raw := res.log(peers.Continuity, 1, size), res.rawJob(peers.RawPrealloc, size)
		if j == nil || raw == nil {
			continue
		}
		r := j.stat(p50ms).Med / raw.stat(p50ms).Med
		rows = append(rows, check(fmt.Sprintf("(ii) 1 writer, %s: continuity p50 ÷ raw prealloc p50 of one %s write ≤ %.1f",
			sizeName(size), sizeName(size), targetLatency), r, r <= targetLatency))
	}
	for _, size := range s.sizes {
		for _, w := range s.writers {
			j := res.log(peers.Continuity, w, size)
			for _, impl := range s.impls {
				p := res.log(impl, w, size)
				if impl == peers.Continuity || impl == peers.ContinuityRetention || impl.Grouped() || p == nil {
					continue
				}
				r := j.stat(opsPerSec).Med / p.stat(opsPerSec).Med
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
	return []string{target, benchkit.Ratio(r), yes}
}

// contextRows gives ratios that explain the targets without being targets.
func contextRows(s settings, res *results) [][]string {
	var rows [][]string
	for _, size := range s.sizes {
		j := res.log(peers.Continuity, targetManyWriters, size)
		if j == nil || j.stat(recPerBatch).Med == 0 {
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
		}).Med
		written := j.stat(func(r runResult) float64 {
			if r.recPerBatch == 0 {
				return 0
			}
			return r.opsPerSec / r.recPerBatch * r.bytesPerBatch / 1e6
		}).Med
		rows = append(rows,
			[]string{fmt.Sprintf("%d writers, %s: continuity group commits/s ÷ raw prealloc writes/s at %s/write",
				targetManyWriters, sizeName(size), sizeName(n)), benchkit.Ratio(batches / raw.stat(opsPerSec).Med)},
			[]string{fmt.Sprintf("%d writers, %s: bytes continuity wrote per second, frame headers included, ÷ raw prealloc MB/s at %s/write",
				targetManyWriters, sizeName(size), sizeName(n)), benchkit.Ratio(written / raw.stat(mbPerSec).Med)},
			// Each new segment was zero-filled in the background while
			// the appends ran; the raw loop's fill happened before timing.
			[]string{fmt.Sprintf("%d writers, %s: new continuity segments per second (each zero-filled in the background beside the appends)",
				targetManyWriters, sizeName(size)), benchkit.Ratio(j.stat(func(r runResult) float64 { return r.segPerSec }).Med)})
	}
	// What the 48-byte frame headers cost the disk: the raw loop writing
	// a batch's payload alone against it writing the batch as continuity
	// did, headers included.
	for _, size := range s.sizes {
		j := res.log(peers.Continuity, targetManyWriters, size)
		if j == nil {
			continue
		}
		withHeaders := res.rawJob(peers.RawPrealloc, res.rawSize[j])
		payload := res.rawJob(peers.RawPrealloc, res.payloadSize[j])
		if withHeaders == nil || payload == nil {
			continue
		}
		rows = append(rows, []string{fmt.Sprintf("%d writers, %s: what frame headers cost the disk: raw prealloc writes/s at the batch's payload alone (%s/write) ÷ at its bytes with headers (%s/write)",
			targetManyWriters, sizeName(size), sizeName(res.payloadSize[j]), sizeName(res.rawSize[j])),
			benchkit.Ratio(payload.stat(opsPerSec).Med / withHeaders.stat(opsPerSec).Med)})
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
					benchkit.Ratio(j.stat(opsPerSec).Med / p.stat(opsPerSec).Med)})
			}
		}
	}
	for _, a := range res.raws {
		if a.mode != peers.RawAppend {
			continue
		}
		p := res.rawJob(peers.RawPrealloc, a.size)
		rows = append(rows, []string{fmt.Sprintf("raw %s/write: prealloc writes/s ÷ append writes/s", sizeName(a.size)),
			benchkit.Ratio(p.stat(opsPerSec).Med / a.stat(opsPerSec).Med)})
	}
	return rows
}
