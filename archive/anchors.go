package archive

import (
	"context"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// The archiver's side of the head and the pin (head.go): at resume it
// pins an empty archive's first record and learns the newest head; then
// a goroutine writes a head whenever the archived point moved, at most
// once per ShipInterval (IdleShipInterval if set), and at once when a
// Flush waits for it.

// anchorState is the archiver's knowledge of the heads. Guarded by a.mu.
type anchorState struct {
	seq     uint64    // newest head sequence number written or found
	lsn     wal.LSN   // the LSN of the newest head of this epoch
	written time.Time // when this archiver last wrote a head
	old     []uint64  // older head sequence numbers, to delete
	want    wal.LSN   // a Flush waits for a head at or past this LSN
}

// resumeAnchors reads the newest head and pin at resume; with no object
// on the history and no pin, it pins next (with the chain before it) as
// the archive's first record.
func (a *Archiver) resumeAnchors(ctx context.Context, epoch uint64, v *archiveView, next wal.LSN, chain chainHash) error {
	hd, found, heads, err := readHead(ctx, a.store)
	if err != nil {
		return err
	}
	a.mu.Lock()
	// Sequence numbers continue from the newest head that authenticates;
	// names planted above it are skipped when written into.
	a.heads = anchorState{old: heads.seqs}
	if found {
		a.heads.seq = hd.Seq
		if hd.Epoch == epoch {
			a.heads.lsn = hd.LSN
		}
	}
	a.mu.Unlock()
	if !found {
		// The first head, before any object: an archive with objects
		// and no head then means its heads were deleted.
		var at time.Time
		if next > 1 {
			if rec, err := a.recordAt(next - 1); err == nil {
				at = rec.Time
			}
		}
		a.mu.Lock()
		a.st.Epoch, a.st.Archived, a.st.ArchivedTime, a.chain = epoch, next-1, at, chain
		a.mu.Unlock()
		if err := a.writeHead(ctx); err != nil {
			return err
		}
	}
	cur, hasPin, _, err := readPin(ctx, a.store)
	if err != nil {
		return err
	}
	switch {
	case hasPin:
	case len(v.valid()) == 0:
		p := pin{LSN: next, Prev: chain, Written: a.opts.Now()}
		seq, err := writeAnchor(ctx, a.store, pinPrefix, cur.Seq, func(seq uint64) []byte { p.Seq = seq; return encodePin(p) })
		if err != nil {
			return err
		}
		// The copies' first whole copy may have listed the archive
		// before this: without the pin a copy does not verify.
		a.wrote(anchorName(pinPrefix, seq), time.Time{}, 0)
		a.lg.Info("archive pinned its first record", "lsn", next)
	default:
		a.lg.Warn("archive: no pin records where the archive's history starts; verify reports it (was it deleted?)")
	}
	return nil
}

// headWriter writes heads until the archiver closes.
func (a *Archiver) headWriter() {
	defer a.wg.Done()
	backoff := a.opts.MinBackoff
	for {
		a.mu.Lock()
		due, wait := a.headDue()
		ch := a.changed.Changed()
		a.mu.Unlock()
		if due {
			if err := a.writeHead(a.ctx); err != nil {
				if a.ctx.Err() != nil {
					return
				}
				a.fail(err)
				a.lg.Warn("archive: cannot write the head object; retrying", "err", err, "retry_in", backoff)
				if !a.sleep(backoff) {
					return
				}
				backoff = min(2*backoff, a.opts.MaxBackoff)
				continue
			}
			backoff = a.opts.MinBackoff
			continue
		}
		if wait <= 0 {
			wait = time.Hour // nothing due: a change wakes us
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
		case <-t.C:
		case <-a.ctx.Done():
			t.Stop()
			return
		}
		t.Stop()
	}
}

// headDue reports whether a head should be written now, or else how long
// until one may be (0: wait for a change). Caller holds a.mu.
func (a *Archiver) headDue() (bool, time.Duration) {
	if !a.st.Resumed || a.st.Deposed != nil || a.st.Archived <= a.heads.lsn {
		return false, 0
	}
	if a.heads.want > a.heads.lsn {
		return true, 0
	}
	wait := a.opts.bound() - a.opts.Now().Sub(a.heads.written)
	return wait <= 0, wait
}

// writeHead writes a head for the archived point and deletes heads older
// than the last keepAnchors.
func (a *Archiver) writeHead(ctx context.Context) error {
	a.mu.Lock()
	h := head{Epoch: a.st.Epoch, LSN: a.st.Archived, Time: a.st.ArchivedTime, Chain: a.chain, Written: a.opts.Now()}
	after := a.heads.seq
	a.mu.Unlock()
	seq, err := writeAnchor(ctx, a.store, headPrefix, after, func(seq uint64) []byte { h.Seq = seq; return encodeHead(h) })
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.heads.seq, a.heads.lsn, a.heads.written = seq, h.LSN, h.Written
	a.heads.old = append(a.heads.old, seq)
	var drop []uint64
	if n := len(a.heads.old) - 1 - keepAnchors; n > 0 {
		drop = append(drop, a.heads.old[:n]...)
		a.heads.old = a.heads.old[n:]
	}
	a.st.HeadLSN, a.st.HeadWritten = h.LSN, h.Written
	a.notify()
	a.mu.Unlock()
	a.wrote(anchorName(headPrefix, seq), time.Time{}, h.LSN)
	for _, s := range drop {
		deleted, err := a.deleteOwn(ctx, anchorName(headPrefix, s))
		if err != nil && ctx.Err() == nil {
			a.lg.Warn("archive: cannot delete an old head object; the next head write tries again", "object", anchorName(headPrefix, s), "err", err)
		}
		if err != nil || !deleted {
			// Tried again at the next head write. A deferred delete keeps
			// only this one, standing for the rest: a prune deletes
			// every old head.
			a.mu.Lock()
			a.heads.old = append([]uint64{s}, a.heads.old...)
			a.mu.Unlock()
			break
		}
	}
	return nil
}
