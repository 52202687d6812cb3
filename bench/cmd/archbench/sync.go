package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/wal"
)

// The sync suite (suite sync): archive-synchronous writes, what
// continuity.Config.ArchiveSync does for a Node. syncWriters goroutines
// each append one event and then wait in Archiver.Sync until the archive
// holds it, in a closed loop; the same writers appending without Sync
// (asynchronous archiving) are the comparison, and one PUT of an object
// of the size the synchronous uploads had is the floor.
const (
	// syncWriters is the number of writers.
	syncWriters = 64
	// syncPuts is how many PUTs the floor times per run: enough for a
	// p99 that is not simply the maximum of a few.
	syncPuts = 100
	// resumeTimeout bounds the wait for the archiver's resume before a
	// run's load starts.
	resumeTimeout = 30 * time.Second
	// The targets: with 64 writers, sync p50 at most
	// targetSyncPutRatio × one PUT's p50, and sync events/s at least
	// targetSyncAsyncRatio × async events/s.
	targetSyncPutRatio   = 2.0
	targetSyncAsyncRatio = 0.5
)

// modeRun is what one load of the writers measured, with Sync or
// without.
type modeRun struct {
	calls     int           // Appends (each of one event), with their Sync if any
	perSec    float64       // calls (events) per second of load
	p50, p99  time.Duration // one call: Append, and Sync if any
	appendP50 time.Duration // of a call, the Append alone

	uploads      int     // objects the archiver uploaded during the load (OnUpload)
	uploadPerSec float64 // per second of load
	uploadP50    time.Duration
	medianObj    int // median uploaded object size, bytes

	acked    wal.LSN // sync: the highest LSN a Sync acknowledged
	archived wal.LSN // sync: Status().Archived after the load
	restored wal.LSN // sync: the LSN a RestoreTo of the archive reached after the load
}

// perUpload is the events an upload carried on average: the group
// commit.
func (m modeRun) perUpload() float64 { return float64(m.calls) / float64(m.uploads) }

// syncRun is one round of the sync suite on a store.
type syncRun struct {
	syncFirst      bool // the synchronous load ran first in this round
	sync, async    modeRun
	putP50, putP99 time.Duration // the floor: one PUT of sync.medianObj bytes
}

// ratio is sync events/s ÷ async events/s.
func (r syncRun) ratio() float64 { return r.sync.perSec / r.async.perSec }

// putRatio is sync p50 ÷ one PUT's p50.
func (r syncRun) putRatio() float64 { return float64(r.sync.p50) / float64(r.putP50) }

// syncJob collects a store's sync runs.
type syncJob struct {
	store *store
	runs  []syncRun
}

func (j *syncJob) stat(metric func(syncRun) float64) benchkit.Stat {
	return benchkit.StatBy(j.runs, metric)
}

// syncOnce runs one round on st: the synchronous and the asynchronous
// load (syncFirst says which goes first), each on a fresh log and
// repository, and the PUT floor after the synchronous one.
func (b *bencher) syncOnce(ctx context.Context, st *store, syncFirst bool) (syncRun, error) {
	res := syncRun{syncFirst: syncFirst}
	for _, withSync := range []bool{syncFirst, !syncFirst} {
		m, err := b.syncLoad(ctx, st, withSync, &res)
		if err != nil {
			return res, fmt.Errorf("%s: %w", modeName(withSync), err)
		}
		if withSync {
			res.sync = m
		} else {
			res.async = m
		}
	}
	return res, nil
}

func modeName(withSync bool) string {
	if withSync {
		return "sync"
	}
	return "async"
}

// syncLoad runs syncWriters writers for -sync-duration against a fresh
// log and an archiver with default options, each appending one event at
// a time and, if withSync, waiting in Archiver.Sync for it. A
// synchronous load must leave the archive holding every acknowledged
// record (Status().Archived, then a RestoreTo), and times the PUT floor
// into r.
func (b *bencher) syncLoad(ctx context.Context, st *store, withSync bool, r *syncRun) (modeRun, error) {
	var m modeRun
	run, err := b.freshRun(ctx, st, modeName(withSync)+"-", nil)
	if err != nil {
		return m, err
	}
	defer run.close()
	ups := &uploadLog{base: time.Now()}
	a, err := archive.NewArchiver(run.log, run.repo, archive.Options{OnUpload: ups.onUpload, Logger: b.logger()})
	if err != nil {
		return m, err
	}
	defer a.Close()
	// The load starts once the archiver has resumed (listed the archive
	// and written its timeline): the first Syncs would wait for it.
	deadline := time.Now().Add(resumeTimeout)
	for !a.Status().Resumed {
		if time.Now().After(deadline) {
			return m, fmt.Errorf("the archiver did not resume within %v: %v", resumeTimeout, a.Status().LastError)
		}
		if err := ctx.Err(); err != nil {
			return m, err
		}
		time.Sleep(time.Millisecond)
	}
	upsBefore := ups.count()

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lats  = make([]time.Duration, 0, 1<<16)
		apps  = make([]time.Duration, 0, 1<<16)
		acked atomic.Uint64
		errs  = make([]error, syncWriters)
	)
	start := time.Now()
	end := start.Add(b.syncDuration)
	for w := range syncWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1<<12)
			myApps := make([]time.Duration, 0, 1<<12)
			defer func() {
				mu.Lock()
				lats = append(lats, mine...)
				apps = append(apps, myApps...)
				mu.Unlock()
			}()
			for i := w; time.Now().Before(end); i += syncWriters {
				t0 := time.Now()
				_, last, err := run.log.Append(ctx, b.payloadAt(i))
				myApps = append(myApps, time.Since(t0))
				if err == nil && withSync {
					err = a.Sync(ctx, last)
				}
				if err != nil {
					errs[w] = err
					return
				}
				mine = append(mine, time.Since(t0))
				for {
					cur := acked.Load()
					if uint64(last) <= cur || acked.CompareAndSwap(cur, uint64(last)) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	load := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return m, err
		}
	}
	inLoad := ups.inOrder()[upsBefore:]
	m.archived = a.Status().Archived

	slices.Sort(lats)
	m.calls = len(lats)
	m.perSec = float64(len(lats)) / load.Seconds()
	m.p50, m.p99 = benchkit.Percentile(lats, 0.5), benchkit.Percentile(lats, 0.99)
	m.appendP50 = benchkit.Percentile(sorted(apps), 0.5)
	m.uploads = len(inLoad)
	m.uploadPerSec = float64(len(inLoad)) / load.Seconds()
	var sizes []int
	var durs []time.Duration
	for _, u := range inLoad {
		sizes = append(sizes, u.ev.Bytes)
		durs = append(durs, u.ev.Duration)
	}
	if len(sizes) > 0 {
		slices.Sort(sizes)
		m.medianObj = sizes[len(sizes)/2]
		m.uploadP50 = benchkit.Percentile(sorted(durs), 0.5)
	}
	if !withSync {
		return m, nil
	}

	// Every acknowledged record must be in the archive: the archiver
	// says so, and a restore of what the bucket holds (the archiver
	// closed first, no Flush) reaches it.
	m.acked = wal.LSN(acked.Load())
	if m.calls == 0 || m.uploads == 0 {
		return m, fmt.Errorf("%d calls acknowledged by %d uploads", m.calls, m.uploads)
	}
	if m.archived < m.acked {
		return m, fmt.Errorf("Status().Archived is %d after the load; Sync acknowledged LSN %d", m.archived, m.acked)
	}
	if err := a.Close(); err != nil {
		return m, fmt.Errorf("close the archiver: %w", err)
	}
	sm := &sink{next: 1}
	rr, err := archive.RestoreTo(ctx, run.repo, archive.Target{}, sm, archive.RestoreOptions{})
	if err != nil {
		return m, fmt.Errorf("restore check: %w", err)
	}
	m.restored = rr.LSN
	if rr.LSN < m.acked || sm.records != int64(rr.LSN) {
		return m, fmt.Errorf("restore check: reached LSN %d with %d records; Sync acknowledged LSN %d", rr.LSN, sm.records, m.acked)
	}

	putDurs, err := putTimes(ctx, run.repo, m.medianObj, syncPuts)
	if err != nil {
		return m, fmt.Errorf("PUT floor: %w", err)
	}
	r.putP50, r.putP99 = benchkit.Percentile(putDurs, 0.5), benchkit.Percentile(putDurs, 0.99)
	return m, nil
}
