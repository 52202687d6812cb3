package main

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// The targets for the lag suite (the verify suite's is
// targetVerifyRatio).
const (
	// targetLagP99: p99 per-record archive lag at most 1 s, unchanged by
	// format 2.
	targetLagP99 = time.Second
	// targetChainShare: the chain values and the head objects add at most
	// 5% to the bytes uploaded.
	targetChainShare = 0.05
	// targetHeadsPerInterval: at most one head per ShipInterval.
	targetHeadsPerInterval = 1.0
)

// renderReport formats the results as Markdown: the machine and stores,
// the archive lag and uploads, the restores and their limits, and the
// target.
func renderReport(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	writeHeader(&b, sys, args, "wal.Log with default Options (every Append durable: one write and one fdatasync), in the work directory on the file system above",
		res.stores, res.skipped, runsText(s))
	var rows [][]string

	if len(res.lag) > 0 {
		fmt.Fprintf(&b, "\n#### Archive lag (RPO): %s events/s of %s for %v\n\n", benchkit.Thousands(int64(s.rate)), sizeName(s.payload), s.duration)
		rows = nil
		for _, j := range res.lag {
			rows = append(rows, []string{j.store.label,
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return r.perSec }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.appendP99) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.lagP50) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.lagP99) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.lagMax) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.statusP50) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.statusP99) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.statusMax) }), benchkit.Sig3),
			})
		}
		benchkit.Table(&b, []string{"store", "events/s appended", "Append p99 ms", "lag p50 ms", "lag p99 ms", "lag max ms", "Status().Lag p50 ms", "Status().Lag p99 ms", "Status().Lag max ms"}, rows)
		fmt.Fprintf(&b, "\nevents/s appended: records appended per second of load, paced at %d ms per Append (one write and fdatasync; at most %d ms' worth of records in one Append when behind); Append p99: its latency. lag: per record, from its Append returning to the OnUpload call whose UploadEvent.Archived (the archive's contiguous end) first reached it, over every record of the run; the first records' lag includes the archiver's resume (listing the archive, writing the timeline object). After the load the archive catches up on its own (ShipInterval), then Flush. Status().Lag: Archiver.Status().Lag (the age of the oldest record not yet archived: the RPO at that instant) sampled every %v during the load.\n",
			tick.Milliseconds(), maxBurstTicks, sampleEvery)

		b.WriteString("\n#### Archive uploads\n\n")
		rows = nil
		for _, j := range res.lag {
			rows = append(rows, []string{j.store.label,
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return r.objPerSec }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return float64(r.medianObj) / 1024 }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return r.bytesPerRec }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return r.ratio }), benchkit.Ratio),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.uploadP50) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.putP50) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return ms(r.resume) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return float64(r.compacted) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return float64(r.restoreRecs) / secs(r.restore) }), benchkit.Sig3),
			})
		}
		benchkit.Table(&b, []string{"store", "objects/s", "median object KiB", "bytes uploaded/record", "payload ÷ uploaded", "upload p50 ms", "PUT floor p50 ms", "resumed after ms", "compacted objects", "restore check records/s"}, rows)
		fmt.Fprintf(&b, "\nobjects/s: objects the archiver uploaded (OnUpload calls, until it caught up) per second of load; bytes uploaded/record and payload ÷ uploaded: their bytes (lz4, sealed) against the records' payloads. upload p50: UploadEvent.Duration, retries included. PUT floor: one snapshot.Repo.PutSealed (the archiver's PUT) of the run's median object size in random bytes, %d times after the run on the same store, median: the least an upload can take there. resumed after: from NewArchiver to Status().Resumed, to the %v of the samples. compacted objects: Status().Compacted (default compaction, every 5 min). restore check: RestoreTo of the whole archive after the run, which must reach the log's last record.\n",
			s.puts, sampleEvery)

		b.WriteString("\n#### Integrity costs: the record chain and the head objects\n\n")
		rows = nil
		for _, j := range res.lag {
			ic := func(f func(integrityCost) float64) benchkit.Stat {
				return j.stat(func(r lagRun) float64 { return f(r.integrity) })
			}
			rows = append(rows, []string{j.store.label,
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return float64(c.walObjects) }), whole),
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return float64(c.walBytes) / 1e6 }), benchkit.Sig3),
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return float64(c.uploaded) }), whole),
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return float64(c.compacted) }), whole),
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return float64(c.headsWritten) }), whole),
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return float64(c.headsInLoad) }), whole),
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return c.perInterval }), benchkit.Ratio),
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return secs(c.headGapMin) }), benchkit.Sig3),
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return float64(c.headBytes) }), whole),
				benchkit.RangeOf(ic(func(c integrityCost) float64 { return 100 * c.share }), pct),
			})
		}
		benchkit.Table(&b, []string{"store", "WAL objects held", "WAL MB held", "WAL objects uploaded", "of them by compaction", "heads written", "heads during the load", "heads per ShipInterval", "shortest gap between heads s", "head object B", "chain + heads, share of upload bytes"}, rows)
		fmt.Fprintf(&b, "\nCounted after each run from a listing of the run's bucket prefix (wal/) and the archiver's uploads. WAL objects held: what the bucket holds after compaction; uploaded: the archiver's uploads (OnUpload) and the objects compaction wrote (held under a name no upload had). heads written: PUTs under wal/head/, the newest head's sequence number less the first's (%d) plus one; they include the head an archiver writes when it starts an empty archive and the one Flush writes; the archiver keeps the newest three. heads during the load: Archiver.Status().HeadWritten changes seen by the %v samples while the load ran; per ShipInterval: that count ÷ (seconds of load ÷ ShipInterval %v); shortest gap: between two of them. head object B: a head as stored (a %d-byte body, sealed). share: (%d bytes of chain values × WAL objects uploaded + heads written × head object bytes) ÷ (bytes of the WAL objects uploaded + heads written × head object bytes + the pin and timeline objects): the bytes format 2 added to what the archiver uploaded.\n",
			firstHeadSeq, sampleEvery, shipInterval, headBody, chainBytes)
	}

	if len(res.restores) > 0 {
		fmt.Fprintf(&b, "\n#### Restore (RTO): %s state + %s events of %s\n\n", sizeName(s.state), benchkit.Thousands(int64(s.events)), sizeName(s.payload))
		if s.state != mustSize(defaultState) || s.events != defaultEvents {
			fmt.Fprintf(&b, "Scaled down from the issue's %s + %s events (-state, -events%s).\n\n", sizeName(mustSize(defaultState)), benchkit.Thousands(defaultEvents), quickNote(s))
		}
		rows = nil
		for _, j := range res.restores {
			rows = append(rows, []string{j.store.label, j.cacheState(),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.rto()) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.open) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.base) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return float64(s.state) / 1e6 / secs(r.base) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.replay()) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return float64(r.records) / secs(r.replay()) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return float64(r.bytes) / 1e6 / secs(r.replay()) }), benchkit.Sig3),
				fmt.Sprint(res.archiveOf(j.store).objects),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.warm) }), benchkit.Sig3),
			})
		}
		benchkit.Table(&b, []string{"store", "store's files", "RTO s", "Open s", "snapshot part s", "snapshot MB/s", "replay part s", "replay events/s", "replay MB/s", "WAL objects", "RTO again, files cached s"}, rows)
		b.WriteString("\nRTO: snapshot.Open of the repository plus RestoreTo(Target{}) into a state machine whose Restore reads and discards the state and whose Apply counts; every restore checks the snapshot, the state's length, and every LSN up to the last. store's files: \"from disk\" when the program wrote back and dropped the store's files from the page cache first (fdatasync and POSIX_FADV_DONTNEED on the file:// bucket's files or the versitygw directory; nothing else is touched), as after a disaster on another machine; otherwise the server's cache is not controlled. snapshot part: from RestoreTo's start (listing the archive and the snapshots included) to RestoreProgress.BaseRestored; replay part: the rest, reading, decoding and applying the WAL objects. MB/s: state bytes, or the events' payload bytes, per second (10^6 bytes). RTO again: the same right after, with the files in the page cache.\n")

		b.WriteString("\n#### Limits of the restore, same archive, same run\n\n")
		rows = nil
		for _, j := range res.restores {
			rows = append(rows, []string{j.store.label,
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.read) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return float64(r.readBytes) / 1e6 / secs(r.read) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.decode) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return float64(r.decodeRecs) / secs(r.decode) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.replay()) / secs(r.read+r.decode) }), benchkit.Ratio),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.snapOnly) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return float64(s.state) / 1e6 / secs(r.snapOnly) }), benchkit.Sig3),
				benchkit.RangeOf(j.stat(func(r restoreRun) float64 { return secs(r.base) / secs(r.snapOnly) }), benchkit.Ratio),
			})
		}
		benchkit.Table(&b, []string{"store", "read WAL objects s", "read MB/s", "decode s", "decode events/s", "replay part ÷ (read + decode)", "Repo.Restore alone s", "Repo.Restore MB/s", "snapshot part ÷ Repo.Restore alone"}, rows)
		b.WriteString("\nread: Bucket.ReadAll of every WAL object one after another, as RestoreTo reads them (MB/s of stored bytes). decode: from memory, what RestoreTo does to each object before applying its records: Repo.GetSealed from an in-memory copy of the objects (a copy, then AES-256-GCM), lz4 and walking the records' varints (re-implemented here; the record count is checked against the object), without allocating the records; not the chain's SHA-256, which RestoreTo takes from the authenticated prefix. Repo.Restore alone: the base snapshot restored with snapshot.Repo.Restore to a counting writer, without RestoreTo's pipe to the state machine. The read and Repo.Restore alone start with the store's files dropped from the page cache, as the RTO does.\n")
	}

	if len(res.verifies) > 0 {
		renderVerify(&b, s, res)
	}

	if len(res.archives) > 0 {
		b.WriteString("\n#### Building the restore and verify archive (context, once per store)\n\n")
		rows = nil
		for _, j := range res.archives {
			rows = append(rows, []string{j.store.label,
				benchkit.Sig3(secs(j.build.save)),
				benchkit.Sig3(float64(j.snapStored) / 1e6),
				benchkit.Sig3(secs(j.build.appends)),
				benchkit.Sig3(float64(s.events) / secs(j.build.appends)),
				benchkit.Sig3(secs(j.build.flush)),
				fmt.Sprint(j.objects),
				benchkit.Sig3(float64(j.walBytes) / 1e6),
			})
		}
		benchkit.Table(&b, []string{"store", "SnapshotNow s", "snapshot stored MB", "appends s", "appended events/s", "Flush after the appends s", "WAL objects", "WAL objects stored MB"}, rows)
		fmt.Fprintf(&b, "\nOne record, then Archiver.SnapshotNow of the state (event JSON from internal/gen, generated while it is saved) at LSN 1 (RestoreTo ignores base snapshots at LSN 0), then the events in Appends of %d while the archiver (compaction off, so that every restore and verify reads the same objects) uploads, then Flush. The restore and verify suites share it.\n", appendBatch)
	}

	renderTargets(&b, res)
	return b.String()
}

// cacheState says where the restores read the store's files from.
func (j *restoreJob) cacheState() string {
	for _, r := range j.runs {
		if !r.cold {
			return "not controlled"
		}
	}
	return "from disk"
}

// runsText describes the runs for the header.
func runsText(s settings) string {
	var parts []string
	if s.suite(suiteLag) {
		parts = append(parts, fmt.Sprintf("lag: %d per store of %v each, round by round", s.runs, s.duration))
	}
	if s.suite(suiteRestore) {
		parts = append(parts, fmt.Sprintf("restore: one archive per store, restored %d times (-runs), round by round", s.runs))
	}
	if s.suite(suiteVerify) {
		parts = append(parts, fmt.Sprintf("verify: the same archive, verified %d times (-runs), round by round", s.runs))
	}
	return strings.Join(parts, "; ") + "; cells are median (min–max)" + quickNote(s)
}

// quickNote says that -quick scaled the run down.
func quickNote(s settings) string {
	if s.quick {
		return "; -quick"
	}
	return ""
}

// mustSize parses a size constant.
func mustSize(v string) int {
	n, err := parseSize(v)
	if err != nil {
		panic(err)
	}
	return n
}

// headBody is the size of a head object's body (archive/head.go), before
// sealing.
const headBody = 74

// archiveOf returns the archive built on st.
func (res *results) archiveOf(st *store) *archiveJob {
	for _, a := range res.archives {
		if a.store == st {
			return a
		}
	}
	return &archiveJob{store: st}
}

// whole formats a count (a median of two may end in .5).
func whole(v float64) string {
	if v == math.Trunc(v) {
		return benchkit.Thousands(int64(v))
	}
	return benchkit.OneDecimal(v)
}

// pct formats a percentage (already ×100) to three significant digits.
func pct(v float64) string { return benchkit.Sig3(v) + "%" }

// renderVerify writes the verify suite's tables.
func renderVerify(b *strings.Builder, s settings, res *results) {
	fmt.Fprintf(b, "\n#### Verify: VerifyWith(VerifyPITR) beside a plain read, %s state + %s events of %s\n\n", sizeName(s.state), benchkit.Thousands(int64(s.events)), sizeName(s.payload))
	if s.state != mustSize(defaultState) || s.events != defaultEvents {
		fmt.Fprintf(b, "Scaled down from the issue's %s + %s events (-state, -events%s).\n\n", sizeName(mustSize(defaultState)), benchkit.Thousands(defaultEvents), quickNote(s))
	}
	var rows [][]string
	for _, j := range res.verifies {
		mbps := func(d func(verifyRun) time.Duration) benchkit.Stat {
			return j.stat(func(r verifyRun) float64 { return float64(r.bytes) / 1e6 / secs(d(r)) })
		}
		rows = append(rows, []string{j.store.label, j.cacheState(),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return float64(r.objects) }), whole),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return float64(r.bytes) / 1e6 }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return secs(r.read) }), benchkit.Sig3),
			benchkit.RangeOf(mbps(func(r verifyRun) time.Duration { return r.read }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return secs(r.verify) }), benchkit.Sig3),
			benchkit.RangeOf(mbps(func(r verifyRun) time.Duration { return r.verify }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(verifyRun.ratio), benchkit.Ratio),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return secs(r.readCPU) / secs(r.read) }), benchkit.OneDecimal),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return secs(r.verifyCPU) / secs(r.verify) }), benchkit.OneDecimal),
			benchkit.RangeOf(mbps(func(r verifyRun) time.Duration { return r.readWarm }), benchkit.Sig3),
			benchkit.RangeOf(mbps(func(r verifyRun) time.Duration { return r.verifyWarm }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(verifyRun.warmRatio), benchkit.Ratio),
		})
	}
	benchkit.Table(b, []string{"store", "store's files", "objects under wal/", "MB under wal/", "plain read s", "plain read MB/s", "Verify s", "Verify MB/s", "Verify ÷ plain read", "plain read CPU cores", "Verify CPU cores", "plain read, cached MB/s", "Verify, cached MB/s", "Verify ÷ plain read, cached"}, rows)
	fmt.Fprintf(b, "\nplain read: a listing of wal/ and Bucket.ReadAll of every object under it (WAL objects, timeline, heads, pin), %d at once: the limit. Verify: snapshot.Open (not timed, a new Repo each time) and archive.VerifyWith(VerifyPITR, VerifyOptions{Reads: %d}): the listing, the anchors, the snapshots' manifests, then every WAL object read, decrypted and authenticated, its prefix checked against its name and its sealed chain linked to the one before, %d at once (records are decoded only where a check needs them; VerifyOptions.Decode, not measured here, decodes all and recomputes the chain); each must report OK and every object and record read. MB/s: the bytes stored under wal/ (the same for both) per second; Verify ÷ plain read is the ratio of the two, per run. store's files: \"from disk\" when the store's files were dropped from the page cache before each (as for the restore); cached: both again right after. CPU cores: this process's CPU time (user + system) ÷ the wall time (versitygw's own CPU is not counted; the machine has %d).\n",
		verifyReads, verifyReads, verifyReads, runtime.NumCPU())

	b.WriteString("\n#### Verify's work per object, CPU only (context)\n\n")
	rows = nil
	for _, j := range res.verifies {
		rows = append(rows, []string{j.store.label,
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return secs(r.decode.unseal) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return secs(r.decode.records) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return secs(r.decode.chain) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return secs(r.decode.total()) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 {
				return float64(res.archiveOf(j.store).walBytes) / 1e6 / secs(r.decode.total())
			}), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return float64(r.decodeRecs) / secs(r.decode.total()) }), benchkit.Sig3),
			benchkit.RangeOf(j.stat(func(r verifyRun) float64 { return secs(r.decode.total()) / secs(r.verify) }), benchkit.Ratio),
		})
	}
	benchkit.Table(b, []string{"store", "unseal s", "lz4 + records s", "chain SHA-256 s", "all s", "all MB/s", "all events/s", "all ÷ Verify"}, rows)
	b.WriteString("\nThe WAL objects the plain read read, from an in-memory copy, one after another in one goroutine: unseal is Repo.GetSealed (a copy from memory, AES-256-GCM); lz4 + records decompresses the body and walks the records' varints; chain recomputes the SHA-256 chain over every record (a second walk of the varints included) and checks it against the object's prefix. Re-implemented here, as for the restore limits. all MB/s: stored WAL object bytes per second of all three; all ÷ Verify: this one-goroutine CPU time over Verify's wall time from disk (Verify spreads the same work over its reads at once).\n")
}

// cacheState says where the verify runs read the store's files from.
func (j *verifyJob) cacheState() string {
	for _, r := range j.runs {
		if !r.cold {
			return "not controlled"
		}
	}
	return "from disk"
}

// check is one row of the targets table.
type check struct {
	target, measured, command string
	met                       bool
	verdict                   string
}

// renderTargets writes the targets table: the lag suite's per store
// (every run must meet them), the verify suite's (the median over the
// runs).
func renderTargets(b *strings.Builder, res *results) {
	var checks []check
	for _, j := range res.lag {
		cmd := fmt.Sprintf("`go run ./cmd/archbench -suites lag -stores %s`", j.store.kind)
		met, v := everyRun(j.runs, func(r lagRun) bool { return r.lagP99 <= targetLagP99 })
		checks = append(checks, check{
			target:   fmt.Sprintf("%s: p99 per-record lag ≤ %g s in every run (unchanged by format 2)", j.store.label, targetLagP99.Seconds()),
			measured: benchkit.RangeOf(j.stat(func(r lagRun) float64 { return secs(r.lagP99) }), benchkit.Sig3) + " s",
			command:  cmd, met: met, verdict: v,
		})
		met, v = everyRun(j.runs, func(r lagRun) bool { return r.integrity.share <= targetChainShare })
		checks = append(checks, check{
			target:   fmt.Sprintf("%s: chain + head bytes ≤ %g%% of upload bytes in every run", j.store.label, 100*targetChainShare),
			measured: benchkit.RangeOf(j.stat(func(r lagRun) float64 { return 100 * r.integrity.share }), pct),
			command:  cmd, met: met, verdict: v,
		})
		// At most one head per ShipInterval: no two heads written
		// during the load closer than ShipInterval (the count per
		// interval, in the table above, also counts the heads at the
		// load's two edges).
		met, v = everyRun(j.runs, func(r lagRun) bool { return r.integrity.headGapMin >= shipInterval })
		checks = append(checks, check{
			target:   fmt.Sprintf("%s: ≤ %g head per ShipInterval (%v) during the load, i.e. no two closer, in every run", j.store.label, targetHeadsPerInterval, shipInterval),
			measured: "shortest gap " + benchkit.RangeOf(j.stat(func(r lagRun) float64 { return secs(r.integrity.headGapMin) }), benchkit.Sig3) + " s",
			command:  cmd, met: met, verdict: v,
		})
	}
	for _, j := range res.verifies {
		st := j.stat(verifyRun.ratio)
		c := check{
			target:   fmt.Sprintf("%s: Verify MB/s ÷ plain read MB/s ≥ %g, %s (median of runs)", j.store.label, targetVerifyRatio, j.cacheState()),
			measured: benchkit.RangeOf(st, benchkit.Ratio),
			command:  fmt.Sprintf("`go run ./cmd/archbench -suites verify -stores %s`", j.store.kind),
			met:      st.Med >= targetVerifyRatio,
			verdict:  "yes",
		}
		if !c.met {
			c.verdict = "no"
		}
		checks = append(checks, c)
	}
	if len(checks) == 0 {
		return
	}
	writeTargets(b, checks, "median (min–max) over the runs")
}

// writeTargets writes a suite's targets table and how many were met;
// measured says what the measured column holds.
func writeTargets(b *strings.Builder, checks []check, measured string) {
	b.WriteString("\n#### Targets\n\n")
	var rows [][]string
	met := 0
	for _, c := range checks {
		rows = append(rows, []string{c.target, c.measured, c.verdict, c.command})
		if c.met {
			met++
		}
	}
	benchkit.Table(b, []string{"target", "measured", "met?", "measured alone by"}, rows)
	fmt.Fprintf(b, "\n%d of %d target checks met. Measured: %s. Each row's command measures it alone with the defaults (this run's arguments are in the header).\n", met, len(checks), measured)
}

// writeHeader writes a report's first lines: the command, the machine,
// the log (logDesc, if any), the stores, why a store was skipped, the load
// and how the runs went.
func writeHeader(b *strings.Builder, sys benchkit.System, args, logDesc string, stores []*store, skipped []string, runs string) {
	cmd := "go run ./cmd/archbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(b, "Measured %s with `%s`.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd)
	rows := sys.Facts()
	if logDesc != "" {
		rows = append(rows, []string{"Log", logDesc})
	}
	for _, st := range stores {
		rows = append(rows, []string{"Store " + st.label, st.desc})
	}
	for _, sk := range skipped {
		name, why, _ := strings.Cut(sk, ": ")
		rows = append(rows, []string{"Store " + name, why})
	}
	rows = append(rows, sys.Load(), []string{"Runs", runs})
	benchkit.Table(b, []string{"", ""}, rows)
	for _, sk := range skipped {
		fmt.Fprintf(b, "\n%s\n", sk)
	}
}

// everyRun says whether ok holds for every run, and the verdict to show:
// "yes", or how many runs met it.
func everyRun[R any](runs []R, ok func(R) bool) (bool, string) {
	n := 0
	for _, r := range runs {
		if ok(r) {
			n++
		}
	}
	if n < len(runs) {
		return false, fmt.Sprintf("no (%d of %d runs)", n, len(runs))
	}
	return true, "yes"
}
