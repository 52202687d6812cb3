package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/internal/gen"
	"github.com/continuity-go/continuity/wal"
)

// repoKey is the raw key of every repository the program makes.
var repoKey = [32]byte{'a', 'r', 'c', 'h', 'b', 'e', 'n', 'c', 'h'}

// poolBytes is the size of the event data payloads are cut from: far
// beyond lz4's 64 KiB window, so no object compresses against a repeat.
const poolBytes = 16 << 20

// bencher runs the measurements.
type bencher struct {
	settings
	root     string    // the work directory
	progress io.Writer // one line per run
	vgw      *versitygw
	skipped  []string // stores left out, with why
	pool     []byte   // event JSON lines that payloads are cut from
	done     int      // runs done, for progress
	total    int      // runs planned, for progress
}

// results are every measurement of a benchmark run, in report order.
type results struct {
	stores   []*store
	skipped  []string
	lag      []*lagJob
	archives []*archiveJob // the restore and verify suites' archives, one per store
	restores []*restoreJob
	verifies []*verifyJob
	cost     []*costJob   // the cost suite's runs, one job per store
	copies   []*copyJob   // the copy suite's runs, one job per store
	syncs    []*syncJob   // the sync suite's runs, one job per store
	withCopy []*copiesJob // the copies suite's runs, one job per store
}

// archiveJob is what building a store's restore and verify archive took.
type archiveJob struct {
	store      *store
	build      buildTimes
	objects    int   // WAL objects
	walBytes   int64 // their bytes as stored
	snapStored int64 // bytes the base snapshot's Save uploaded
}

// all runs the suites round by round (each store once per round): the
// lag runs; then, with one archive built per store for both, the
// restores; then the verify runs.
func (b *bencher) all(ctx context.Context, stores []*store) (*results, error) {
	b.pool = gen.Events(1, poolBytes)
	res := &results{stores: stores, skipped: b.skipped}
	for _, st := range stores {
		if b.suite(suiteLag) {
			res.lag = append(res.lag, &lagJob{store: st})
		}
		if b.suite(suiteRestore) {
			res.restores = append(res.restores, &restoreJob{store: st})
		}
		if b.suite(suiteVerify) {
			res.verifies = append(res.verifies, &verifyJob{store: st})
		}
		if b.suite(suiteCopy) {
			res.copies = append(res.copies, &copyJob{store: st})
		}
		if b.suite(suiteSync) {
			res.syncs = append(res.syncs, &syncJob{store: st})
		}
		if b.suite(suiteCopies) {
			res.withCopy = append(res.withCopy, &copiesJob{store: st})
		}
	}
	b.total = (len(res.lag) + len(res.restores) + len(res.verifies) + len(res.copies) + len(res.syncs) + len(res.withCopy)) * b.runs
	if b.suite(suiteCost) {
		b.total += len(stores) * costRunsPerStore()
	}
	err := eachRun(b, "lag", res.lag, func(j *lagJob, _ int) (string, error) {
		lr, err := b.lagOnce(ctx, j.store)
		if err != nil {
			return "", err
		}
		j.runs = append(j.runs, lr)
		ic := lr.integrity
		return fmt.Sprintf("%.0f events/s, lag p50 %v, p99 %v, max %v; Status().Lag p99 %v; %d objects; %d heads (%d in the load, %.2f per ShipInterval), chain + heads %.3f%% of upload bytes; PUT floor %v; restore check %v",
			lr.perSec, lr.lagP50.Round(time.Millisecond), lr.lagP99.Round(time.Millisecond), lr.lagMax.Round(time.Millisecond),
			lr.statusP99.Round(time.Millisecond), lr.objects, ic.headsWritten, ic.headsInLoad, ic.perInterval, 100*ic.share,
			lr.putP50.Round(10*time.Microsecond), lr.restore.Round(time.Millisecond)), nil
	})
	if err != nil {
		return nil, err
	}
	if b.suite(suiteCost) {
		for _, st := range stores {
			j, err := b.costAll(ctx, st)
			if err != nil {
				return nil, err
			}
			res.cost = append(res.cost, j)
		}
	}
	err = eachRun(b, "copy", res.copies, func(j *copyJob, r int) (string, error) {
		cr, err := b.copyOnce(ctx, j.store, r%2 == 0)
		if err != nil {
			return "", err
		}
		j.runs = append(j.runs, cr)
		return fmt.Sprintf("first %d objects, %.1f MB in %v (%.0f MB/s; raw copy %.0f MB/s); unchanged %d objects, %d B in %v; after the change %d objects, %.2f MB of %.2f MB new (%.3f×) in %v; restore from the copy %v",
			cr.first.Copied, float64(cr.first.Bytes)/1e6, cr.firstTime.Round(time.Millisecond), float64(cr.first.Bytes)/1e6/secs(cr.firstTime), float64(cr.rawBytes)/1e6/secs(cr.raw),
			cr.again.Copied, cr.again.Bytes, cr.againTime.Round(time.Millisecond),
			cr.changed.Copied, float64(cr.changed.Bytes)/1e6, float64(cr.newBytes)/1e6, cr.ratio(), cr.changeTime.Round(time.Millisecond), cr.restore.Round(time.Millisecond)), nil
	})
	if err != nil {
		return nil, err
	}
	err = eachRun(b, "sync", res.syncs, func(j *syncJob, r int) (string, error) {
		sr, err := b.syncOnce(ctx, j.store, r%2 == 1)
		if err != nil {
			return "", err
		}
		j.runs = append(j.runs, sr)
		return fmt.Sprintf("sync %.0f events/s, p50 %v, p99 %v, %.0f uploads/s (%.1f events each); async %.0f events/s, p50 %v, p99 %v; sync ÷ async %.2f; PUT p50 %v, p99 %v (sync p50 ÷ PUT p50 %.2f); acknowledged %d, archived %d, restored %d",
			sr.sync.perSec, sr.sync.p50.Round(10*time.Microsecond), sr.sync.p99.Round(10*time.Microsecond), sr.sync.uploadPerSec, sr.sync.perUpload(),
			sr.async.perSec, sr.async.p50.Round(10*time.Microsecond), sr.async.p99.Round(10*time.Microsecond), sr.ratio(),
			sr.putP50.Round(10*time.Microsecond), sr.putP99.Round(10*time.Microsecond), sr.putRatio(), sr.sync.acked, sr.sync.archived, sr.sync.restored), nil
	})
	if err != nil {
		return nil, err
	}
	err = eachRun(b, "copies", res.withCopy, func(j *copiesJob, _ int) (string, error) {
		cr, err := b.copiesOnce(ctx, j.store)
		if err != nil {
			return "", err
		}
		j.runs = append(j.runs, cr)
		return fmt.Sprintf("%.0f events/s; archive lag p50 %v, p99 %v, max %v; copy lag p50 %v, p99 %v, max %v (copy − archive p50 %v, p99 %v, max %v); copy caught up %v after the load; %d uploads, copy %d objects, %.2f MB, %d failures; %d GETs of the archive; restore from the copy %v",
			cr.perSec, cr.archiveP50.Round(time.Millisecond), cr.archiveP99.Round(time.Millisecond), cr.archiveMax.Round(time.Millisecond),
			cr.copyP50.Round(time.Millisecond), cr.copyP99.Round(time.Millisecond), cr.copyMax.Round(time.Millisecond),
			cr.extraP50.Round(100*time.Microsecond), cr.extraP99.Round(100*time.Microsecond), cr.extraMax.Round(100*time.Microsecond),
			cr.catchUp.Round(time.Millisecond), cr.uploads, cr.copy.Objects, float64(cr.copy.Bytes)/1e6, cr.copy.Failures, cr.gets, cr.restore.Round(time.Millisecond)), nil
	})
	if err != nil {
		return nil, err
	}
	if len(res.restores) == 0 && len(res.verifies) == 0 {
		return res, nil
	}

	archs := make([]*restoreArchive, 0, len(stores))
	defer func() {
		for _, a := range archs {
			a.close()
		}
	}()
	for _, st := range stores {
		fmt.Fprintf(b.progress, "archbench: building the restore archive on %s: %s state + %s events ... ", st.label, sizeName(b.state), benchkit.Thousands(int64(b.events)))
		arch, err := b.buildArchive(ctx, st)
		if err != nil {
			fmt.Fprintln(b.progress, "failed")
			return nil, fmt.Errorf("build the restore archive on %s: %w", st.label, err)
		}
		archs = append(archs, arch)
		res.archives = append(res.archives, &archiveJob{store: st, build: arch.build, objects: len(arch.objects), walBytes: arch.walBytes, snapStored: arch.snapStored})
		fmt.Fprintf(b.progress, "snapshot %v, appends %v, flush %v; %d objects\n",
			arch.build.save.Round(time.Millisecond), arch.build.appends.Round(time.Millisecond), arch.build.flush.Round(time.Millisecond), len(arch.objects))
	}
	for r := 1; r <= b.runs; r++ {
		for i, j := range res.restores {
			b.done++
			fmt.Fprintf(b.progress, "[%d/%d] run %d: restore %s: ", b.done, b.total, r, j.store.label)
			rr, err := b.restoreOnce(ctx, archs[i])
			if err != nil {
				fmt.Fprintln(b.progress, "failed")
				return nil, fmt.Errorf("restore %s, run %d: %w", j.store.label, r, err)
			}
			j.runs = append(j.runs, rr)
			fmt.Fprintf(b.progress, "RTO %v (snapshot %v, replay %v; cold %v), cached %v; read %v, decode %v, Repo.Restore %v\n",
				rr.rto().Round(time.Millisecond), rr.base.Round(time.Millisecond), rr.replay().Round(time.Millisecond), rr.cold, rr.warm.Round(time.Millisecond),
				rr.read.Round(time.Millisecond), rr.decode.Round(time.Millisecond), rr.snapOnly.Round(time.Millisecond))
		}
	}
	for r := 1; r <= b.runs; r++ {
		for i, j := range res.verifies {
			b.done++
			fmt.Fprintf(b.progress, "[%d/%d] run %d: verify %s: ", b.done, b.total, r, j.store.label)
			vr, err := b.verifyOnce(ctx, archs[i])
			if err != nil {
				fmt.Fprintln(b.progress, "failed")
				return nil, fmt.Errorf("verify %s, run %d: %w", j.store.label, r, err)
			}
			j.runs = append(j.runs, vr)
			fmt.Fprintf(b.progress, "%d objects, %.1f MB; plain read %v, Verify %v (ratio %.2f; cold %v); cached %v and %v; decode from memory %v (unseal %v, lz4 + records %v, chain %v)\n",
				vr.objects, float64(vr.bytes)/1e6, vr.read.Round(time.Millisecond), vr.verify.Round(time.Millisecond), vr.ratio(), vr.cold,
				vr.readWarm.Round(time.Millisecond), vr.verifyWarm.Round(time.Millisecond),
				vr.decode.total().Round(time.Millisecond), vr.decode.unseal.Round(time.Millisecond), vr.decode.records.Round(time.Millisecond), vr.decode.chain.Round(time.Millisecond))
		}
	}
	return res, nil
}

// payloadAt is the i-th event's payload: payload bytes of event JSON.
func (b *bencher) payloadAt(i int) []byte {
	slots := len(b.pool) / b.payload
	off := (i % slots) * b.payload
	return b.pool[off : off+b.payload]
}

// logger passes the archiver's warnings (failed uploads, lag) to the
// progress output and drops its information messages.
func (b *bencher) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b.progress, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// sink is a state machine that counts what it is given: the bytes of a
// restored snapshot, and the records and payload bytes applied.
type sink struct {
	stateBytes int64
	records    int64
	bytes      int64
	next       wal.LSN // the LSN Apply expects next (0: any)
}

func (s *sink) Apply(rec wal.Record) error {
	if s.next != 0 && rec.LSN != s.next {
		return fmt.Errorf("record %d applied after %d", rec.LSN, s.next-1)
	}
	s.next = rec.LSN + 1
	s.records++
	s.bytes += int64(len(rec.Data))
	return nil
}

func (s *sink) Snapshot(w io.Writer) error { return fmt.Errorf("sink: no state to write") }

func (s *sink) Restore(r io.Reader) error {
	n, err := io.CopyBuffer(io.Discard, r, make([]byte, 1<<20))
	s.stateBytes += n
	return err
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// sorted returns a sorted copy of d.
func sorted(d []time.Duration) []time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d
}

// sizeName says "256 B", "64 MiB" or "1 GiB".
func sizeName(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// Metric helpers.
func ms(d time.Duration) float64   { return float64(d) / float64(time.Millisecond) }
func secs(d time.Duration) float64 { return d.Seconds() }

// storeJob is a suite's job on one store.
type storeJob interface{ storeOf() *store }

func (j *lagJob) storeOf() *store    { return j.store }
func (j *copyJob) storeOf() *store   { return j.store }
func (j *syncJob) storeOf() *store   { return j.store }
func (j *copiesJob) storeOf() *store { return j.store }

// eachRun runs once for every job, run round by run round, numbering the
// progress; once returns the run's progress line (it keeps the run).
func eachRun[J storeJob](b *bencher, suite string, jobs []J, once func(j J, r int) (string, error)) error {
	for r := 1; r <= b.runs; r++ {
		for _, j := range jobs {
			b.done++
			label := j.storeOf().label
			fmt.Fprintf(b.progress, "[%d/%d] run %d: %s %s: ", b.done, b.total, r, suite, label)
			line, err := once(j, r)
			if err != nil {
				fmt.Fprintln(b.progress, "failed")
				return fmt.Errorf("%s %s, run %d: %w", suite, label, r, err)
			}
			fmt.Fprintln(b.progress, line)
		}
	}
	return nil
}
