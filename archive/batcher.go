package archive

import (
	"context"
	"errors"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// run resumes, then reads the log into batches and hands them to the
// uploaders, switching timelines when the log's epoch moves.
func (a *Archiver) run() {
	defer a.wg.Done()
	defer close(a.jobs)
	next, ok := a.resumeRetrying()
	if !ok {
		return
	}
	b := newBatcher(a, next)
	defer b.close()
	for a.ctx.Err() == nil {
		flush, deposed := a.flushState()
		if deposed != nil {
			return // a newer primary archives the history now
		}
		now, last := a.opts.Now(), a.log.Last()
		atTail := b.atTail(last)
		if atTail && flush && b.empty() {
			a.setFlushReq(false) // nothing pending: Flush waits for uploads
		}
		b.warnLag(now, last)
		if b.due(now, atTail, flush) {
			if atTail {
				a.setFlushReq(false)
			}
			if !b.ship() {
				return
			}
			continue
		}
		rec, ok, err := b.wait(now, atTail)
		if err != nil {
			a.fail(err)
			a.lg.Error("archive: cannot read the log; archiving stopped", "lsn", b.next, "err", err)
			return
		}
		if !ok {
			continue // closed, due or flushed: look again
		}
		if !b.switchEpoch(rec) {
			return
		}
		b.add(rec)
	}
}

// batcher reads the log from where the archive ends and cuts its records
// into objects for the uploaders. Only the run goroutine uses it.
type batcher struct {
	a        *Archiver
	r        *wal.Reader
	next     wal.LSN      // the next LSN to read
	recs     []wal.Record // read and not yet shipped, in LSN order
	arena    []byte       // their data (records of an arena outgrown keep the old one)
	chain    chainHash    // the chain before recs[0] (after the last record shipped)
	bytes    int          // payload bytes of recs
	lastWarn time.Time    // when the lag was last logged
	enc      *segEncoder
}

// newBatcher starts reading a's log at next.
func newBatcher(a *Archiver, next wal.LSN) *batcher {
	a.mu.Lock()
	chain := a.chain
	a.mu.Unlock()
	return &batcher{a: a, r: a.log.NewReader(next), next: next, chain: chain, enc: &segEncoder{opaque: a.opts.Opaque}}
}

// close releases the log reader.
func (b *batcher) close() { b.r.Close() }

// empty reports whether no record waits to be shipped.
func (b *batcher) empty() bool { return len(b.recs) == 0 }

// add appends rec, the log's record at b.next, to the batch, its data
// copied into the batch's arena (rec's may be a reader's view).
func (b *batcher) add(rec wal.Record) {
	start := len(b.arena)
	b.arena = append(b.arena, rec.Data...)
	rec.Data = b.arena[start:len(b.arena):len(b.arena)]
	b.recs = append(b.recs, rec)
	b.bytes += len(rec.Data)
	b.next = rec.LSN + 1
}

// atTail reports whether every record up to last has been read (the
// batch, if any, ends at b.next-1).
func (b *batcher) atTail(last wal.LSN) bool { return b.next > last }

// age is how long ago the batch's oldest record was appended; the batch
// must not be empty.
func (b *batcher) age(now time.Time) time.Duration { return now.Sub(b.recs[0].Time) }

// due reports whether the batch ships now: MaxObjectBytes are pending, or
// the log's tail is read and a Flush asked or the oldest record is half
// the interval old.
func (b *batcher) due(now time.Time, atTail, flush bool) bool {
	if b.empty() {
		return false
	}
	o := &b.a.opts
	return b.bytes >= o.MaxObjectBytes || atTail && (flush || b.age(now) >= b.interval()/2)
}

// interval is the ship interval in force: IdleShipInterval while the
// batch is smaller than IdleBytes (the log is quiet), else ShipInterval.
func (b *batcher) interval() time.Duration {
	o := &b.a.opts
	if o.IdleShipInterval > 0 && b.bytes < o.IdleBytes {
		return o.IdleShipInterval
	}
	return o.ShipInterval
}

// warnLag logs a warning, at most once per LagWarning, while the batch's
// oldest record is older than LagWarning.
func (b *batcher) warnLag(now time.Time, last wal.LSN) {
	a := b.a
	if b.empty() {
		return
	}
	age := b.age(now)
	// A quiet batch waits up to the bound by design: no warning then.
	limit := max(a.opts.LagWarning, a.opts.bound())
	if age > limit && now.Sub(b.lastWarn) > a.opts.LagWarning {
		b.lastWarn = now
		a.lg.Warn("archive is behind the log", "lag", age.Round(time.Millisecond), "archived", a.Status().Archived, "last", last)
	}
}

// ship encodes the batch as one object of the current epoch and hands it
// to the uploaders; false if archiving must stop (the records do not
// encode, or the archiver closed).
func (b *batcher) ship() bool {
	if b.empty() {
		return true
	}
	a := b.a
	seg, err := encodeSegment(a.epoch(), b.chain, b.recs, b.enc)
	if err != nil {
		a.fail(err)
		a.lg.Error("archive: cannot encode records", "err", err)
		return false
	}
	b.chain = seg.end
	u := &upload{name: seg.name, prefix: seg.prefix, body: seg.body, prev: seg.prev, end: seg.end, bytes: int64(b.bytes), lastTime: b.recs[len(b.recs)-1].Time}
	a.mu.Lock()
	a.inflight = append(a.inflight, u)
	a.mu.Unlock()
	clear(b.recs) // no reference to an outgrown arena stays
	b.recs, b.bytes, b.arena = b.recs[:0], 0, b.arena[:0]
	select {
	case a.jobs <- u:
		return true
	case <-a.ctx.Done():
		return false
	}
}

// wait reads the log's next record, waiting until the batch falls due
// (then it asks for a flush) or a Flush asks; ok is false if it returns
// without a record, err is set if the log cannot be read.
func (b *batcher) wait(now time.Time, atTail bool) (rec wal.Record, ok bool, err error) {
	a := b.a
	if !atTail {
		// The record is in the log: nothing to wait for, nor to cancel.
		rec, err = b.r.NextView(a.ctx)
		if err != nil && a.ctx.Err() != nil {
			return rec, false, nil
		}
		return rec, err == nil, err
	}
	var (
		waitCtx context.Context
		cancel  context.CancelFunc
	)
	if !b.empty() && atTail {
		waitCtx, cancel = context.WithDeadline(a.ctx, time.Now().Add(b.interval()/2-b.age(now)))
	} else {
		waitCtx, cancel = context.WithCancel(a.ctx)
	}
	a.mu.Lock()
	a.waitCancel = cancel
	if a.flushReq && atTail {
		cancel()
	}
	a.mu.Unlock()
	rec, err = b.r.NextView(waitCtx)
	a.mu.Lock()
	a.waitCancel = nil
	a.mu.Unlock()
	waited := waitCtx.Err() // before cancel: whether the wait, not the log, ended Next
	cancel()
	switch {
	case err == nil:
		return rec, true, nil
	case a.ctx.Err() != nil:
		return rec, false, nil // the archiver closed: run's loop ends
	case waited != nil:
		if errors.Is(waited, context.DeadlineExceeded) {
			a.setFlushReq(true) // the batch is due
		}
		return rec, false, nil
	}
	return rec, false, err
}

// switchEpoch lets rec through if it belongs to the epoch being archived;
// a record of a newer epoch (a new primary) first has the batch, the old
// epoch's records, shipped and archived, then the new timeline started.
// False if archiving must stop.
func (b *batcher) switchEpoch(rec wal.Record) bool {
	a := b.a
	if rec.Epoch <= a.epoch() {
		return true
	}
	if !b.ship() || !a.waitArchived(rec.LSN-1) {
		return false
	}
	if _, err := a.startTimeline(a.ctx, rec.Epoch, rec.LSN-1); err != nil {
		a.fail(err)
		a.lg.Error("archive: cannot start the new timeline; archiving stopped", "epoch", rec.Epoch, "err", err)
		if errors.Is(err, ErrDeposed) {
			a.depose(err)
		}
		return false
	}
	return true
}

// waitArchived waits until everything up to lsn is archived; false if the
// archiver closed first.
func (a *Archiver) waitArchived(lsn wal.LSN) bool {
	for {
		a.mu.Lock()
		done := a.st.Archived >= lsn
		ch := a.changed.Changed()
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
