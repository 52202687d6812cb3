package main

import (
	"fmt"
	"strings"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// renderCopy formats the copy suite's results as Markdown: the first
// copy beside the raw copy, the unchanged copy, the copy after a change,
// the archive's building, and the targets.
func renderCopy(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	var stores []*store
	for _, j := range res.copies {
		stores = append(stores, j.store)
	}
	writeHeader(&b, sys, args, "wal.Log with default Options (every Append durable), in the work directory on the file system above", stores, res.skipped,
		fmt.Sprintf("per store, %d (-runs), each on an archive of its own, round by round; cells are median (min–max)%s", s.runs, quickNote(s)))
	if len(res.copies) == 0 {
		return b.String()
	}
	more := max(2, s.copyEvents/copyMoreDiv)

	fmt.Fprintf(&b, "\n#### First copy: %s state + %s events of %s, into an empty bucket\n\n", sizeName(s.copyState), benchkit.Thousands(int64(s.copyEvents)), sizeName(s.payload))
	var rows [][]string
	for _, j := range res.copies {
		rows = append(rows, []string{j.store.label, j.cacheState(),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.first.Copied) }), whole),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.first.Bytes) / 1e6 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.firstTime) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.first.Bytes) / 1e6 / secs(r.firstTime) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.raw) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.rawBytes) / 1e6 / secs(r.raw) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.raw) / secs(r.firstTime) }), benchkit.Ratio),
		})
	}
	benchkit.Table(&b, []string{"store", "store's files", "objects copied", "MB copied", "CopyTo s", "CopyTo MB/s", "raw copy s", "raw copy MB/s", "CopyTo ÷ raw copy (MB/s)"}, rows)
	b.WriteString("\nCopyTo: snapshot.Open of the archive's repository read-only plus Repo.CopyTo(CopyOptions{SealedPrefix: archive.SealedPrefixLen}) into a new, empty bucket (a directory, or an S3 prefix) of the same store, what `ctl copy --to` does: it lists both, reads every object, authenticates it (packs against the index, indexes, manifests, epochs and the WAL archive's sealed objects opened) and writes it under the same name, one after another; it must copy every object the listing holds, and skip none. raw copy: the floor, the same objects listed and copied with the I/O CopyTo does (a reader into a buffer of the object's size, Bucket.NewWriter with IfNotExist and one Write; not ReadAll and WriteAll, which grow their buffer and compute an MD5), one after another, into another empty bucket, without authenticating anything. The two take turns going first (CopyTo in odd runs, the raw copy in even ones): on file://, the first after the build is more often slowed down by the kernel. store's files: \"from disk\" when the program wrote back and dropped the store's files from the page cache before each of the two (as the restore suite does); otherwise not controlled. MB/s: object bytes copied per second (10^6 bytes).\n")

	b.WriteString("\n#### Copy again, nothing changed\n\n")
	rows = nil
	for _, j := range res.copies {
		rows = append(rows, []string{j.store.label,
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.again.Objects) }), whole),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.again.Present) }), whole),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.again.Copied) }), whole),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.again.Bytes) }), whole),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return ms(r.againTime) }), benchkit.Sig3),
		})
	}
	benchkit.Table(&b, []string{"store", "objects looked at", "present in the copy", "objects copied", "bytes copied", "Open + CopyTo ms"}, rows)
	b.WriteString("\nThe same CopyTo into the same copy right after the first, the archive unchanged (its archiver closed): what a copy run again finds. present: objects the copy holds under the same name with the same size, which CopyTo neither reads nor writes.\n")

	fmt.Fprintf(&b, "\n#### Copy after a change: %s MB of the state overwritten in %d places, %s more events, a new base snapshot\n\n",
		benchkit.Sig3(float64(editedBytes(s.copyState))/1e6), copyEditPlaces, benchkit.Thousands(int64(more)))
	rows = nil
	for _, j := range res.copies {
		rows = append(rows, []string{j.store.label,
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.saveStored) / 1e6 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.newWAL) / 1e6 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.newObjects) }), whole),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.newBytes) / 1e6 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.changed.Copied) }), whole),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.changed.Bytes) / 1e6 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(copyRun.ratio), benchkit.Ratio),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.changeTime) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.restore) }), benchkit.Sig3),
		})
	}
	benchkit.Table(&b, []string{"store", "Save stored MB", "new under wal/ MB", "new objects", "new MB", "objects copied", "MB copied", "copied ÷ new", "Open + CopyTo s", "restore from the copy s"}, rows)
	fmt.Fprintf(&b, "\nThe change, after the unchanged copy: an archiver started again on the same log and repository (compaction off), %s events appended, Archiver.SnapshotNow of the state with %.0f%% of its bytes overwritten (%d places of %s bytes, evenly spread, each event JSON of another seed), %s more events, Flush. Save stored: the new snapshot's Manifest.StoredBytes (the packs of the chunks that changed, its index and manifest). new: the objects a listing of the archive's bucket holds after the change that it did not hold before (packs, index, manifest, WAL objects, heads), and their bytes: what the change added; new under wal/: of them, the WAL archive's. copied ÷ new: the bytes CopyTo wrote ÷ new MB (target ≤ %g). restore from the copy: snapshot.Open of the copy and RestoreTo(Target{}) of its newest state into a state machine that discards it: it must restore the new base snapshot (all %s of it) and replay every record after it to the archive's last LSN, or the run fails.\n",
		benchkit.Thousands(int64(more/2)), 100*copyEditShare, copyEditPlaces, benchkit.Thousands(int64(editedBytes(s.copyState)/copyEditPlaces)), benchkit.Thousands(int64(more-more/2)), targetCopyRatio, sizeName(s.copyState))

	b.WriteString("\n#### Building the archive (context, each run)\n\n")
	rows = nil
	for _, j := range res.copies {
		rows = append(rows, []string{j.store.label,
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.build.save) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.snapStored) / 1e6 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.build.appends) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.build.flush) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.srcObjects) }), whole),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.srcBytes) / 1e6 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.change.save) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r copyRun) float64 { return secs(r.change.flush) }), benchkit.Sig3),
		})
	}
	benchkit.Table(&b, []string{"store", "SnapshotNow s", "snapshot stored MB", "appends s", "Flush s", "objects", "MB", "change: SnapshotNow s", "change: Flush s"}, rows)
	fmt.Fprintf(&b, "\nEach run builds its archive afresh, as the restore suite does (event JSON from internal/gen): one record, Archiver.SnapshotNow of the state at LSN 1, the events in Appends of %d while the archiver (compaction off) uploads, Flush, the archiver closed. objects and MB: a listing of the bucket then, what the first copy copies.\n", appendBatch)

	renderCopyTargets(&b, res)
	return b.String()
}

// renderCopyTargets writes the copy suite's targets table: both per
// store, every run must meet them.
func renderCopyTargets(b *strings.Builder, res *results) {
	var checks []check
	for _, j := range res.copies {
		cmd := fmt.Sprintf("`go run ./cmd/archbench -suites copy -stores %s`", j.store.kind)
		met, v := everyRun(j.runs, func(r copyRun) bool { return r.again.Bytes == 0 })
		checks = append(checks, check{
			target: fmt.Sprintf("%s: `ctl copy` (CopyTo) of an unchanged archive moves 0 data bytes, in every run", j.store.label),
			measured: benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.again.Bytes) }), whole) + " B in " +
				benchkit.RangeOf(j.stat(func(r copyRun) float64 { return float64(r.again.Copied) }), whole) + " objects",
			command: cmd, met: met, verdict: v,
		})
		met, v = everyRun(j.runs, func(r copyRun) bool { return r.ratio() <= targetCopyRatio })
		checks = append(checks, check{
			target:   fmt.Sprintf("%s: `ctl copy` (CopyTo) after a change moves ≤ %g× the new bytes, in every run", j.store.label, targetCopyRatio),
			measured: benchkit.RangeOf(j.stat(copyRun.ratio), benchkit.Ratio) + "×",
			command:  cmd, met: met, verdict: v,
		})
	}
	writeTargets(b, checks, "median (min–max) over the runs")
}
