package continuity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/internal/watermark"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// Capturer is an optional capability of a StateMachine: a two-phase
// snapshot, as hashicorp/raft's FSM.Snapshot and FSMSnapshot.Persist.
// Capture is called with applying paused and must return quickly a
// consistent view of the state as it is at that moment (a copy, a
// copy-on-write or immutable structure); write is then called once,
// concurrently with Apply, and streams that view into the base
// snapshot. A state machine without Capture keeps applying paused until
// its Snapshot has written the whole state.
type Capturer interface {
	Capture() (write func(w io.Writer) error, err error)
}

// applier owns applying the log to the host's state machine: every
// record is applied once, in LSN order, under one lock, by whoever
// brings it first — the apply loop (records the primary acknowledged,
// or that a restarted node holds) or a standby's stream (applier.Apply).
// Nobody else calls the host's StateMachine.
type applier struct {
	sm  *hostState
	log *wal.Log
	lg  *slog.Logger

	// mu is held while the state machine applies, restores, or captures
	// (for the whole write when it cannot Capture), so that a position
	// and the state always agree.
	mu sync.Mutex
	// failed is the state machine's error that stopped applying: set
	// under mu, read without it, so that probes answer while a slow
	// Apply holds mu.
	failed atomic.Pointer[error]
	// stopped is closed once failed is set: WaitFor returns then.
	stopped chan struct{}
	// rebased: the state was restored (or discarded) and Rebase has not
	// told its LSN yet. Changed under mu; atomic so that positions and
	// readiness read it without waiting for a snapshot that holds mu.
	rebased atomic.Bool

	rebasing watermark.Signal // broadcast when Rebase ends a rebase

	applied watermark.Mark[wal.LSN] // the last LSN the state holds
	acked   watermark.Mark[wal.LSN] // the loop may apply records up to here
}

func newApplier(log *wal.Log, sm *hostState, lg *slog.Logger) *applier {
	return &applier{sm: sm, log: log, lg: lg, stopped: make(chan struct{})}
}

// run applies acknowledged records from the log until ctx is done or the
// state machine fails.
func (a *applier) run(ctx context.Context) {
	var rd logReader
	defer rd.close()
	for {
		acked := a.acked.Changed() // before the Loads: a move between them is not missed
		next, to := a.applied.Load()+1, a.acked.Load()
		if next > to {
			select {
			case <-acked:
			case <-ctx.Done():
				return
			}
			continue
		}
		err := a.applyFromLog(ctx, &rd, next, to)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrStateFailed):
			return
		case errors.Is(err, errRebasing):
			select { // until Rebase tells where the restored state is
			case <-a.rebasedCh():
			case <-ctx.Done():
				return
			}
		case errors.Is(err, wal.ErrTruncated):
			// The log was cut under the reader (a standby restarted it
			// after a base snapshot): read the positions again.
		default:
			a.lg.Error("cannot read the log to apply it; retrying", "lsn", next, "err", err)
			select { // a retry's backoff, not a synchronization
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}

// ErrStateFailed wraps why the state could not apply a record: the
// error the host's StateMachine returned from Apply (ApplyTenant,
// DropTenant), or a tenant record that does not parse. The node applies
// nothing more: WaitFor returns it, Live and Healthy report it, and in
// a cluster the node reports itself unhealthy (a primary resigns). The
// log keeps every record: fix the state machine and restart the node,
// which rebuilds the state from its base snapshot and the log.
var ErrStateFailed = errors.New("continuity: the state machine failed")

// stoppedReason is how Ready, Live and Healthy name a failed state
// machine: the same words, so that /readyz lists it once.
func stoppedReason(err error) string { return "the state machine stopped: " + err.Error() }

// errRebasing: the state was restored from a base snapshot and its LSN is
// not known yet (between Restore and Rebase); nothing is applied.
var errRebasing = errors.New("continuity: the state is being restored from a base snapshot")

// applyFromLog applies the log's records from through to (those not
// applied yet), read with rd.
func (a *applier) applyFromLog(ctx context.Context, rd *logReader, from, to wal.LSN) error {
	r := rd.at(a.log, from)
	for lsn := from; lsn <= to; lsn++ {
		rec, err := r.NextView(ctx)
		if err != nil {
			rd.close()
			return err
		}
		rd.next = lsn + 1
		if rec.Kind != tenant.KindSealed {
			// The host keeps what it is given; a sealed event is opened
			// into memory of its own, and nothing keeps the envelope.
			rec.Data = bytes.Clone(rec.Data)
		}
		a.mu.Lock()
		err = a.applyLocked(rec)
		a.mu.Unlock()
		if err != nil {
			rd.close()
			return err
		}
	}
	return nil
}

// logReader is a log reader kept from one call of applyFromLog to the
// next while each starts where the last ended: the apply loop wakes once
// per group commit, and opening a reader (its segment file) each time
// cost more than applying a small batch.
type logReader struct {
	r    *wal.Reader
	next wal.LSN // the LSN r returns next
}

// at returns a reader whose next record is lsn.
func (rd *logReader) at(log *wal.Log, lsn wal.LSN) *wal.Reader {
	if rd.r == nil || rd.next != lsn {
		rd.close()
		rd.r, rd.next = log.NewReader(lsn), lsn
	}
	return rd.r
}

// close releases the reader, if any.
func (rd *logReader) close() {
	if rd.r != nil {
		rd.r.Close()
		rd.r = nil
	}
}

// applyLocked applies rec unless the state already holds it. Caller
// holds a.mu.
func (a *applier) applyLocked(rec wal.Record) error {
	if err := a.err(); err != nil {
		return err
	}
	if a.rebased.Load() {
		return errRebasing
	}
	applied := a.applied.Load()
	if rec.LSN <= applied {
		return nil // applied already, by the other path
	}
	if rec.LSN != applied+1 {
		return fmt.Errorf("continuity: apply LSN %d: the state holds up to %d", rec.LSN, applied)
	}
	if err := a.sm.Apply(rec); err != nil {
		failed := fmt.Errorf("%w at LSN %d: %w", ErrStateFailed, rec.LSN, err)
		a.failed.Store(&failed)
		close(a.stopped) // once: nothing is applied after a failure
		a.lg.Error("the state machine failed; applying stopped", "lsn", rec.LSN, "err", err)
		return failed
	}
	a.applied.Advance(rec.LSN)
	return nil
}

// Snapshot writes the state (a standby does not take base snapshots; the
// archive's capture goes through capture).
func (a *applier) Snapshot(w io.Writer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sm.Snapshot(w)
}

// Restore replaces the state with a base snapshot's (a standby
// bootstrapping from the archive). Nothing is applied until Rebase tells
// the snapshot's LSN.
func (a *applier) Restore(r io.Reader) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.sm.Restore(r); err != nil {
		return err
	}
	a.rebased.Store(true)
	return nil
}

// rebasedCh is closed once the state is no longer being rebased (it may
// be already).
func (a *applier) rebasedCh() <-chan struct{} {
	ch := a.rebasing.Changed()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.rebased.Load() {
		done := make(chan struct{})
		close(done)
		return done
	}
	return ch
}

// Rebase tells the LSN of the base snapshot Restore read
// (replication.Rebaser): the state holds every record up to it.
func (a *applier) Rebase(lsn wal.LSN) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rebased.Store(false)
	a.rebasing.Broadcast()
	a.applied.Set(lsn)
	if a.acked.Load() < lsn {
		a.acked.Set(lsn)
	}
}

// start sets where the state is when the node opens: every record up to
// applied (a base snapshot restored from the archive).
func (a *applier) start(applied wal.LSN) {
	a.applied.Set(applied)
	a.acked.Advance(applied)
}

// acknowledge lets the loop apply records up to lsn.
func (a *applier) acknowledge(lsn wal.LSN) { a.acked.Advance(lsn) }

// Applied is the last LSN the state holds.
func (a *applier) Applied() wal.LSN { return a.applied.Load() }

// WaitFor waits until the state holds lsn.
func (a *applier) WaitFor(ctx context.Context, lsn wal.LSN) error {
	switch applied, err := a.waitApplied(lsn, ctx.Done(), false); {
	case err != nil:
		return fmt.Errorf("continuity: LSN %d will not be applied: %w", lsn, err)
	case !applied:
		return ctx.Err()
	}
	return nil
}

// waitApplied waits until the state holds lsn (applied), the state
// machine fails (its error), or done is closed (neither). With
// rebasing, it also ends with errRebasing once the state awaits a base
// snapshot's position (Discard, Restore).
func (a *applier) waitApplied(lsn wal.LSN, done <-chan struct{}, rebasing bool) (applied bool, err error) {
	for {
		moved := a.applied.Changed() // before the Load: a move between them is not missed
		if a.applied.Load() >= lsn {
			return true, nil
		}
		if err := a.err(); err != nil {
			return false, err
		}
		if rebasing && a.rebased.Load() {
			return false, errRebasing
		}
		select {
		case <-moved:
		case <-a.stopped:
		case <-done:
			return false, nil
		}
	}
}

// err is the state machine's failure, if applying stopped.
func (a *applier) err() error {
	if p := a.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// capture is the archiver's CaptureFunc: the LSN and a consistent view
// of the state at it. With a Capturer, applying pauses only for Capture;
// otherwise until the returned write has run.
func (a *applier) capture(ctx context.Context) (wal.LSN, func(io.Writer) error, error) {
	a.mu.Lock()
	lsn := a.applied.Load()
	if write, ok, err := a.sm.capture(); ok {
		a.mu.Unlock()
		if err != nil {
			return 0, nil, fmt.Errorf("continuity: capture the state: %w", err)
		}
		return lsn, write, nil
	}
	var once sync.Once
	return lsn, func(w io.Writer) error {
		defer once.Do(a.mu.Unlock)
		return a.sm.Snapshot(w)
	}, nil
}

// Discard marks the state as not the history's (replication.Discarder):
// it applied records the history cut, and nothing rebuilds it but a
// state transfer (Restore, then Rebase). Until then nothing is applied,
// Applied is 0 and WaitFor does not return.
func (a *applier) Discard() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rebased.Store(true)
	a.applied.Set(0)
	a.acked.Set(0)
}

// discarded reports whether the state waits for a state transfer (or a
// base snapshot's Rebase). It never waits for mu.
func (a *applier) discarded() bool { return a.rebased.Load() }

// rewind brings the state back to point, the end of the cluster's
// history after a rejoin cut the log there: nothing past point is
// applied from now on, and a state that already applied cut records is
// rebuilt from the archive's base snapshot at or before point plus the
// events up to it. When the archive cannot, the state is discarded
// (errNeedState): only the primary's state replaces it.
func (a *applier) rewind(ctx context.Context, store archive.Store, point wal.LSN) error {
	a.mu.Lock()
	if a.acked.Load() > point {
		a.acked.Set(point)
	}
	applied := a.applied.Load()
	if applied <= point {
		a.mu.Unlock()
		return nil
	}
	res, err := archive.RestoreTo(ctx, store, archive.AtLSN(point), a.sm, archive.RestoreOptions{})
	if err == nil && !res.Snapshot.IsZero() {
		a.applied.Set(res.LSN)
		a.mu.Unlock()
		return nil
	}
	a.mu.Unlock()
	a.Discard()
	a.lg.Info("the state applied records the cluster's history cut, and the archive cannot rebuild it; the primary will send its state",
		"applied", applied, "cut_at", point, "archive", errors.Join(err, errors.New("no base snapshot at or before the cut")))
	return errNeedState
}

// errNeedState: the state was discarded; a state transfer rebuilds it.
var errNeedState = errors.New("continuity: the state must be rebuilt by a state transfer from the primary")
