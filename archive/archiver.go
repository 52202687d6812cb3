package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/continuity-go/continuity/internal/watermark"
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
	changed    watermark.Signal // broadcast under mu when the status changes
	st         Status
	inflight   []*upload          // uploads in LSN order, not yet all done
	waitCancel context.CancelFunc // ends the batcher's wait for the log; Flush calls it
	flushReq   bool               // ship the pending records at the log's tail now
	sinceSnap  int64              // payload bytes archived since the last base snapshot's capture
	snapDue    bool               // SnapshotEvery passed since the last base snapshot
	snapsSkip  int                // requests found no longer due (a test watches them)
	startLSN   wal.LSN            // the log's next LSN when the archiver started
	chain      chainHash          // the chain after st.Archived
	heads      anchorState        // the head objects
	dels       deletes            // whether the store lets this archiver delete
	snapMu     sync.Mutex         // one base snapshot at a time
	compactMu  sync.Mutex         // one compaction at a time
	copies     []*follower        // Options.Copies; set before the goroutines start
}

// NewArchiver starts archiving log into store's WAL archive. It returns at
// once; the archiver lists the archive to find where to continue
// (retrying while the bucket is unreachable), then follows the log.
// Until it has resumed it holds every record of the log. It fills opts'
// defaults and fails, before it touches log or store, if opts.Validate
// does.
func NewArchiver(log *wal.Log, store Store, opts Options) (*Archiver, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if _, ok := store.(copySource); len(opts.Copies) > 0 && !ok {
		return nil, errNoCopySource
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Archiver{
		log: log, store: store, opts: opts, lg: opts.Logger.With("component", "archiver"),
		ctx: ctx, cancel: cancel,
		jobs:   make(chan *upload, opts.Uploads),
		snapCh: make(chan struct{}, 1),
	}
	a.startLSN = log.Last() + 1
	log.Hold(opts.Holder, log.First())
	a.startCopies()
	for i := 0; i < opts.Uploads; i++ {
		a.wg.Add(1)
		go a.uploader()
	}
	a.wg.Add(2)
	go a.run()
	go a.headWriter()
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
		go a.every(opts.SnapshotEvery, func() {
			a.mu.Lock()
			a.snapDue = true
			a.mu.Unlock()
			a.requestSnapshot()
		})
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
	return a.await(ctx, func() bool {
		return a.st.Resumed && a.st.Archived >= target && a.heads.lsn >= target
	}, func() {
		if !a.st.Resumed || a.st.Archived < target {
			// Records to ship. (Only while there are: a request left
			// set after they landed, while the head is written, would
			// ship the next appends early as a small object.)
			a.shipNow()
		}
		if a.heads.want < target {
			// Wake the head writer: the records may all be archived
			// already, so no upload will.
			a.heads.want = target
			a.notify()
		}
	})
}

// Sync returns once every record up to lsn is in the archive (uploaded;
// the head that vouches for it may follow), and in Options.SyncCopies of
// the copies, asking for the pending records to ship at once rather than
// at ShipInterval/2. Records that arrive while an upload is in flight
// ship together in the next object, so concurrent callers share uploads
// (group commit). It returns ctx.Err() if ctx ends first, the
// deposition error if a newer primary took over, or an error if the
// archiver closed.
func (a *Archiver) Sync(ctx context.Context, lsn wal.LSN) error {
	return a.await(ctx, func() bool {
		return a.st.Resumed && a.st.Archived >= lsn && a.copiesHolding(lsn) >= a.opts.SyncCopies
	}, func() {
		if !a.st.Resumed || a.st.Archived < lsn {
			a.shipNow() // (not while only copies lag: it would ship the next appends early)
		}
	})
}

// await waits until done holds, calling ask each time it does not; both
// run under a.mu. It fails once the archiver is deposed or closed, or
// ctx is done.
func (a *Archiver) await(ctx context.Context, done func() bool, ask func()) error {
	for {
		a.mu.Lock()
		if a.st.Deposed != nil {
			err := a.st.Deposed
			a.mu.Unlock()
			return err
		}
		if done() {
			a.mu.Unlock()
			return nil
		}
		ask()
		ch := a.changed.Changed()
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

// shipNow asks the batcher to ship the pending records at once. Caller
// holds a.mu.
func (a *Archiver) shipNow() {
	a.flushReq = true
	if a.waitCancel != nil {
		a.waitCancel()
	}
}

// flushState reports whether a Flush waits for records to ship, and
// whether the archiver was deposed.
func (a *Archiver) flushState() (flush bool, deposed error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.flushReq, a.st.Deposed
}

// setFlushReq sets or clears the request to ship the pending records now.
func (a *Archiver) setFlushReq(v bool) {
	a.mu.Lock()
	a.flushReq = v
	a.mu.Unlock()
}

// epoch is the epoch of the timeline being archived.
func (a *Archiver) epoch() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.Epoch
}

// notify wakes Flush and status waiters. Caller holds a.mu.
func (a *Archiver) notify() { a.changed.Broadcast() }

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
