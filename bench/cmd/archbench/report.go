package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// targetLagP99 is the target: p99 per-record archive lag at most
// 1 s.
const targetLagP99 = time.Second

// renderReport formats the results as Markdown: the machine and stores,
// the archive lag and uploads, the restores and their limits, and the
// target.
func renderReport(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/archbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd)
	rows := append(sys.Facts(),
		[]string{"Log", "wal.Log with default Options (every Append durable: one write and one fdatasync), in the work directory on the file system above"})
	for _, st := range res.stores {
		rows = append(rows, []string{"Store " + st.label, st.desc})
	}
	for _, sk := range res.skipped {
		name, why, _ := strings.Cut(sk, ": ")
		rows = append(rows, []string{"Store " + name, why})
	}
	rows = append(rows,
		sys.Load(),
		[]string{"Runs", runsText(s)},
	)
	benchkit.Table(&b, []string{"", ""}, rows)
	for _, sk := range res.skipped {
		fmt.Fprintf(&b, "\n%s\n", sk)
	}

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
		fmt.Fprintf(&b, "\nobjects/s: objects the archiver uploaded (OnUpload calls, until it caught up) per second of load; bytes uploaded/record and payload ÷ uploaded: their bytes (lz4, sealed) against the records' payloads. upload p50: UploadEvent.Duration, retries included. PUT floor: one snapshot.Repo.PutSealed (the archiver's PUT) of the run's median object size in random bytes, %d times after the run on the same store, median: the least an upload can take there. resumed after: from NewArchiver to Status().Resumed, to the %v of the samples. compacted objects: Status().Compacted (default compaction, every 30 s). restore check: RestoreTo of the whole archive after the run, which must reach the log's last record.\n",
			s.puts, sampleEvery)
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
				fmt.Sprint(j.objects),
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
		b.WriteString("\nread: Bucket.ReadAll of every WAL object one after another, as RestoreTo reads them (MB/s of stored bytes). decode: from memory, what RestoreTo does to each object before applying its records: Repo.GetSealed from an in-memory copy of the objects (a copy, then AES-256-GCM), lz4, walking the records' varints, and the chain's SHA-256 over the records (re-implemented here; the record count and the chain's end are checked against the object), without allocating the records. Repo.Restore alone: the base snapshot restored with snapshot.Repo.Restore to a counting writer, without RestoreTo's pipe to the state machine. The read and Repo.Restore alone start with the store's files dropped from the page cache, as the RTO does.\n")

		b.WriteString("\n#### Building the restore archive (context, once per store)\n\n")
		rows = nil
		for _, j := range res.restores {
			rows = append(rows, []string{j.store.label,
				benchkit.Sig3(secs(j.build.save)),
				benchkit.Sig3(float64(j.snapStored) / 1e6),
				benchkit.Sig3(secs(j.build.appends)),
				benchkit.Sig3(float64(s.events) / secs(j.build.appends)),
				benchkit.Sig3(secs(j.build.flush)),
				benchkit.Sig3(float64(j.walBytes) / 1e6),
			})
		}
		benchkit.Table(&b, []string{"store", "SnapshotNow s", "snapshot stored MB", "appends s", "appended events/s", "Flush after the appends s", "WAL objects stored MB"}, rows)
		fmt.Fprintf(&b, "\nOne record, then Archiver.SnapshotNow of the state (event JSON from internal/gen, generated while it is saved) at LSN 1 (RestoreTo ignores base snapshots at LSN 0), then the events in Appends of %d while the archiver (compaction off, so that every restore reads the same objects) uploads, then Flush.\n", appendBatch)
	}

	if len(res.lag) > 0 {
		b.WriteString("\n#### Target\n\n")
		rows = nil
		met := 0
		for _, j := range res.lag {
			ok := 0
			for _, r := range j.runs {
				if r.lagP99 <= targetLagP99 {
					ok++
				}
			}
			verdict := "yes"
			if ok < len(j.runs) {
				verdict = fmt.Sprintf("no (%d of %d runs)", ok, len(j.runs))
			} else {
				met++
			}
			rows = append(rows, []string{
				fmt.Sprintf("%s: p99 per-record lag ≤ %g s in every run", j.store.label, targetLagP99.Seconds()),
				benchkit.RangeOf(j.stat(func(r lagRun) float64 { return secs(r.lagP99) }), benchkit.Sig3) + " s",
				verdict,
			})
		}
		benchkit.Table(&b, []string{"target", "measured", "met?"}, rows)
		fmt.Fprintf(&b, "\n%d of %d target checks met.\n", met, len(res.lag))
	}
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
		parts = append(parts, fmt.Sprintf("restore: one archive per store, restored %d times (-runs)", s.runs))
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
