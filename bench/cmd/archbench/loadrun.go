package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// What the lag and cost suites share: a fresh log and repository per
// run, the uploads as they land, the drain at the end, and each
// record's lag.

// freshRun is a run's log and repository, in a new directory under
// b.root (prefix names it) and in st. wrap, if not nil, wraps the
// store's bucket before the repository opens it; bucket is the store's
// own. close releases everything.
type freshRun struct {
	log    *wal.Log
	repo   *snapshot.Repo
	bucket *blob.Bucket
	close  func()
}

func (b *bencher) freshRun(ctx context.Context, st *store, prefix string, wrap func(*blob.Bucket) *blob.Bucket) (*freshRun, error) {
	dir, err := os.MkdirTemp(b.root, prefix)
	if err != nil {
		return nil, err
	}
	var undo []func()
	closeAll := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	undo = append(undo, func() { os.RemoveAll(dir) })
	log, err := wal.Open(filepath.Join(dir, "wal"), wal.Options{})
	if err != nil {
		closeAll()
		return nil, err
	}
	undo = append(undo, func() { log.Close() })
	bucket, cleanup, err := st.open(ctx)
	if err != nil {
		closeAll()
		return nil, err
	}
	undo = append(undo, cleanup)
	repoBucket := bucket
	if wrap != nil {
		// Not closed: closing it would close bucket, which cleanup does.
		repoBucket = wrap(bucket)
	}
	repo, err := snapshot.Init(ctx, repoBucket, snapshot.RawKey(repoKey), snapshot.Format{}, snapshot.Options{})
	if err != nil {
		closeAll()
		return nil, err
	}
	undo = append(undo, func() { repo.Close() })
	return &freshRun{log: log, repo: repo, bucket: bucket, close: closeAll}, nil
}

// landed is one OnUpload call, timed on the run's monotonic clock.
type landed struct {
	ev archive.UploadEvent
	at time.Duration // since the run's base
}

// uploadLog records OnUpload calls (from the archiver's goroutines).
type uploadLog struct {
	base time.Time
	mu   sync.Mutex
	ups  []landed
}

func (l *uploadLog) onUpload(ev archive.UploadEvent) {
	at := time.Since(l.base)
	l.mu.Lock()
	l.ups = append(l.ups, landed{ev, at})
	l.mu.Unlock()
}

func (l *uploadLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ups)
}

// inOrder returns the uploads in the order they landed.
func (l *uploadLog) inOrder() []landed {
	l.mu.Lock()
	ups := slices.Clone(l.ups)
	l.mu.Unlock()
	slices.SortStableFunc(ups, func(x, y landed) int { return int(x.at - y.at) })
	return ups
}

// drain lets the archive catch up on its own (ShipInterval), so that the
// last records' lag is not shortened by Flush; then flushes.
func drain(ctx context.Context, a *archive.Archiver, last wal.LSN) error {
	deadline := time.Now().Add(drainTimeout)
	for a.Status().Archived < last && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := a.Flush(fctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// recordLags is each record's lag, sorted: from its Append returning
// (appendAt, by LSN) to the upload that moved the archive's contiguous
// end past it. The uploads are swept in the order they landed; the end
// only grows.
func recordLags(ups []landed, appendAt []time.Duration, last wal.LSN) ([]time.Duration, error) {
	lags, archived := lagsByLSN(ups, appendAt, last)
	if archived < last || len(ups) == 0 {
		return nil, fmt.Errorf("the uploads reported the archive up to LSN %d, the log holds %d", archived, last)
	}
	slices.Sort(lags)
	return lags, nil
}

// lagsByLSN is each record's lag in LSN order (lags[i] is LSN i+1's):
// from its Append returning (appendAt) to the first of ends, a
// contiguous end's values (ev.Archived) in the order they were seen,
// that reached it; and the LSN ends reached (up to last).
func lagsByLSN(ends []landed, appendAt []time.Duration, last wal.LSN) ([]time.Duration, wal.LSN) {
	lags := make([]time.Duration, 0, last)
	var reached wal.LSN
	for _, u := range ends {
		for ; reached < min(u.ev.Archived, last); reached++ {
			lags = append(lags, max(0, u.at-appendAt[reached+1]))
		}
	}
	return lags, reached
}
