package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// The copies suite (suite copies): the archive with one copy
// (archive.Options.Copies) in an empty bucket of the same store, under
// the lag suite's paced load; each record's lag to the archive and to
// the copy.
const (
	// copyName names the copy in Status.
	copyName = "copy"
	// copySampleEvery is the period of the Status().Copies samples: a
	// record's copy lag is known to this quantum.
	copySampleEvery = 2 * time.Millisecond
	// copyCatchUpTimeout bounds the wait, once the archive drained, for
	// the copy to hold the log's last record.
	copyCatchUpTimeout = 30 * time.Second
	// The target: with one copy, per-record lag p99 at most
	// targetLagP99 on both destinations at targetCopiesRate events/s;
	// a run counts as at that rate when it appended at least
	// copiesRateShare of it per second (the pacing's rounding).
	targetCopiesRate = 10_000
	copiesRateShare  = 0.99
)

// copiesRun is what one run of the copies suite measured on a store.
type copiesRun struct {
	appended int     // records appended
	perSec   float64 // records appended per second of load

	// Per record, from its Append returning: to the OnUpload call whose
	// UploadEvent.Archived first reached it (the archive), and to the
	// first sample of Status().Copies[0].Archived that reached it (the
	// copy); and the copy's less the archive's.
	archiveP50, archiveP99, archiveMax time.Duration
	copyP50, copyP99, copyMax          time.Duration
	extraP50, extraP99, extraMax       time.Duration
	catchUp                            time.Duration // the load's end → the copy held the last record

	uploads   int                // objects the archiver uploaded (OnUpload)
	uploadP50 time.Duration      // UploadEvent.Duration, median
	copy      archive.CopyStatus // the copy's status once it held the last record
	copyPuts  int64              // PUTs the copy's bucket was sent (conflicts included)
	gets      int64              // GETs of the archive's bucket, from NewArchiver until it closed
	walGets   int64              // of them, of objects under wal/ (heads and timeline included)

	restore     time.Duration // snapshot.Open of the copy + RestoreTo (the check)
	restoreRecs int64
}

// met says whether the run meets the target.
func (r copiesRun) met() bool {
	return r.archiveP99 <= targetLagP99 && r.copyP99 <= targetLagP99 && r.perSec >= copiesRateShare*targetCopiesRate
}

// copiesJob collects a store's copies runs.
type copiesJob struct {
	store *store
	runs  []copiesRun
}

func (j *copiesJob) stat(metric func(copiesRun) float64) benchkit.Stat {
	return benchkit.StatBy(j.runs, metric)
}

// keptOpen is a bucket the archiver may close without closing the
// bucket below: the copy's, read after the archiver closed.
type keptOpen struct{ *countingBucket }

func (keptOpen) Close() error { return nil }

// copiesOnce runs the archive with one copy under the paced load
// (-rate, -payload, -copies-duration) on a fresh log and repository in
// st, the copy in another empty bucket of st; after the load it lets
// the archive and then the copy catch up, and restores the copy, which
// must reach the log's last record.
func (b *bencher) copiesOnce(ctx context.Context, st *store) (copiesRun, error) {
	var res copiesRun
	archiveReqs, copyReqs := &reqCounter{}, &reqCounter{}
	run, err := b.freshRun(ctx, st, "copies-", func(inner *blob.Bucket) *blob.Bucket { return countBucket(inner, archiveReqs) })
	if err != nil {
		return res, err
	}
	defer run.close()
	dst, dstCleanup, err := st.open(ctx)
	if err != nil {
		return res, err
	}
	defer dstCleanup()

	lb := *b // the load's settings for pace
	lb.duration = b.copiesDuration
	total := int(int64(lb.rate) * int64(lb.duration) / int64(time.Second))
	appendAt := make([]time.Duration, total+1) // by LSN: when its Append returned, since base
	base := time.Now()
	ups := &uploadLog{base: base}
	a, err := archive.NewArchiver(run.log, run.repo, archive.Options{
		OnUpload:     ups.onUpload,
		ShipInterval: shipInterval,
		Logger:       b.logger(),
		Copies: []archive.Copy{{Name: copyName, Open: func(context.Context) (*blob.Bucket, error) {
			return blob.NewBucket(keptOpen{&countingBucket{b: dst, c: copyReqs}}), nil
		}}},
	})
	if err != nil {
		return res, err
	}
	defer a.Close()

	// The copy's contiguous end every copySampleEvery, from the start
	// until it holds the last record: when it first reached each value.
	var (
		reached  []landed
		seen     atomic.Uint64
		stop     = make(chan struct{})
		sampling sync.WaitGroup
	)
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		t := time.NewTicker(copySampleEvery)
		defer t.Stop()
		for {
			if cs := a.Status().Copies; len(cs) == 1 && uint64(cs[0].Archived) > seen.Load() {
				reached = append(reached, landed{ev: archive.UploadEvent{Archived: cs[0].Archived}, at: time.Since(base)})
				seen.Store(uint64(cs[0].Archived))
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	stopSampling := sync.OnceFunc(func() {
		close(stop)
		sampling.Wait()
	})
	defer stopSampling()

	loadStart, loadDur, _, err := lb.pace(ctx, run.log, total, base, appendAt)
	if err != nil {
		return res, err
	}
	loadEnd := loadStart.Add(loadDur)
	last := run.log.Last()
	res.appended = int(last)
	res.perSec = float64(last) / loadDur.Seconds()
	if err := drain(ctx, a, last); err != nil {
		return res, err
	}
	deadline := time.Now().Add(copyCatchUpTimeout)
	for wal.LSN(seen.Load()) < last {
		if time.Now().After(deadline) || ctx.Err() != nil {
			cs := a.Status().Copies[0]
			return res, fmt.Errorf("the copy holds records up to LSN %d %v after the load; the log holds %d (failures %d, last error %v)",
				cs.Archived, time.Since(loadEnd).Round(time.Millisecond), last, cs.Failures, cs.LastError)
		}
		time.Sleep(copySampleEvery)
	}
	res.catchUp = time.Since(loadEnd)
	stopSampling()
	res.copy = a.Status().Copies[0]
	if err := a.Close(); err != nil {
		return res, fmt.Errorf("close the archiver: %w", err)
	}
	reqs := archiveReqs.snapshot()
	res.gets = reqs.get(opGet, "")
	res.walGets = res.gets - reqs.get(opGet, "repo")
	res.copyPuts = copyReqs.snapshot().get(opPut, "")

	inOrder := ups.inOrder()
	res.uploads = len(inOrder)
	var upDurs []time.Duration
	for _, u := range inOrder {
		upDurs = append(upDurs, u.ev.Duration)
	}
	res.uploadP50 = benchkit.Percentile(sorted(upDurs), 0.5)
	archiveByLSN, archived := lagsByLSN(inOrder, appendAt, last)
	if archived < last {
		return res, fmt.Errorf("the uploads reported the archive up to LSN %d, the log holds %d", archived, last)
	}
	copyByLSN, _ := lagsByLSN(reached, appendAt, last) // up to last: the wait above
	extra := make([]time.Duration, last)
	for i, c := range copyByLSN {
		extra[i] = c - archiveByLSN[i]
	}
	archiveLags, copyLags, extra := sorted(archiveByLSN), sorted(copyByLSN), sorted(extra)
	res.archiveP50, res.archiveP99, res.archiveMax = benchkit.Percentile(archiveLags, 0.5), benchkit.Percentile(archiveLags, 0.99), archiveLags[len(archiveLags)-1]
	res.copyP50, res.copyP99, res.copyMax = benchkit.Percentile(copyLags, 0.5), benchkit.Percentile(copyLags, 0.99), copyLags[len(copyLags)-1]
	res.extraP50, res.extraP99, res.extraMax = benchkit.Percentile(extra, 0.5), benchkit.Percentile(extra, 0.99), extra[len(extra)-1]

	// The copy must restore to the log's last record.
	t0 := time.Now()
	repo, err := snapshot.Open(ctx, dst, snapshot.RawKey(repoKey), snapshot.Options{ReadOnly: true})
	if err != nil {
		return res, fmt.Errorf("restore check: open the copy: %w", err)
	}
	defer repo.Close()
	res.restoreRecs, err = restoreCheck(ctx, repo, last, int64(b.payload))
	res.restore = time.Since(t0)
	if err != nil {
		return res, fmt.Errorf("restore check from the copy: %w", err)
	}
	return res, nil
}
