package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/internal/watermark"
	"github.com/continuity-go/continuity/internal/wire"
	"github.com/continuity-go/continuity/peer"
	"github.com/continuity-go/continuity/wal"
)

// StandbyOptions configures a Standby.
type StandbyOptions struct {
	// Transport is the dialing side's TLS and handshake setup.
	Transport Options
	// Node is this node's ID (with TLS, the certificate's).
	Node string
	// Primary is the primary's address.
	Primary string
	// PrimaryNode, if set, is the primary's node ID: a peer at Primary
	// whose certificate names another node is refused (wire.ErrWrongPeer).
	PrimaryNode string
	// Applied is the last LSN the state machine already holds when the
	// Standby starts (0 for an empty state, or a restored snapshot's
	// LSN). Records after it in the local WAL are applied first.
	Applied wal.LSN
	// Timeout is how long the standby waits for a frame (records or the
	// primary's heartbeat) before it drops the connection and
	// reconnects. Default 5 s; keep it a few times the primary's
	// PrimaryOptions.Heartbeat.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts (doubling, with jitter). Defaults 50 ms and 2 s.
	MinBackoff, MaxBackoff time.Duration
	// FlushDelay is how long the standby may keep records written to
	// its WAL before it syncs them, when no synchronous Append waits on
	// them (the primary marks those frames FlagSync, and they are synced
	// at once): one fdatasync then covers every frame of the interval,
	// which keeps an asynchronous standby's cost to a shared disk, and
	// its CPU, low. Records count as flushed (in acks and State) and are
	// applied only once synced, so the lag of an asynchronous standby
	// grows by up to FlushDelay. Default 2 ms; negative syncs every frame
	// as it arrives.
	FlushDelay time.Duration
	// Archive, if set, is the repository whose WAL archive the standby
	// catches up from when the primary no longer holds the records it
	// needs (the primary refuses it with RejectBehind): it replays the
	// archived records after its last LSN into its WAL and state machine,
	// or, when the archive no longer holds them either, restores the
	// newest base snapshot (StateMachine.Restore), restarts its WAL after
	// the snapshot's LSN and replays from there; then it streams again.
	Archive archive.Store
	// NeedState makes the standby ask the primary for its state (a state
	// transfer) before any record: its state machine holds records the
	// history does not (or nothing the log can be applied on). The state
	// is spooled in SpoolDir (default os.TempDir()) and checked before it
	// is restored.
	NeedState bool
	SpoolDir  string
	// Logger receives connection events. nil discards them.
	Logger *slog.Logger
}

// Standby follows a primary: it writes the primary's records to its own
// WAL (keeping their LSN, epoch and time), applies them to the state
// machine, acknowledges its positions, and reconnects with backoff when
// the connection fails.
type Standby struct {
	log  *wal.Log
	sm   archive.StateMachine
	opts StandbyOptions
	lg   *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// applied is changed only in notify, which publishes it to
	// appliedMark.
	applied  wal.LSN
	received wal.LSN
	// committed is the primary's durable LSN as last heard: records
	// past it are applied only once it reaches them.
	committed wal.LSN
	// queue holds records written but not yet applied, for the flusher;
	// dirty is when the first record not yet synced was written (zero
	// when none is).
	queue     []wal.Record
	dirty     time.Time
	connected bool
	// confirmed: a primary accepted this standby's log as a prefix of
	// its own (or sent its state); needState: a state transfer is due.
	confirmed, needState bool
	primary              peer.Identity
	err                  error // fatal: the state machine failed; set by fail
	// appliedMark is applied as WaitFor sees it: notify sets it under mu,
	// so it moves in the order applied does.
	appliedMark watermark.Mark[wal.LSN]
	failed      chan struct{} // closed by fail, once err is set

	ackMu  sync.Mutex // serializes acks (see ack)
	ackBuf []byte
}

// StandbyState is a Standby's view of itself.
type StandbyState struct {
	Connected bool          // streaming from a primary now
	Primary   peer.Identity // the primary last connected to
	// Received, Flushed and Applied are its positions; Flushed is the
	// local WAL's last durable LSN (wal.Log.Synced).
	Received, Flushed, Applied wal.LSN
	Epoch                      uint64 // the local WAL's epoch
	// Confirmed is true once a primary accepted this standby's log as
	// part of its history (or sent its state): before, nothing past
	// StandbyOptions.Applied is applied.
	Confirmed bool
	// NeedState is true while a state transfer is due.
	NeedState bool
	// Err is set when the state machine failed and the standby stopped.
	Err error
}

// NewStandby applies what the local WAL holds past opts.Applied, then
// starts following the primary in the background.
func NewStandby(log *wal.Log, sm archive.StateMachine, opts StandbyOptions) (*Standby, error) {
	if opts.Node == "" || opts.Primary == "" {
		return nil, errors.New("replication: StandbyOptions.Node and .Primary are required")
	}
	if err := opts.Transport.Validate(); err != nil {
		return nil, err
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 2 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.FlushDelay == 0 {
		opts.FlushDelay = 2 * time.Millisecond
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	s := &Standby{log: log, sm: sm, opts: opts, lg: lg.With("component", "replication", "role", "standby"),
		applied: opts.Applied, received: log.Last(), committed: opts.Applied, needState: opts.NeedState, failed: make(chan struct{})}
	s.appliedMark.Set(opts.Applied)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := s.applyLocal(ctx); err != nil {
		cancel()
		return nil, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx)
	}()
	return s, nil
}

// applyLocal syncs what was written without a sync and applies what it
// can (what a primary committed): at start, and before each reconnection (a connection may fail between writing a
// batch and applying it).
func (s *Standby) applyLocal(ctx context.Context) error {
	if err := s.log.Sync(); err != nil {
		return err
	}
	return s.apply(ctx)
}

// apply applies the records past the applied position that are synced
// and that the primary has committed: from the queue the connection's
// goroutine filled, or, for records written before it (by an earlier
// connection), from the local WAL.
func (s *Standby) apply(ctx context.Context) error {
	s.mu.Lock()
	if s.needState { // the state is being replaced: nothing applies on it
		s.mu.Unlock()
		return nil
	}
	applied, to := s.applied, min(s.committed, s.log.Synced())
	i := 0
	for i < len(s.queue) && s.queue[i].LSN <= applied {
		i++
	}
	s.queue = s.queue[i:]
	var recs []wal.Record
	if len(s.queue) > 0 && s.queue[0].LSN == applied+1 {
		n := 0
		for n < len(s.queue) && s.queue[n].LSN <= to {
			n++
		}
		recs = s.queue[:n:n]
		s.queue = s.queue[n:]
	}
	s.mu.Unlock()
	if applied >= to {
		return nil
	}
	applied, err := s.applyThrough(ctx, applied, to, recs)
	s.notify(func() { s.applied = applied })
	return err
}

// applyThrough applies the records after applied through to, which the
// local WAL holds and has synced, and returns the last LSN applied: with
// LogApplier, all of them; otherwise one by one, from recs if it is not
// empty (the records after applied, in order, as far as they reach), or
// else from the WAL.
func (s *Standby) applyThrough(ctx context.Context, applied, to wal.LSN, recs []wal.Record) (wal.LSN, error) {
	if la, ok := s.sm.(LogApplier); ok {
		if err := la.ApplyThrough(to); err != nil {
			return applied, &applyError{fmt.Errorf("replication: apply LSN %d-%d: %w", applied+1, to, err)}
		}
		return to, nil
	}
	var r *wal.Reader
	if len(recs) == 0 {
		r = s.log.NewReader(applied + 1)
		defer r.Close()
	}
	for applied < to && (r != nil || len(recs) > 0) {
		var rec wal.Record
		if r != nil {
			var err error
			if rec, err = r.Next(ctx); err != nil {
				return applied, err
			}
		} else {
			rec, recs = recs[0], recs[1:]
		}
		if err := s.sm.Apply(rec); err != nil {
			return applied, &applyError{fmt.Errorf("replication: apply LSN %d: %w", rec.LSN, err)}
		}
		applied = rec.LSN
	}
	return applied, nil
}

// Close stops following and waits for the background goroutine.
func (s *Standby) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// State returns the standby's positions.
func (s *Standby) State() StandbyState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StandbyState{Connected: s.connected, Primary: s.primary, Received: s.received,
		Flushed: s.log.Synced(), Applied: s.applied, Epoch: s.log.Epoch(), Confirmed: s.confirmed, NeedState: s.needState, Err: s.err}
}

// WaitFor waits until the state machine has applied lsn (read-your-writes:
// a client that wrote at LSN x on the primary reads here after WaitFor(x)),
// until ctx is done, or until the standby failed.
func (s *Standby) WaitFor(ctx context.Context, lsn wal.LSN) error {
	for {
		ch := s.appliedMark.Changed() // before Load: a move between is not missed
		applied := s.appliedMark.Load()
		if applied >= lsn {
			return nil
		}
		// A failure ends the wait only short of lsn: what was applied
		// before it still counts.
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-s.failed:
		case <-ctx.Done():
			return fmt.Errorf("replication: applied LSN %d, waiting for %d: %w", applied, lsn, context.Cause(ctx))
		}
	}
}

// notify runs f, which changes the standby's positions (applied,
// received, committed) or connection state, under mu, and wakes the
// WaitFor calls whose LSN applied now reaches.
func (s *Standby) notify(f func()) {
	s.mu.Lock()
	f()
	// Set, not Advance: the mark mirrors applied, even if f moves it back.
	s.appliedMark.Set(s.applied)
	s.mu.Unlock()
}

// fail records the state machine's failure and ends every WaitFor. Only
// run calls it, once, and stops.
func (s *Standby) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.failed)
}

func (s *Standby) run(ctx context.Context) {
	backoff := s.opts.MinBackoff
	for ctx.Err() == nil {
		streamed, err := s.follow(ctx)
		s.notify(func() { s.connected = false })
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errCutUnapplied) {
			continue // reconnect at once, from the cut
		}
		var rej *wire.RejectError
		if errors.As(err, &rej) && rej.Code == wire.RejectBehind && s.opts.Archive != nil {
			s.lg.Info("primary no longer holds the records this standby needs; catching up from the archive", "reason", rej.Reason)
			if err = s.bootstrap(ctx); err == nil {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			s.lg.Warn("catching up from the archive failed; retrying", "err", err)
		}
		var fatal *applyError
		if errors.As(err, &fatal) {
			s.lg.Error("state machine failed; standby stopped", "err", err)
			s.fail(err)
			return
		}
		if streamed {
			backoff = s.opts.MinBackoff
		}
		s.lg.Info("connection to primary ended; reconnecting", "err", err, "in", backoff)
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// errCutUnapplied: the primary refused the standby's log as diverged,
// and the standby cut the records it had not applied.
var errCutUnapplied = errors.New("replication: cut the records not yet applied, which the primary does not hold")

// hello is the standby's handshake: who it is and its last record.
func (s *Standby) hello(ctx context.Context) (wire.Hello, error) {
	h := wire.Hello{Node: s.opts.Node, Epoch: s.log.Epoch(), LastLSN: s.log.Last()}
	s.mu.Lock()
	if s.needState {
		h.Want = wire.WantState
	}
	applied := s.applied
	s.mu.Unlock()
	if h.LastLSN < s.log.First() {
		// No record: the state (a base snapshot, or a state transfer)
		// is where the log goes on.
		h.LastLSN = max(h.LastLSN, applied)
		return h, nil
	}
	r := s.log.NewReader(h.LastLSN)
	defer r.Close()
	rec, err := r.Next(ctx)
	if err != nil {
		return h, err
	}
	h.LastSum = wire.RecordSum(rec)
	return h, nil
}

// nextLSN is the LSN of the next record the log takes: after its last,
// or, when it holds none, after the state's.
func (s *Standby) nextLSN() wal.LSN {
	if last := s.log.Last(); last >= s.log.First() {
		return last + 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.log.Last(), s.applied) + 1
}

// cutUnapplied answers RejectDiverged: the records past the applied
// position were never acknowledged by the primary (it acknowledges only
// what it has synced, and the standby applies no further than that), so
// the primary that lost them, when its machine crashed while syncing
// them, may have written others since. The standby cuts them and asks
// again. Records already applied cannot be cut: the error stands.
func (s *Standby) cutUnapplied(rej *wire.RejectError) error {
	s.mu.Lock()
	applied := s.applied
	s.mu.Unlock()
	if applied >= s.log.Last() || applied+1 < s.log.First() {
		// The state applied records the primary does not hold: it is
		// not the history's, and only the primary's state replaces it.
		d, ok := s.sm.(Discarder)
		if !ok {
			return fmt.Errorf("%w; this standby applied every record it holds and cannot cut them: restore it from the archive, or rebuild it", rej)
		}
		d.Discard()
		s.notify(func() { s.needState = true })
		s.lg.Warn("the primary does not hold records this standby applied; asking it for its state", "reason", rej.Reason)
		return errCutUnapplied
	}
	last := s.log.Last()
	if _, err := s.log.CutTail(context.Background(), applied, nil); err != nil {
		return fmt.Errorf("replication: cut the records after LSN %d, which the primary does not hold: %w", applied, err)
	}
	// What the refusing primary commits from now on decides what is
	// applied past the cut, not what the one before it said.
	s.notify(func() { s.received, s.committed = applied, applied })
	s.lg.Warn("the primary does not hold this standby's last records; cut the ones not applied (they were never acknowledged)",
		"reason", rej.Reason, "from", applied+1, "to", last)
	return errCutUnapplied
}

// follow runs one connection: handshake, then records until an error.
// It reports whether any record arrived.
//
// The connection's goroutine writes the records it receives to the WAL:
// synced at once when the frame asks for it (FlagSync), else without a
// sync, which the flusher goroutine makes at most FlushDelay later, for
// every frame written meanwhile. Acks follow syncs; the flusher applies
// records once they are synced and the primary has committed them.
func (s *Standby) follow(ctx context.Context) (bool, error) {
	if err := s.applyLocal(ctx); err != nil {
		return false, err
	}
	h, err := s.hello(ctx)
	if err != nil {
		return false, err
	}
	topts := s.opts.Transport.wire()
	topts.Peer = s.opts.PrimaryNode
	c, w, err := wire.Dial(ctx, s.opts.Primary, topts, h)
	if rej := (*wire.RejectError)(nil); errors.As(err, &rej) && rej.Code == wire.RejectDiverged {
		return false, s.cutUnapplied(rej)
	}
	if err != nil {
		return false, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if w.Epoch < s.log.Epoch() {
		return false, fmt.Errorf("replication: primary %s is at epoch %d, older than ours (%d): refusing it", c.Peer(), w.Epoch, s.log.Epoch())
	}
	if h.Want&wire.WantState != 0 {
		if _, err := s.receiveState(ctx, c); err != nil {
			return false, err
		}
	}
	received := s.nextLSN() - 1
	s.notify(func() { s.connected, s.confirmed, s.primary, s.received = true, true, c.Peer(), received })
	s.lg.Info("following primary", "primary", c.Peer().String(), "from", s.log.Last()+1)

	fctx, cancel := context.WithCancel(ctx)
	kick := make(chan struct{}, 1)
	var ferr error
	var fwg sync.WaitGroup
	fwg.Add(1)
	go func() {
		defer fwg.Done()
		if ferr = s.flushLoop(fctx, c, kick); ferr != nil {
			c.Close() // ends the reading below
		}
	}()
	streamed, err := s.receive(ctx, c, kick)
	cancel()
	fwg.Wait()
	s.mu.Lock()
	s.queue, s.dirty = nil, time.Time{} // applyLocal takes them from the WAL
	s.mu.Unlock()
	// Whatever was received is durable when the standby stops following
	// (a node promoted next forks its history after its last record).
	serr := s.log.Sync()
	if ferr != nil {
		return streamed, errors.Join(ferr, serr)
	}
	return streamed, errors.Join(err, serr)
}

// receive reads frames and writes their records until an error.
func (s *Standby) receive(ctx context.Context, c *wire.Conn, kick chan struct{}) (bool, error) {
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	streamed := false
	for {
		c.SetReadDeadline(time.Now().Add(s.opts.Timeout))
		f, err := c.ReadFrame()
		if err != nil {
			return streamed, err
		}
		if f.Type != wire.FrameRecords {
			return streamed, &wire.FrameError{Type: f.Type, Err: wire.ErrFrameMalformed, Detail: "standby expects records"}
		}
		if f.Epoch < s.log.Epoch() {
			return streamed, fmt.Errorf("replication: frame of epoch %d, older than ours (%d): the sender was deposed", f.Epoch, s.log.Epoch())
		}
		// The records own their data (the state machine may keep it);
		// the frame buffer is reused by the next read.
		b, err := wire.DecodeBatch(bytes.Clone(f.Payload))
		if err != nil {
			return streamed, err
		}
		s.mu.Lock()
		if b.Committed > s.committed {
			s.committed = b.Committed
		}
		s.mu.Unlock()
		recs := b.Records
		if len(recs) == 0 {
			if b.Flags&wire.FlagPing != 0 {
				if err := s.ack(c); err != nil {
					return streamed, err
				}
			}
			poke() // more may be committed now
			continue
		}
		if next := s.nextLSN(); recs[0].LSN != next {
			return streamed, fmt.Errorf("replication: primary sent LSN %d, next is %d", recs[0].LSN, next)
		}
		if f.Epoch > s.log.Epoch() {
			if err := s.log.SetEpoch(f.Epoch); err != nil {
				return streamed, err
			}
		}
		urgent := b.Flags&wire.FlagSync != 0 || s.opts.FlushDelay < 0
		if urgent {
			err = s.log.Write(ctx, recs...)
		} else {
			err = s.log.WriteNoSync(ctx, recs...)
		}
		if err != nil {
			return streamed, err
		}
		streamed = true
		s.mu.Lock()
		s.received = recs[len(recs)-1].LSN // waiters wait for applied, not received
		s.queue = append(s.queue, recs...)
		if !urgent && s.dirty.IsZero() {
			s.dirty = time.Now()
		}
		s.mu.Unlock()
		if urgent {
			// Acknowledge as soon as the records are durable (sync
			// writers on the primary wait for this); the flusher
			// applies them. Other records are acknowledged once the
			// flusher syncs them, which also paces the primary: while
			// its window is full, records build up into bigger frames.
			if err := s.ack(c); err != nil {
				return streamed, err
			}
		}
		poke()
	}
}

// ack sends the standby's positions. Positions are read under ackMu, so
// that acks from the two goroutines never go back.
func (s *Standby) ack(c *wire.Conn) error {
	s.ackMu.Lock()
	defer s.ackMu.Unlock()
	flushed := s.log.Synced()
	s.mu.Lock()
	a := wire.Ack{Received: max(s.received, flushed), Flushed: flushed, Applied: min(s.applied, flushed)}
	s.mu.Unlock()
	s.ackBuf = wire.AppendAck(s.ackBuf[:0], a)
	return c.WriteFrame(wire.FrameAck, s.log.Epoch(), s.ackBuf)
}

// flushLoop syncs records written without a sync FlushDelay after the
// first of them, acknowledges, and applies what is synced and committed.
func (s *Standby) flushLoop(ctx context.Context, c *wire.Conn, kick <-chan struct{}) error {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-t.C:
		}
		s.mu.Lock()
		wait, due := time.Duration(0), !s.dirty.IsZero()
		if due {
			if wait = s.opts.FlushDelay - time.Since(s.dirty); wait <= 0 {
				s.dirty = time.Time{} // records written from now on wait for the next sync
			}
		}
		s.mu.Unlock()
		switch {
		case due && wait > 0:
			t.Reset(wait)
		case due:
			if err := s.log.Sync(); err != nil {
				return err
			}
			if err := s.ack(c); err != nil {
				return nil // the connection failed: receive returns its error
			}
		}
		if err := s.apply(ctx); err != nil {
			return err
		}
	}
}
