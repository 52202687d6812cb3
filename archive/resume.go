package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// depose records that a newer timeline exists (err wraps ErrDeposed),
// which stops archiving, and logs it once.
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

// resumeRetrying resumes, retrying with backoff while that fails; false
// if the archiver closed or was deposed first.
func (a *Archiver) resumeRetrying() (wal.LSN, bool) {
	for backoff := a.opts.MinBackoff; ; backoff = min(2*backoff, a.opts.MaxBackoff) {
		next, err := a.resume(a.ctx, a.log.Epoch())
		if err == nil {
			return next, true
		}
		if a.ctx.Err() != nil {
			return 0, false
		}
		a.fail(err)
		if errors.Is(err, ErrDeposed) {
			a.depose(err)
			return 0, false
		}
		a.lg.Warn("archive: cannot find where to resume; retrying", "err", err, "retry_in", backoff)
		if !a.sleep(backoff) {
			return 0, false
		}
	}
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
	// older objects than the log still holds). Each object of that run
	// is read and authenticated first: a name alone must not release
	// records from the log (anyone who can write to the bucket can plant
	// one). The run ends at the first object that does not authenticate.
	next := a.log.First()
	cov := v.covered()
	if len(cov) > 0 {
		next = max(next, cov[0][0])
	}
	// An object that does not authenticate is planned around (a planted
	// name claiming a wide range must not hide the real objects); one
	// that does not continue the chain ends the run.
	l := newLinker()
	authenticated := false // some object of the run was read and checked
	for start := next; ; {
		failed := false
		for _, pc := range v.planFrom(start).pieces {
			err := a.checkPiece(ctx, l, pc)
			if errors.Is(err, ErrBrokenChain) {
				// The archive holds another history's records at LSNs
				// this log holds: never count them as this log's.
				return 0, err
			}
			if err != nil {
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				a.lg.Warn("archive: an object on the history does not authenticate or does not continue it", "object", pc.seg.String(), "lsn", pc.lo, "err", err)
				if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrGap) {
					v.drop(pc.seg.segName)
					failed = true
				}
				break
			}
			next, start = pc.hi+1, pc.hi+1
			authenticated = true
		}
		if !failed {
			break
		}
	}
	if !authenticated {
		// Only names said where the archive starts (a planted name past
		// the log's first record would otherwise hold the archiver off):
		// nothing authentic is archived, so everything the log holds
		// ships.
		next = a.log.First()
	}
	var chain chainHash // a history that starts here starts the chain anew
	if l.known && l.at == next-1 {
		chain = l.chain
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
	if err := a.resumeAnchors(ctx, epoch, v, next, chain); err != nil {
		return 0, err
	}
	a.log.Hold(a.opts.Holder, next)
	a.mu.Lock()
	a.st.Resumed, a.st.Epoch, a.st.Archived = true, epoch, next-1
	a.chain = chain
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
	a.wrote(name, time.Time{}, 0)
	a.mu.Lock()
	a.st.Epoch = epoch
	a.mu.Unlock()
	a.lg.Info("archive timeline started", "epoch", epoch, "fork_lsn", fork, "timeline", t.String())
	return t, nil
}

// checkPiece authenticates piece pc of the resume plan and links it (see
// linker.check); where the log holds some of its records too, it reads
// the object once, links it from its records and compares them with the
// log's (matchLog).
func (a *Archiver) checkPiece(ctx context.Context, l *linker, pc piece) error {
	if max(pc.lo, a.log.First()) > min(pc.hi, a.log.Last()) {
		return l.check(ctx, a.store, pc)
	}
	seg, err := readSegment(ctx, a.store, pc.seg.segName)
	if err != nil {
		return err
	}
	if _, err := l.take(pc, seg); err != nil {
		return err
	}
	return a.matchLog(ctx, pc, seg)
}

// matchLog checks that piece pc, decoded as seg, holds the same records
// as the log where both have them (the caller checked they overlap): an authentic object of another history (a deposed
// primary's, an old copy's) must not count as this log's archive. A
// mismatch is an *ObjectError with ErrBrokenChain.
func (a *Archiver) matchLog(ctx context.Context, pc piece, seg segment) error {
	lo, hi := max(pc.lo, a.log.First()), min(pc.hi, a.log.Last())
	r := a.log.NewReader(lo)
	defer r.Close()
	for lsn := lo; lsn <= hi; lsn++ {
		rec, err := r.Next(ctx)
		if err != nil {
			return fmt.Errorf("archive: read log at %d: %w", lsn, err)
		}
		got := seg.recs[lsn-pc.seg.First]
		if got.Epoch != rec.Epoch || !got.Time.Equal(rec.Time) || !bytes.Equal(got.Data, rec.Data) {
			return &ObjectError{Object: pc.seg.String(), LSN: lsn, Err: ErrBrokenChain,
				Detail: fmt.Sprintf("its record %d differs from the log's: the archive holds another history; archiving stops until an operator resolves it (see verify)", lsn)}
		}
	}
	return nil
}
