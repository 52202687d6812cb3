package main

import (
	"fmt"
	"strings"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// renderSync formats the sync suite's results as Markdown: both modes
// beside the PUT floor, and the targets.
func renderSync(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	var stores []*store
	for _, j := range res.syncs {
		stores = append(stores, j.store)
	}
	writeHeader(&b, sys, args, "wal.Log with default Options (every Append durable; concurrent Appends share an fdatasync), in the work directory on the file system above", stores, res.skipped,
		fmt.Sprintf("per store, %d (-runs), round by round, each a load of %v with Sync and one without on a fresh log and repository each, the two taking turns going first; cells are median (min–max)%s", s.runs, s.syncDuration, quickNote(s)))
	if len(res.syncs) == 0 {
		return b.String()
	}

	fmt.Fprintf(&b, "\n#### %d writers, one event of %s per Append: with Archiver.Sync, and without\n\n", syncWriters, sizeName(s.payload))
	var rows [][]string
	for _, j := range res.syncs {
		rows = append(rows, []string{j.store.label,
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.putP50) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.putP99) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.sync.p50) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.sync.p99) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(syncRun.putRatio), benchkit.Ratio),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return r.sync.perSec }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return r.async.perSec }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(syncRun.ratio), benchkit.Ratio),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.async.p50) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.async.p99) }), benchkit.Sig3),
		})
	}
	benchkit.Table(&b, []string{"store", "PUT p50 ms", "PUT p99 ms", "sync p50 ms", "sync p99 ms", "sync p50 ÷ PUT p50", "sync events/s", "async events/s", "sync ÷ async events/s", "async p50 ms", "async p99 ms"}, rows)
	fmt.Fprintf(&b, "\nsync: %d goroutines in a closed loop for %v, each calling wal.Log.Append with one event (event JSON from internal/gen) and then archive.Archiver.Sync(ctx, its LSN), which asks the archiver to ship the pending records at once and returns when its contiguous end (Status().Archived) reaches the LSN: what continuity.Config.ArchiveSync does for a Node's Append. async: the same writers calling Append alone, the archiver shipping on its own (ShipInterval %v). The archiver has default options (compaction on) and the load starts once it has resumed. p50, p99: one call (Append, and Sync if any) over every call of the run; events/s: calls per second of load. PUT: the floor, one snapshot.Repo.PutSealed (the archiver's PUT) of the synchronous load's median upload size in random bytes, %d times one after another after that load on the same store. After each synchronous load, Status().Archived and a RestoreTo of the archive (the archiver closed, no Flush) must reach the highest LSN a Sync acknowledged, or the run fails.\n",
		syncWriters, s.syncDuration, shipInterval, syncPuts)

	b.WriteString("\n#### Uploads: the group commit\n\n")
	rows = nil
	for _, j := range res.syncs {
		rows = append(rows, []string{j.store.label,
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return r.sync.uploadPerSec }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return r.sync.perUpload() }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return float64(r.sync.medianObj) / 1024 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.sync.uploadP50) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.sync.appendP50) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return r.async.uploadPerSec }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return r.async.perUpload() }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r syncRun) float64 { return float64(r.sync.acked) }), whole),
		})
	}
	benchkit.Table(&b, []string{"store", "sync uploads/s", "sync events per upload", "sync median object KiB", "sync upload p50 ms", "sync: its Append p50 ms", "async uploads/s", "async events per upload", "sync: last LSN acknowledged"}, rows)
	b.WriteString("\nuploads: the archiver's OnUpload calls during the load, per second of load; events per upload: calls ÷ uploads, the records one object carried (concurrent Syncs share an upload: the records appended while one is in flight ship together in the next). median object: the synchronous uploads' stored size (lz4, sealed), the PUT floor's object size. upload p50: UploadEvent.Duration, under the load (the PUT floor is timed after it, on a quiet machine). its Append: in the synchronous load, the Append part of a call (the log's write and shared fdatasync); the rest is the wait in Sync. last LSN acknowledged: the highest LSN a Sync returned for; the archive held it in every run.\n")

	renderSyncTargets(&b, res)
	return b.String()
}

// renderSyncTargets writes the sync suite's targets table, per store,
// on the median of the runs' ratios.
func renderSyncTargets(b *strings.Builder, res *results) {
	var checks []check
	verdict := func(ok bool) (bool, string) {
		if ok {
			return true, "yes"
		}
		return false, "no"
	}
	for _, j := range res.syncs {
		cmd := fmt.Sprintf("`go run ./cmd/archbench -suites sync -stores %s`", j.store.kind)
		st := j.stat(syncRun.putRatio)
		met, v := verdict(st.Med <= targetSyncPutRatio)
		checks = append(checks, check{
			target: fmt.Sprintf("%s: %d writers, sync p50 ≤ %g× one PUT's p50 (median of runs)", j.store.label, syncWriters, targetSyncPutRatio),
			measured: benchkit.RangeOf(st, benchkit.Ratio) + "× (" + benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.sync.p50) }), benchkit.Sig3) +
				" ms against " + benchkit.RangeOf(j.stat(func(r syncRun) float64 { return ms(r.putP50) }), benchkit.Sig3) + " ms)",
			command: cmd, met: met, verdict: v,
		})
		st = j.stat(syncRun.ratio)
		met, v = verdict(st.Med >= targetSyncAsyncRatio)
		checks = append(checks, check{
			target: fmt.Sprintf("%s: %d writers, sync events/s ≥ %g × async events/s (median of runs)", j.store.label, syncWriters, targetSyncAsyncRatio),
			measured: benchkit.RangeOf(st, benchkit.Ratio) + " (" + benchkit.RangeOf(j.stat(func(r syncRun) float64 { return r.sync.perSec }), benchkit.Sig3) +
				" against " + benchkit.RangeOf(j.stat(func(r syncRun) float64 { return r.async.perSec }), benchkit.Sig3) + ")",
			command: cmd, met: met, verdict: v,
		})
	}
	writeTargets(b, checks, "median (min–max) over the runs of each run's ratio")
}
