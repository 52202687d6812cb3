package main

import (
	"fmt"
	"strings"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// The markers around the copies suite's generated part of the README.
const (
	copiesBeginMarker = "<!-- archbench-copies:begin -->"
	copiesEndMarker   = "<!-- archbench-copies:end -->"
)

// copiesReadme is the copies suite's generated section of bench/README.md.
var copiesReadme = benchkit.Section{Begin: copiesBeginMarker, End: copiesEndMarker, Heading: "### Archive copies: cmd/archbench -suites copies"}

// renderCopies formats the copies suite's results as Markdown: the
// archive's and the copy's lag per record, what the copy wrote and
// read, and the target.
func renderCopies(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	var stores []*store
	for _, j := range res.withCopy {
		stores = append(stores, j.store)
	}
	writeHeader(&b, sys, args, "wal.Log with default Options (every Append durable), in the work directory on the file system above", stores, res.skipped,
		fmt.Sprintf("per store, %d (-runs), round by round, each a load of %v on a fresh log, repository and copy; cells are median (min–max)%s", s.runs, s.copiesDuration, quickNote(s)))
	if len(res.withCopy) == 0 {
		return b.String()
	}
	sig3 := func(j *copiesJob, d func(copiesRun) float64) string {
		return benchkit.RangeOf(j.stat(d), benchkit.Sig3)
	}

	fmt.Fprintf(&b, "\n#### Archive and copy lag: %s events/s of %s for %v, one copy\n\n", benchkit.Thousands(int64(s.rate)), sizeName(s.payload), s.copiesDuration)
	var rows [][]string
	for _, j := range res.withCopy {
		rows = append(rows, []string{j.store.label,
			sig3(j, func(r copiesRun) float64 { return r.perSec }),
			sig3(j, func(r copiesRun) float64 { return ms(r.archiveP50) }),
			sig3(j, func(r copiesRun) float64 { return ms(r.archiveP99) }),
			sig3(j, func(r copiesRun) float64 { return ms(r.archiveMax) }),
			sig3(j, func(r copiesRun) float64 { return ms(r.copyP50) }),
			sig3(j, func(r copiesRun) float64 { return ms(r.copyP99) }),
			sig3(j, func(r copiesRun) float64 { return ms(r.copyMax) }),
			sig3(j, func(r copiesRun) float64 { return ms(r.extraP50) }),
			sig3(j, func(r copiesRun) float64 { return ms(r.extraP99) }),
			sig3(j, func(r copiesRun) float64 { return ms(r.extraMax) }),
			sig3(j, func(r copiesRun) float64 { return ms(r.catchUp) }),
		})
	}
	benchkit.Table(&b, []string{"store", "events/s appended", "archive lag p50 ms", "archive lag p99 ms", "archive lag max ms", "copy lag p50 ms", "copy lag p99 ms", "copy lag max ms", "copy − archive p50 ms", "copy − archive p99 ms", "copy − archive max ms", "copy caught up after ms"}, rows)
	fmt.Fprintf(&b, "\nThe lag suite's load and archiver (events/s appended: records per second of load, paced at 1 ms per Append, one write and fdatasync each; ShipInterval %v, compaction on) with one copy, archive.Options.Copies = [{Name: %q, Open: an empty bucket of the same store (a directory, or an S3 prefix)}]: the archiver copies each object it writes into the copy right after it landed, reading it back from the archive and authenticating it (snapshot.Repo.CopyObjects), and the whole archive when it starts (snapshot.Repo.CopyTo). The load starts with NewArchiver, so the first records' lags include its resume and the copy's first whole copy. archive lag: per record, from its Append returning to the OnUpload call whose UploadEvent.Archived (the archive's contiguous end) first reached it, as in the lag suite. copy lag: per record, from its Append returning to the first sample of Status().Copies[0].Archived (the copy holds every record up to it) that reached it; a goroutine samples it every %v during the load and after it, so a copy lag is late by up to %v plus a Status() call. copy − archive: the two per record, subtracted (what the copy adds: a GET of the archive, a PUT to the copy, waiting for a round in flight, and the sampling); it is the same for every record of one object, so with a few dozen objects a run its p99 is its slowest object's, as is its max. copy caught up after: from the load's end until the copy held the log's last record; the archive first catches up on its own (ShipInterval), then Flush, as in the lag suite. Every quantile is over every record of a run.\n",
		shipInterval, copyName, copySampleEvery, copySampleEvery)

	b.WriteString("\n#### What the copy wrote and read\n\n")
	rows = nil
	for _, j := range res.withCopy {
		rows = append(rows, []string{j.store.label,
			benchkit.RangeOf(j.stat(func(r copiesRun) float64 { return float64(r.uploads) }), whole),
			sig3(j, func(r copiesRun) float64 { return ms(r.uploadP50) }),
			benchkit.RangeOf(j.stat(func(r copiesRun) float64 { return float64(r.copy.Objects) }), whole),
			sig3(j, func(r copiesRun) float64 { return float64(r.copy.Bytes) / 1e6 }),
			benchkit.RangeOf(j.stat(func(r copiesRun) float64 { return float64(r.copy.Failures) }), whole),
			benchkit.RangeOf(j.stat(func(r copiesRun) float64 { return float64(r.copyPuts) }), whole),
			benchkit.RangeOf(j.stat(func(r copiesRun) float64 { return float64(r.gets) }), whole),
			benchkit.RangeOf(j.stat(func(r copiesRun) float64 { return float64(r.walGets) }), whole),
			sig3(j, func(r copiesRun) float64 { return secs(r.restore) }),
			benchkit.RangeOf(j.stat(func(r copiesRun) float64 { return float64(r.restoreRecs) }), whole),
		})
	}
	benchkit.Table(&b, []string{"store", "archive uploads", "upload p50 ms", "copy objects", "copy MB", "copy failures", "PUTs to the copy", "GETs of the archive", "of them under wal/", "restore from the copy s", "records restored"}, rows)
	b.WriteString("\narchive uploads: the archiver's OnUpload calls in the run (its WAL objects); upload p50: UploadEvent.Duration, one PUT under the load. copy objects, copy MB, copy failures: the copy's CopyStatus (Objects, Bytes, Failures) once it held the last record: what it wrote to the copy, the first whole copy (the repository's own objects) included. PUTs to the copy: writes the copy's bucket was sent, counted by a wrapper around it (a write refused because the object is there counts too). GETs of the archive: reads of the archive's bucket from NewArchiver until the archiver closed, counted by a wrapper below the repository: the copy's reads back, and the archiver's own reads (resume, compaction); of them under wal/: the WAL objects', heads' and timeline's, the rest the repository's (config, keys). restore from the copy: snapshot.Open of the copy's bucket read-only and RestoreTo(Target{}) into a state machine that counts: it must replay every record of the log, LSN 1 to the last, or the run fails.\n")

	var checks []check
	for _, j := range res.withCopy {
		ok, verdict := everyRun(j.runs, copiesRun.met)
		checks = append(checks, check{
			target: fmt.Sprintf("%s: with one copy, lag p99 ≤ %g s on both destinations at %s events/s, in every run", j.store.label, targetLagP99.Seconds(), benchkit.Thousands(targetCopiesRate)),
			measured: fmt.Sprintf("archive %s s, copy %s s, at %s events/s (worst run)",
				benchkit.Sig3(j.stat(func(r copiesRun) float64 { return secs(r.archiveP99) }).Hi),
				benchkit.Sig3(j.stat(func(r copiesRun) float64 { return secs(r.copyP99) }).Hi),
				benchkit.Thousands(int64(j.stat(func(r copiesRun) float64 { return r.perSec }).Lo))),
			met: ok, verdict: verdict,
			command: fmt.Sprintf("`go run ./cmd/archbench -suites copies -stores %s`", j.store.kind),
		})
	}
	writeTargets(&b, checks, fmt.Sprintf("the highest p99 over the runs for each destination, and the lowest rate appended; a run meets the target when both p99s are at most %g s and it appended at least %g%% of %s events/s",
		targetLagP99.Seconds(), 100*copiesRateShare, benchkit.Thousands(targetCopiesRate)))
	return b.String()
}
