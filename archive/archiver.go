package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/continuity-go/continuity/wal"
)

// Archiver ships a log's records to the WAL archive of a snapshot
// repository (objects under wal/ in its bucket, sealed under its keys):
// see the package documentation for the format and guarantees.
type Archiver struct {
	log   *wal.Log
	store Store
	opts  Options
	lg    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	jobs   chan *upload
	snapCh chan struct{}

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced when status changes
	st         Status
	inflight   []*upload // uploads in LSN order, not yet all done
	waitCancel context.CancelFunc
	flushReq   bool
	sinceSnap  int64
	startLSN   wal.LSN    // the log's next LSN when the archiver started
	snapMu     sync.Mutex // one base snapshot at a time
	compactMu  sync.Mutex // one compaction at a time
}

// NewArchiver starts archiving log into store's WAL archive. It returns at
// once; the archiver lists the archive to find where to continue
// (retrying while the bucket is unreachable), then follows the log.
// Until it has resumed it holds every record of the log.
func NewArchiver(log *wal.Log, store Store, opts Options) (*Archiver, error) {
	opts.setDefaults()
	if len(opts.Compaction) == 0 && !opts.NoCompaction {
		return nil, errors.New("archive: Options.Compaction is empty; set NoCompaction instead")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Archiver{
		log: log, store: store, opts: opts, lg: opts.Logger.With("component", "archiver"),
		ctx: ctx, cancel: cancel,
		jobs:    make(chan *upload, opts.Uploads),
		snapCh:  make(chan struct{}, 1),
		changed: make(chan struct{}),
	}
	a.startLSN = log.Last() + 1
	log.Hold(opts.Holder, log.First())
	for i := 0; i < opts.Uploads; i++ {
		a.wg.Add(1)
		go a.uploader()
	}
	a.wg.Add(1)
	go a.run()
	if !opts.NoCompaction {
		a.wg.Add(1)
		go a.every(opts.Compaction[0], func() {
			err := a.Compact(a.ctx)
			if errors.Is(err, ErrDeposed) {
				a.depose(err)
			} else if err != nil && a.ctx.Err() == nil {
				a.lg.Warn("archive compaction failed; it will run again", "err", err)
			}
		})
	} else {
		a.wg.Add(1)
		go a.every(deposedCheckInterval, func() {
			if err := a.checkNewerTimeline(a.ctx); errors.Is(err, ErrDeposed) {
				a.depose(err)
			}
		})
	}
	if opts.Capture != nil && opts.SnapshotEvery > 0 {
		a.wg.Add(1)
		go a.every(opts.SnapshotEvery, a.requestSnapshot)
	}
	if opts.Capture != nil {
		a.wg.Add(1)
		go a.snapshotter()
	}
	return a, nil
}

// Close stops the archiver. Records not yet archived stay in the log
// (and held, until the log is reopened): call Flush first to ship them.
func (a *Archiver) Close() error {
	a.cancel()
	a.wg.Wait()
	return nil
}

// recordAt reads one record of the log.
func (a *Archiver) recordAt(lsn wal.LSN) (wal.Record, error) {
	if lsn < a.log.First() || lsn > a.log.Last() {
		return wal.Record{}, fmt.Errorf("%w: LSN %d", wal.ErrOutOfRange, lsn)
	}
	r := a.log.NewReader(lsn)
	defer r.Close()
	return r.Next(context.Background()) // the record exists: Next does not wait
}

// Flush ships every record appended before the call and returns once
// they are all in the archive, or ctx is done, or the archiver stopped.
func (a *Archiver) Flush(ctx context.Context) error {
	target := a.log.Last()
	for {
		a.mu.Lock()
		if a.st.Deposed != nil {
			err := a.st.Deposed
			a.mu.Unlock()
			return err
		}
		if a.st.Resumed && a.st.Archived >= target {
			a.mu.Unlock()
			return nil
		}
		a.flushReq = true
		if a.waitCancel != nil {
			a.waitCancel()
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-a.ctx.Done():
			return errors.New("archive: archiver closed")
		}
	}
}

// notify wakes Flush and status waiters. Caller holds a.mu.
func (a *Archiver) notify() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// fail records err as the last error, for Status.
func (a *Archiver) fail(err error) {
	a.mu.Lock()
	a.st.LastError, a.st.ErrorTime = err, a.opts.Now()
	a.mu.Unlock()
}

// sleep waits d or until the archiver closes; false if it closed.
func (a *Archiver) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.ctx.Done():
		return false
	}
}

// every calls f every d until the archiver closes.
func (a *Archiver) every(d time.Duration, f func()) {
	defer a.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f()
		case <-a.ctx.Done():
			return
		}
	}
}

// run resumes, then reads the log into batches and hands them to the
// uploaders, switching timelines when the log's epoch moves.
func (a *Archiver) run() {
	defer a.wg.Done()
	defer close(a.jobs)
	var next wal.LSN
	for backoff := a.opts.MinBackoff; ; backoff = min(2*backoff, a.opts.MaxBackoff) {
		var err error
		if next, err = a.resume(a.ctx, a.log.Epoch()); err == nil {
			break
		}
		if a.ctx.Err() != nil {
			return
		}
		a.fail(err)
		if errors.Is(err, ErrDeposed) {
			a.depose(err)
			return
		}
		a.lg.Warn("archive: cannot find where to resume; retrying", "err", err, "retry_in", backoff)
		if !a.sleep(backoff) {
			return
		}
	}
	r := a.log.NewReader(next)
	defer func() { r.Close() }()
	var (
		batch    []wal.Record
		bytes    int
		lastWarn time.Time
	)
	comp := new(lz4.Compressor)
	ship := func() bool {
		if len(batch) == 0 {
			return true
		}
		a.mu.Lock()
		epoch := a.st.Epoch
		a.mu.Unlock()
		n, prefix, body, err := encodeSegment(epoch, batch, comp)
		if err != nil {
			a.fail(err)
			a.lg.Error("archive: cannot encode records", "err", err)
			return false
		}
		u := &upload{name: n, prefix: prefix, body: body, bytes: int64(bytes), lastTime: batch[len(batch)-1].Time}
		a.mu.Lock()
		a.inflight = append(a.inflight, u)
		a.mu.Unlock()
		batch, bytes = batch[:0], 0
		select {
		case a.jobs <- u:
			return true
		case <-a.ctx.Done():
			return false
		}
	}
	for {
		if a.ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		flush, deposed := a.flushReq, a.st.Deposed
		a.mu.Unlock()
		if deposed != nil {
			return // a newer primary archives the history now
		}
		now := a.opts.Now()
		last := a.log.Last()
		atTail := len(batch) == 0 && next > last || len(batch) > 0 && batch[len(batch)-1].LSN >= last
		if len(batch) == 0 && atTail && flush {
			a.mu.Lock()
			a.flushReq = false // nothing pending: Flush waits for uploads
			a.mu.Unlock()
		}
		if len(batch) > 0 {
			age := now.Sub(batch[0].Time)
			if age > a.opts.LagWarning && now.Sub(lastWarn) > a.opts.LagWarning {
				lastWarn = now
				a.lg.Warn("archive is behind the log", "lag", age.Round(time.Millisecond), "archived", a.Status().Archived, "last", last)
			}
			if bytes >= a.opts.MaxObjectBytes || atTail && (flush || age >= a.opts.ShipInterval/2) {
				if atTail {
					a.mu.Lock()
					a.flushReq = false
					a.mu.Unlock()
				}
				if !ship() {
					return
				}
				continue
			}
		}
		// Wait for the next record, or until the batch is due, or a Flush.
		var (
			waitCtx context.Context
			cancel  context.CancelFunc
		)
		if len(batch) > 0 && atTail {
			waitCtx, cancel = context.WithDeadline(a.ctx, time.Now().Add(a.opts.ShipInterval/2-now.Sub(batch[0].Time)))
		} else {
			waitCtx, cancel = context.WithCancel(a.ctx)
		}
		a.mu.Lock()
		a.waitCancel = cancel
		if a.flushReq && atTail {
			cancel()
		}
		a.mu.Unlock()
		rec, err := r.Next(waitCtx)
		a.mu.Lock()
		a.waitCancel = nil
		a.mu.Unlock()
		cancel()
		if err != nil {
			if a.ctx.Err() != nil {
				return
			}
			if waitCtx.Err() != nil {
				if errors.Is(waitCtx.Err(), context.DeadlineExceeded) {
					a.mu.Lock()
					a.flushReq = true // the batch is due
					a.mu.Unlock()
				}
				continue
			}
			a.fail(err)
			a.lg.Error("archive: cannot read the log; archiving stopped", "lsn", next, "err", err)
			return
		}
		a.mu.Lock()
		epoch := a.st.Epoch
		a.mu.Unlock()
		if rec.Epoch > epoch {
			// A new primary epoch: ship what belongs to the old one, wait
			// for it to be archived, then start the new timeline.
			if !ship() || !a.waitArchived(rec.LSN-1) {
				return
			}
			if _, err := a.startTimeline(a.ctx, rec.Epoch, rec.LSN-1); err != nil {
				a.fail(err)
				a.lg.Error("archive: cannot start the new timeline; archiving stopped", "epoch", rec.Epoch, "err", err)
				if errors.Is(err, ErrDeposed) {
					a.depose(err)
				}
				return
			}
		}
		batch = append(batch, rec)
		bytes += len(rec.Data)
		next = rec.LSN + 1
	}
}

// waitArchived waits until everything up to lsn is archived.
func (a *Archiver) waitArchived(lsn wal.LSN) bool {
	for {
		a.mu.Lock()
		done := a.st.Archived >= lsn
		ch := a.changed
		a.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ch:
		case <-a.ctx.Done():
			return false
		}
	}
}
