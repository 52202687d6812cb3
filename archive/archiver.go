package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// CaptureFunc captures the host's state for a base snapshot: it returns
// the LSN of the last record folded into the state and a function that
// writes that state (the library calls it once, streaming into the
// snapshot repository). Capture must be quick and consistent (copy or
// freeze the state under the host's lock); write may take long.
type CaptureFunc func(ctx context.Context) (lsn wal.LSN, write func(w io.Writer) error, err error)

// Options configures an Archiver. The zero value gives the
// documented defaults.
type Options struct {
	// ShipInterval bounds how far the archive lags a live primary:
	// pending records are uploaded once the oldest is ShipInterval/2
	// old, so that with uploads faster than ShipInterval/2 no record
	// reaches the archive later than ShipInterval after its append.
	// Default 1 s.
	ShipInterval time.Duration
	// MaxObjectBytes makes the archiver upload earlier once this many
	// bytes of records are pending; it is also the size of objects while
	// catching up. Default 8 MiB.
	MaxObjectBytes int
	// Uploads is how many uploads run at once when the archive is behind
	// (after an outage, or on start). Default 4.
	Uploads int
	// Compaction lists the windows at which objects are merged: every
	// object whose first record falls in one closed window of
	// Compaction[i] becomes one object (as long as it stays under
	// MaxCompactedBytes), and the pieces are deleted. Compaction runs every
	// Compaction[0]. Default 30 s, 5 min, 1 h (Litestream's levels).
	Compaction []time.Duration
	// NoCompaction turns compaction off (Compact can still be called).
	NoCompaction bool
	// MaxCompactedBytes bounds an object compaction makes (and so the memory a merge takes: it holds the records it merges). Default 32 MiB.
	MaxCompactedBytes int64

	// Capture, with SnapshotEvery or SnapshotEveryBytes, takes base
	// snapshots on a schedule: every SnapshotEvery, or once the archive
	// has grown by SnapshotEveryBytes of records since the last one,
	// whichever comes first. SnapshotNow takes one at once.
	Capture            CaptureFunc
	SnapshotEvery      time.Duration // period of base snapshots (0: none on a timer)
	SnapshotEveryBytes int64         // archived payload bytes between base snapshots (0: no byte trigger)

	// Holder names the archiver's hold on the log (wal.Log.Hold): records
	// not yet archived cannot be truncated. Default "archive".
	Holder string
	// LagWarning: a warning is logged, at most once per LagWarning, while
	// the oldest unarchived record is older than this. Default 10 s.
	LagWarning time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a
	// failed upload. Defaults 100 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// OnUpload, if set, is called after each object lands in the bucket
	// (from the uploading goroutine; keep it quick), for metrics.
	OnUpload func(UploadEvent)
	// Logger receives warnings (uploads failing, lag) and info (resumed,
	// compacted). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock for lag and compaction windows. Default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.ShipInterval <= 0 {
		o.ShipInterval = time.Second
	}
	if o.MaxObjectBytes <= 0 {
		o.MaxObjectBytes = 8 << 20
	}
	if o.Uploads <= 0 {
		o.Uploads = 4
	}
	if o.Compaction == nil {
		o.Compaction = []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour}
	}
	if o.MaxCompactedBytes <= 0 {
		o.MaxCompactedBytes = 32 << 20
	}
	if o.Holder == "" {
		o.Holder = "archive"
	}
	if o.LagWarning <= 0 {
		o.LagWarning = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// UploadEvent describes one object the archiver stored.
type UploadEvent struct {
	Object      string        // the object's name
	First, Last wal.LSN       // the records it holds
	Bytes       int           // object size
	Duration    time.Duration // the upload, including retries
	Failures    int           // failed attempts before it landed
	// Archived is the archive's contiguous end after this upload: every
	// record up to it is in the bucket (uploads may land out of order).
	Archived wal.LSN
	At       time.Time // when it landed (Options.Now)
}

// Status is an Archiver's state, for monitoring.
type Status struct {
	Epoch        uint64    // epoch of the timeline being archived
	Resumed      bool      // the archiver has found where to continue
	Archived     wal.LSN   // every record of the log up to here is in the archive
	ArchivedTime time.Time // time of record Archived
	Last         wal.LSN   // the log's last LSN
	// Lag is how old the oldest record not yet archived is (0 when the
	// archive is caught up): the recovery point objective right now.
	// Before the archiver has resumed (the bucket cannot be listed yet)
	// it is the age of the oldest record appended since it started: a
	// lower bound.
	Lag           time.Duration
	Objects       int64          // objects uploaded
	Bytes         int64          // bytes uploaded
	Failures      int64          // failed uploads (each retried)
	LastError     error          // the last upload or listing error, if any
	ErrorTime     time.Time      // when LastError happened
	Compacted     int64          // objects written by compaction
	Deposed       error          // non-nil once a newer timeline is in the archive: archiving stopped
	Snapshot      snapshot.ID    // the last base snapshot this archiver took
	SnapshotAt    wal.LSN        // its LSN
	SnapshotTime  time.Time      // its time
	SnapshotStats snapshot.Stats // what its Save read, reused and stored
}

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

type upload struct {
	name     segName
	prefix   []byte // the object's clear prefix and body, until it landed
	body     []byte
	bytes    int64 // record payload bytes
	lastTime time.Time
	done     bool
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

// Status returns the archiver's current state.
func (a *Archiver) Status() Status {
	a.mu.Lock()
	st := a.st
	a.mu.Unlock()
	st.Last = a.log.Last()
	switch {
	case st.Resumed && st.Last > st.Archived:
		if rec, err := a.recordAt(st.Archived + 1); err == nil {
			st.Lag = max(0, a.opts.Now().Sub(rec.Time))
		}
	case !st.Resumed && st.Last >= a.log.First() && st.Last > 0:
		// Not resumed (the bucket cannot be listed): what is archived is
		// unknown, so the lag is at least as old as the oldest record
		// appended since the archiver started, if any.
		if a.startLSN <= st.Last {
			if rec, err := a.recordAt(max(a.startLSN, a.log.First())); err == nil {
				st.Lag = max(0, a.opts.Now().Sub(rec.Time))
			}
		}
	}
	return st
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

func (a *Archiver) depose(err error) {
	a.mu.Lock()
	if a.st.Deposed != nil {
		a.mu.Unlock()
		return
	}
	a.st.Deposed = err
	a.notify()
	a.mu.Unlock()
	a.lg.Error("archive: a newer timeline exists; this node is no longer primary and stops archiving", "err", err)
}

// uploader uploads objects, retrying each until it is stored.
func (a *Archiver) uploader() {
	defer a.wg.Done()
	for u := range a.jobs {
		backoff := a.opts.MinBackoff
		start, fails := time.Now(), 0
		var size int64
		for {
			var err error
			size, err = a.store.PutSealed(a.ctx, u.name.String(), u.prefix, u.body)
			if err == nil || isExists(err) {
				// An object of that name holds exactly these records
				// (names fix the epoch and the LSN range): one that exists
				// is an earlier attempt that succeeded.
				break
			}
			if a.ctx.Err() != nil {
				return
			}
			a.mu.Lock()
			a.st.Failures++
			a.st.LastError, a.st.ErrorTime = err, a.opts.Now()
			n := a.st.Failures
			a.mu.Unlock()
			if n == 1 || n%10 == 0 {
				a.lg.Warn("archive upload failed; retrying (the log keeps the records)", "object", u.name.String(), "err", err, "failures", n, "retry_in", backoff)
			}
			fails++
			if !a.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, a.opts.MaxBackoff)
		}
		ev := UploadEvent{Object: u.name.String(), First: u.name.First, Last: u.name.Last, Bytes: int(size), Duration: time.Since(start), Failures: fails}
		ev.Archived = a.completed(u, size)
		if a.opts.OnUpload != nil {
			ev.At = a.opts.Now()
			a.opts.OnUpload(ev)
		}
	}
}

// completed marks u stored and advances the archived point over every
// upload done in LSN order, and returns the archived point.
func (a *Archiver) completed(u *upload, size int64) wal.LSN {
	a.mu.Lock()
	u.done = true
	a.st.Objects++
	a.st.Bytes += size
	u.prefix, u.body = nil, nil
	advanced := false
	for len(a.inflight) > 0 && a.inflight[0].done {
		h := a.inflight[0]
		a.inflight = a.inflight[1:]
		a.st.Archived, a.st.ArchivedTime = h.name.Last, h.lastTime
		a.sinceSnap += h.bytes
		advanced = true
	}
	archived := a.st.Archived
	wantSnap := a.opts.SnapshotEveryBytes > 0 && a.sinceSnap >= a.opts.SnapshotEveryBytes
	if advanced {
		// Move the hold before anyone waiting learns of the progress, so
		// a TruncateFront after Flush returns is not refused.
		a.log.Hold(a.opts.Holder, archived+1)
		a.notify()
	}
	a.mu.Unlock()
	if wantSnap {
		a.requestSnapshot()
	}
	return archived
}

// resume finds where the archive of this log ends: it makes sure the
// timeline of epoch exists, and returns the first LSN the log holds that
// the archive does not.
func (a *Archiver) resume(ctx context.Context, epoch uint64) (wal.LSN, error) {
	v, err := loadView(ctx, a.store)
	if err != nil {
		return 0, err
	}
	if err := a.checkDeposed(v, epoch); err != nil {
		return 0, err
	}
	fork, err := a.forkPoint(epoch)
	if err != nil {
		return 0, err
	}
	var hist timeline
	if len(v.hist.Epochs) > 0 && v.hist.epoch() == epoch {
		hist = v.hist
	} else if hist, err = a.startTimeline(ctx, epoch, fork); err != nil {
		return 0, err
	}
	v.hist = hist
	// Continue after the run of archived records that holds the log's
	// first record (or the archive's first, when retention has deleted
	// older objects than the log still holds).
	next := a.log.First()
	cov := v.covered()
	if len(cov) > 0 {
		next = max(next, cov[0][0])
	}
	for _, c := range cov {
		if c[0] <= next && next <= c[1] {
			next = c[1] + 1
		}
	}
	last := a.log.Last()
	if next > last+1 {
		// The archive is ahead of this log (it was restored from it):
		// nothing to ship until the log passes it.
		return 0, fmt.Errorf("archive: the archive holds records up to LSN %d, past the log's last LSN %d; open the archiver on a log restored to at least that point", next-1, last)
	}
	if c := cov; len(c) > 0 && a.log.First() > c[len(c)-1][1]+1 {
		a.lg.Warn("archive: records between the archive's end and the log's first record were never archived: point-in-time restore into that range needs a snapshot after it",
			"archive_end", c[len(c)-1][1], "log_first", a.log.First())
	}
	a.log.Hold(a.opts.Holder, next)
	a.mu.Lock()
	a.st.Resumed, a.st.Epoch, a.st.Archived = true, epoch, next-1
	a.notify()
	a.mu.Unlock()
	a.lg.Info("archive resumed", "epoch", epoch, "next_lsn", next, "timeline", hist.String())
	return next, nil
}

// deposedCheckInterval is how often an archiver without compaction looks
// for a newer timeline (with compaction, every compaction does).
const deposedCheckInterval = 30 * time.Second

// checkNewerTimeline fails with ErrDeposed if the archive has a timeline
// newer than the archiver's epoch. It lists only the epoch directories.
func (a *Archiver) checkNewerTimeline(ctx context.Context) error {
	a.mu.Lock()
	epoch, resumed := a.st.Epoch, a.st.Resumed
	a.mu.Unlock()
	if !resumed {
		return nil
	}
	dirs, err := a.store.ListObjects(ctx, archivePrefix, "/")
	if err != nil {
		return err
	}
	var newest []uint64
	for _, o := range dirs {
		if n, _, err := parseArchiveName(o.Name + timelineName); err == nil && o.IsDir && n.Epoch > epoch {
			newest = append(newest, n.Epoch)
		}
	}
	for _, e := range newest {
		if t, err := readTimeline(ctx, a.store, e); err == nil {
			return fmt.Errorf("%w: the archive has a timeline for epoch %d (%s), past this node's epoch %d", ErrDeposed, e, t, epoch)
		}
	}
	return nil
}

// checkDeposed fails if the archive has a timeline newer than epoch.
func (a *Archiver) checkDeposed(v *archiveView, epoch uint64) error {
	if len(v.hist.Epochs) > 0 && v.hist.epoch() > epoch {
		return fmt.Errorf("%w: the archive has a timeline for epoch %d (%s), past this node's epoch %d", ErrDeposed, v.hist.epoch(), v.hist, epoch)
	}
	return nil
}

// forkPoint is the last LSN of the log written before epoch began (the
// log's last LSN if no record of epoch exists yet): records carry their
// epoch and epochs never decrease along the log, so binary search finds it.
func (a *Archiver) forkPoint(epoch uint64) (wal.LSN, error) {
	lo, hi := a.log.First(), a.log.Last()+1 // find the first LSN in [lo, hi) with epoch >= epoch
	for lo < hi {
		mid := lo + (hi-lo)/2
		rec, err := a.recordAt(mid)
		if err != nil {
			return 0, fmt.Errorf("archive: read log at %d: %w", mid, err)
		}
		if rec.Epoch >= epoch {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo - 1, nil
}

// startTimeline writes the timeline object of epoch, forking after LSN
// fork from the history that the log's record at fork belongs to.
func (a *Archiver) startTimeline(ctx context.Context, epoch uint64, fork wal.LSN) (timeline, error) {
	v, err := loadView(ctx, a.store)
	if err != nil {
		return timeline{}, err
	}
	if err := a.checkDeposed(v, epoch); err != nil {
		return timeline{}, err
	}
	if len(v.hist.Epochs) > 0 && v.hist.epoch() == epoch {
		return v.hist, nil
	}
	parent := timeline{}
	if fork > 0 && fork >= a.log.First() {
		rec, err := a.recordAt(fork)
		if err != nil {
			return timeline{}, fmt.Errorf("archive: read log at %d: %w", fork, err)
		}
		p := rec.Epoch
		if b, ok := v.hist.bound(p); ok && b >= fork {
			parent = v.hist
		} else if t, err := readTimeline(ctx, a.store, p); err == nil {
			parent = t
		} else if errors.Is(err, ErrGap) {
			parent = timeline{Epochs: []uint64{p}, Forks: []wal.LSN{0}}
		} else {
			return timeline{}, err
		}
	} else if len(v.hist.Epochs) > 0 {
		parent = v.hist
	}
	var t timeline
	if len(parent.Epochs) == 0 {
		t = timeline{Epochs: []uint64{epoch}, Forks: []wal.LSN{0}}
	} else {
		t = parent.fork(epoch, fork)
	}
	name := timelineObject(epoch)
	if _, err := a.store.PutSealed(ctx, name, nil, encodeTimeline(t)); err != nil {
		if !isExists(err) {
			return timeline{}, fmt.Errorf("archive: write %s: %w", name, err)
		}
		// Written by an earlier run that died before it learned so.
		if t, err = readTimeline(ctx, a.store, epoch); err != nil {
			return timeline{}, err
		}
	}
	a.mu.Lock()
	a.st.Epoch = epoch
	a.mu.Unlock()
	a.lg.Info("archive timeline started", "epoch", epoch, "fork_lsn", fork, "timeline", t.String())
	return t, nil
}
