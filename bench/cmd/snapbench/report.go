package main

import (
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"slices"
	"strings"

	"github.com/continuity-go/continuity/snapshot"
)

// The project's targets, checked in the report.
const (
	// targetLimitShare is the least share of a physical limit's MB/s that
	// Save and Restore must reach: (1) unchanged Save ÷ chunking+hash,
	// (2) Save of new data with one worker ÷ lz4 compress, (3) Restore ÷
	// AES-GCM open + lz4 decompress.
	targetLimitShare = 0.80
	// targetVsRestic is how many times faster than restic's backup a
	// whole Save must be (4).
	targetVsRestic = 3.0
	// targetEditedBytes is the most continuity may store for the edited
	// snapshot, as a share of what restic stores (5).
	targetEditedBytes = 0.50
	// targetZstdBytes is the most continuity's zstd first snapshot may
	// store, as a multiple of restic's (6).
	targetZstdBytes = 1.10
)

// renderReport formats the results as Markdown: the machine, the
// snapshots, the limits, the targets and context ratios.
// system is the machine a report was measured on, and restic's version
// line ("" when restic was left out).
type system struct {
	benchkit.System
	restic string
}

func renderReport(s settings, sys system, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/snapbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd)
	resticRow := sys.restic
	switch {
	case resticRow != "":
	case !s.suite(suiteSnapshots):
		resticRow = "not measured (-suites without snapshots)"
	default:
		resticRow = "not measured (-restic \"\")"
	}
	sys.FS += " (data files and repositories)"
	benchkit.Table(&b, []string{"", ""}, append(sys.Facts(), [][]string{
		{"restic", resticRow},
		sys.Load(),
		{"State", fmt.Sprintf("%s of %s (internal/gen, seed 1); edited: %d edits of 1 to %d bytes (gen.Edit, seed 2)",
			sizeName(s.size), strings.Join(s.data, " and of "), s.edits, s.editLen)},
		{"Runs", fmt.Sprintf("%d per configuration, round by round, each in a fresh repository; cells are median (min–max)", s.runs)},
	}...))

	if len(res.jobs) > 0 {
		renderSnapshots(&b, s, res)
	}
	if len(res.limits) > 0 {
		b.WriteString("\n#### Physical limits: each part of the per-chunk work alone, one goroutine, no I/O\n\n")
		var rows [][]string
		for _, l := range res.limits {
			for _, op := range limitOps {
				rows = append(rows, []string{l.data, op.name, benchkit.RangeOf(l.stat(op.name), benchkit.Sig3), limitDescriptions[op.name]})
			}
		}
		benchkit.Table(&b, []string{"data", "operation", "MB/s", "what"}, rows)
	}
	if len(res.jobs) > 0 {
		b.WriteString("\n#### Targets\n\n")
		benchkit.Table(&b, []string{"target", "measured", "met?"}, targets(s, res))
		b.WriteString("\n#### Context (not targets)\n\n")
		benchkit.Table(&b, []string{"ratio", "measured"}, contextRows(s, res))
	}
	if len(res.chunkers) > 0 {
		renderChunkers(&b, res)
	}
	if res.crypto != nil {
		renderCrypto(&b, sys, res.crypto)
	}
	return b.String()
}

// renderSnapshots writes the table of the snapshots suite.
func renderSnapshots(b *strings.Builder, s settings, res *results) {
	b.WriteString("\n#### Snapshots\n\n")
	var rows [][]string
	for _, j := range res.jobs {
		for _, st := range j.steps {
			in := float64(res.stepInput(j.data, st))
			mb := "—"
			if st != stepOpen {
				mb = benchkit.RangeOf(j.stat(st, func(r stepResult) float64 { return in / r.dur.Seconds() / 1e6 }), benchkit.Sig3)
			}
			stored := "—"
			if st != stepRestore && st != stepOpen {
				stored = benchkit.RangeOf(j.stat(st, func(r stepResult) float64 { return float64(r.stored) / (1 << 20) }), benchkit.Sig3)
			}
			rows = append(rows, []string{
				j.data, j.name(), stepName(st, s),
				benchkit.RangeOf(j.stat(st, func(r stepResult) float64 { return r.dur.Seconds() }), benchkit.Sig3),
				mb,
				benchkit.RangeOf(j.stat(st, func(r stepResult) float64 { return r.cpu.Seconds() }), benchkit.Sig3),
				stored,
			})
		}
	}
	benchkit.Table(b, []string{"data", "tool", "step", "seconds", "MB/s", "CPU seconds", "stored MiB"}, rows)
	b.WriteString("\nMB/s: state bytes (10^6) per second of wall time. CPU seconds: user + system time of the process doing the work (this program for continuity, the restic process for restic). Stored MiB: growth of the repository, the sizes of its objects (files) summed before and after the step. restic's `open` row is `restic cat config`: process start, scrypt key derivation and reading the config, which every restic command pays before its work.\n")
}

// stepInput is the size of the state a step reads or writes.
func (r *results) stepInput(data string, s step) int {
	if s == stepFirst {
		return r.size
	}
	return r.edited[data]
}

func stepName(st step, s settings) string {
	switch st {
	case stepFirst:
		return "first snapshot"
	case stepEdited:
		return fmt.Sprintf("after %d edits", s.edits)
	case stepUnchanged:
		return "unchanged"
	case stepRestore:
		return "restore"
	case stepOpen:
		return "open"
	}
	return string(st)
}

// Metrics of a step.
func seconds(r stepResult) float64 { return r.dur.Seconds() }
func storedB(r stepResult) float64 { return float64(r.stored) }

// mbps returns the median MB/s of step st of j, or 0 if j is nil.
func (r *results) mbps(j *job, st step) float64 {
	if j == nil || !j.has(st) {
		return 0
	}
	in := float64(r.stepInput(j.data, st))
	return j.stat(st, func(sr stepResult) float64 { return in / sr.dur.Seconds() / 1e6 }).Med
}

// targets checks the project's targets (1) to (6).
func targets(s settings, res *results) [][]string {
	var rows [][]string
	all := slices.Max(s.workers)
	for _, kind := range s.data {
		l := res.limit(kind)
		for _, w := range s.workers {
			if j := res.job(kind, toolOurs, snapshot.LZ4, w); j != nil && l != nil {
				r := res.mbps(j, stepUnchanged) / l.stat(limChunkHash).Med
				rows = append(rows, check(fmt.Sprintf("(1) %s, %s: unchanged Save MB/s ÷ chunking + keyed BLAKE3 alone ≥ %.2f",
					kind, workersName(w), targetLimitShare), r, r >= targetLimitShare))
			}
		}
	}
	for _, kind := range s.data {
		l := res.limit(kind)
		if kind != "events" {
			continue // lz4 gives up on random bytes at once: no bound for a Save
		}
		for _, w := range s.workers {
			if j := res.job(kind, toolOurs, snapshot.LZ4, w); j != nil && l != nil {
				want := targetLimitShare * float64(w)
				r := res.mbps(j, stepFirst) / l.stat(limCompress).Med
				rows = append(rows, check(fmt.Sprintf("(2) %s, %s: Save of new data (first snapshot) MB/s ÷ lz4 compress alone ≥ %.2f",
					kind, workersName(w), want), r, r >= want))
			}
		}
	}
	for _, kind := range s.data {
		l := res.limit(kind)
		for _, w := range s.workers {
			if j := res.job(kind, toolOurs, snapshot.LZ4, w); j != nil && l != nil {
				want := targetLimitShare * float64(w)
				r := res.mbps(j, stepRestore) / l.stat(limRestoreWork).Med
				rows = append(rows, check(fmt.Sprintf("(3) %s, %s on %s: Restore MB/s ÷ AES-GCM open + lz4 decompress + hash alone ≥ %.2f",
					kind, workersName(w), coresName(w), want), r, r >= want))
			}
		}
	}
	for _, kind := range s.data {
		ours, restic := res.job(kind, toolOurs, snapshot.LZ4, all), res.job(kind, toolRestic, 0, 0)
		if ours == nil || restic == nil {
			continue
		}
		for _, st := range []step{stepFirst, stepEdited, stepUnchanged} {
			r := restic.stat(st, seconds).Med / ours.stat(st, seconds).Med
			rows = append(rows, check(fmt.Sprintf("(4) %s, %s: restic backup seconds ÷ continuity Save seconds (%s) ≥ %.0f",
				kind, stepName(st, s), workersName(all), targetVsRestic), r, r >= targetVsRestic))
		}
	}
	for _, kind := range s.data {
		ours, restic := res.job(kind, toolOurs, snapshot.LZ4, all), res.job(kind, toolRestic, 0, 0)
		if ours == nil || restic == nil {
			continue
		}
		r := ours.stat(stepEdited, storedB).Med / restic.stat(stepEdited, storedB).Med
		rows = append(rows, check(fmt.Sprintf("(5) %s: bytes continuity stored for the snapshot after %d edits ÷ restic's ≤ %.2f",
			kind, s.edits, targetEditedBytes), r, r <= targetEditedBytes))
	}
	for _, kind := range s.data {
		zstd, restic := res.job(kind, toolOurs, snapshot.Zstd, all), res.job(kind, toolRestic, 0, 0)
		if zstd == nil || restic == nil {
			continue
		}
		r := zstd.stat(stepFirst, storedB).Med / restic.stat(stepFirst, storedB).Med
		rows = append(rows, check(fmt.Sprintf("(6) %s: bytes of continuity's zstd first snapshot ÷ restic's (zstd auto) ≤ %.2f",
			kind, targetZstdBytes), r, r <= targetZstdBytes))
	}
	return rows
}

func coresName(n int) string {
	if n == 1 {
		return "1 core"
	}
	return fmt.Sprintf("%d cores", n)
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
	all := slices.Max(s.workers)
	add := func(name string, v float64) { rows = append(rows, []string{name, benchkit.Ratio(v)}) }
	for _, kind := range s.data {
		l := res.limit(kind)
		one, many := res.job(kind, toolOurs, snapshot.LZ4, 1), res.job(kind, toolOurs, snapshot.LZ4, all)
		if one != nil && many != nil && all > 1 {
			for _, st := range []step{stepFirst, stepUnchanged, stepRestore} {
				add(fmt.Sprintf("%s, %s: MB/s with %s ÷ with 1 worker", kind, stepName(st, s), workersName(all)),
					res.mbps(many, st)/res.mbps(one, st))
			}
		}
		if l == nil {
			continue
		}
		for _, j := range []*job{one, many} {
			if j == nil || (j == many && all == 1) {
				continue
			}
			add(fmt.Sprintf("%s, %s: Save of new data MB/s ÷ all of its per-chunk work on one goroutine (%s)", kind, workersName(j.workers), limSaveWork),
				res.mbps(j, stepFirst)/l.stat(limSaveWork).Med)
			add(fmt.Sprintf("%s, %s: unchanged Save MB/s ÷ chunking alone", kind, workersName(j.workers)),
				res.mbps(j, stepUnchanged)/l.stat(limChunk).Med)
			add(fmt.Sprintf("%s, %s: Restore MB/s ÷ all of its per-chunk work on one goroutine (%s)", kind, workersName(j.workers), limRestoreWork),
				res.mbps(j, stepRestore)/l.stat(limRestoreWork).Med)
		}
		if kind == "events" && res.procs > 1 {
			// Every core busy with Save's per-chunk work, none of it
			// wasted: what target (2) can at most reach with as many
			// workers as cores.
			add(fmt.Sprintf("%s: the most target (2) can reach on %s: %d × (%s alone ÷ lz4 compress alone)", kind, coresName(res.procs), res.procs, limSaveWork),
				float64(res.procs)*l.stat(limSaveWork).Med/l.stat(limCompress).Med)
		}
		add(fmt.Sprintf("%s: state bytes ÷ lz4-compressed chunk bytes (limit pass)", kind), l.stat(limRatio).Med)
	}
	for _, kind := range s.data {
		ours, restic := res.job(kind, toolOurs, snapshot.LZ4, all), res.job(kind, toolRestic, 0, 0)
		if ours == nil || restic == nil {
			continue
		}
		open := restic.stat(stepOpen, seconds).Med
		for _, st := range []step{stepFirst, stepEdited, stepUnchanged} {
			add(fmt.Sprintf("%s, %s: (restic seconds − its open cost of %.2f s) ÷ continuity Save seconds (%s)", kind, stepName(st, s), open, workersName(all)),
				(restic.stat(st, seconds).Med-open)/ours.stat(st, seconds).Med)
		}
		add(fmt.Sprintf("%s, restore: restic dump seconds ÷ continuity Restore seconds (%s)", kind, workersName(all)),
			restic.stat(stepRestore, seconds).Med/ours.stat(stepRestore, seconds).Med)
		cpu := func(r stepResult) float64 { return r.cpu.Seconds() }
		add(fmt.Sprintf("%s, first snapshot: restic CPU seconds ÷ continuity CPU seconds (%s)", kind, workersName(all)),
			restic.stat(stepFirst, cpu).Med/ours.stat(stepFirst, cpu).Med)
		add(fmt.Sprintf("%s, first snapshot: state bytes ÷ bytes stored, continuity lz4", kind),
			float64(res.size)/ours.stat(stepFirst, storedB).Med)
		if z := res.job(kind, toolOurs, snapshot.Zstd, all); z != nil {
			add(fmt.Sprintf("%s, first snapshot: state bytes ÷ bytes stored, continuity zstd", kind),
				float64(res.size)/z.stat(stepFirst, storedB).Med)
		}
		add(fmt.Sprintf("%s, first snapshot: state bytes ÷ bytes stored, restic", kind),
			float64(res.size)/restic.stat(stepFirst, storedB).Med)
		add(fmt.Sprintf("%s, after %d edits: state bytes ÷ bytes stored by that snapshot (dedup ratio), continuity", kind, s.edits),
			float64(res.edited[kind])/ours.stat(stepEdited, storedB).Med)
		add(fmt.Sprintf("%s, after %d edits: state bytes ÷ bytes stored by that snapshot (dedup ratio), restic", kind, s.edits),
			float64(res.edited[kind])/restic.stat(stepEdited, storedB).Med)
		add(fmt.Sprintf("%s, after %d edits: new chunk bytes (plaintext) ÷ state bytes, continuity", kind, s.edits),
			ours.stat(stepEdited, func(r stepResult) float64 { return float64(r.newBytes) }).Med/float64(res.edited[kind]))
	}
	return rows
}

// sizeName formats a byte count as 128 B, 4 KiB or 256 MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}
