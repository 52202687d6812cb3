package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// StateMachine is the host's state, folded from the log's records. The
// replication package owns this interface; the root package re-exports it.
type StateMachine interface {
	// Apply folds one record into the state. It must be deterministic:
	// the same records in the same order give the same state on every
	// node. An error stops the standby (the state can no longer follow
	// the log).
	Apply(rec wal.Record) error
	// Snapshot writes the full state.
	Snapshot(w io.Writer) error
	// Restore replaces the state with one Snapshot wrote.
	Restore(r io.Reader) error
}

// StandbyOptions configures a Standby.
type StandbyOptions struct {
	// Transport is the dialing side's TLS and handshake setup.
	Transport Options
	// Node is this node's ID (with TLS, the certificate's).
	Node string
	// Primary is the primary's address.
	Primary string
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
	// Archive, if set, is the repository whose WAL archive the standby
	// catches up from when the primary no longer holds the records it
	// needs (the primary refuses it with RejectBehind): it replays the
	// archived records after its last LSN into its WAL and state machine,
	// or, when the archive no longer holds them either, restores the
	// newest base snapshot (StateMachine.Restore), restarts its WAL after
	// the snapshot's LSN and replays from there; then it streams again.
	Archive *snapshot.Repo
	// Logger receives connection events. nil discards them.
	Logger *slog.Logger
}

// Standby follows a primary: it writes the primary's records to its own
// WAL (keeping their LSN, epoch and time), applies them to the state
// machine, acknowledges its positions, and reconnects with backoff when
// the connection fails.
type Standby struct {
	log  *wal.Log
	sm   StateMachine
	opts StandbyOptions
	lg   *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	applied   wal.LSN
	received  wal.LSN
	connected bool
	primary   Identity
	err       error         // fatal: the state machine failed
	changed   chan struct{} // closed and replaced on progress
}

// StandbyState is a Standby's view of itself.
type StandbyState struct {
	Connected bool     // streaming from a primary now
	Primary   Identity // the primary last connected to
	// Received, Flushed and Applied are its positions; Flushed is the
	// local WAL's last LSN.
	Received, Flushed, Applied wal.LSN
	Epoch                      uint64 // the local WAL's epoch
	// Err is set when the state machine failed and the standby stopped.
	Err error
}

// NewStandby applies what the local WAL holds past opts.Applied, then
// starts following the primary in the background.
func NewStandby(log *wal.Log, sm StateMachine, opts StandbyOptions) (*Standby, error) {
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
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	s := &Standby{log: log, sm: sm, opts: opts, lg: lg.With("component", "replication", "role", "standby"),
		applied: opts.Applied, received: log.Last(), changed: make(chan struct{})}
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

// applyLocal applies the local WAL's records past the applied position:
// at start, and before each reconnection (a connection may fail between
// writing a batch and applying it).
func (s *Standby) applyLocal(ctx context.Context) error {
	s.mu.Lock()
	applied := s.applied
	s.mu.Unlock()
	if applied >= s.log.Last() {
		return nil
	}
	r := s.log.NewReader(applied + 1)
	defer r.Close()
	for applied < s.log.Last() {
		rec, err := r.Next(ctx)
		if err != nil {
			return err
		}
		if err := s.sm.Apply(rec); err != nil {
			return &applyError{fmt.Errorf("replication: apply LSN %d: %w", rec.LSN, err)}
		}
		applied = rec.LSN
	}
	s.notify(func() { s.applied = applied })
	return nil
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
		Flushed: s.log.Last(), Applied: s.applied, Epoch: s.log.Epoch(), Err: s.err}
}

// WaitFor waits until the state machine has applied lsn (read-your-writes:
// a client that wrote at LSN x on the primary reads here after WaitFor(x)),
// until ctx is done, or until the standby failed.
func (s *Standby) WaitFor(ctx context.Context, lsn wal.LSN) error {
	for {
		s.mu.Lock()
		applied, err, ch := s.applied, s.err, s.changed
		s.mu.Unlock()
		if applied >= lsn {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("replication: applied LSN %d, waiting for %d: %w", applied, lsn, context.Cause(ctx))
		}
	}
}

func (s *Standby) notify(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Standby) run(ctx context.Context) {
	backoff := s.opts.MinBackoff
	for ctx.Err() == nil {
		streamed, err := s.follow(ctx)
		s.notify(func() { s.connected = false })
		if ctx.Err() != nil {
			return
		}
		var rej *RejectError
		if errors.As(err, &rej) && rej.Code == RejectBehind && s.opts.Archive != nil {
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
			s.notify(func() { s.err = err })
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

// follow runs one connection: handshake, then records until an error.
// It reports whether any record arrived.
func (s *Standby) follow(ctx context.Context) (bool, error) {
	if err := s.applyLocal(ctx); err != nil {
		return false, err
	}
	c, w, err := Dial(ctx, s.opts.Primary, s.opts.Transport, Hello{Node: s.opts.Node, Epoch: s.log.Epoch(), LastLSN: s.log.Last()})
	if err != nil {
		return false, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if w.Epoch < s.log.Epoch() {
		return false, fmt.Errorf("replication: primary %s is at epoch %d, older than ours (%d): refusing it", c.Peer(), w.Epoch, s.log.Epoch())
	}
	s.notify(func() { s.connected, s.primary = true, c.Peer() })
	s.lg.Info("following primary", "primary", c.Peer().String(), "from", s.log.Last()+1)
	streamed := false
	var ack []byte
	for {
		c.SetReadDeadline(time.Now().Add(s.opts.Timeout))
		f, err := c.ReadFrame()
		if err != nil {
			return streamed, err
		}
		if f.Type != FrameRecords {
			return streamed, &FrameError{Type: f.Type, Err: ErrFrameMalformed, Detail: "standby expects records"}
		}
		if f.Epoch < s.log.Epoch() {
			return streamed, fmt.Errorf("replication: frame of epoch %d, older than ours (%d): the sender was deposed", f.Epoch, s.log.Epoch())
		}
		// The records own their data (the state machine may keep it);
		// the frame buffer is reused by the next read.
		recs, err := DecodeRecords(bytes.Clone(f.Payload))
		if err != nil {
			return streamed, err
		}
		if len(recs) == 0 { // heartbeat: answer with our positions
			s.mu.Lock()
			a := Ack{Received: s.received, Flushed: s.log.Last(), Applied: s.applied}
			s.mu.Unlock()
			a.Received = max(a.Received, a.Flushed)
			if err := c.WriteFrame(FrameAck, s.log.Epoch(), AppendAck(ack[:0], a)); err != nil {
				return streamed, err
			}
			continue
		}
		if recs[0].LSN != s.log.Last()+1 {
			return streamed, fmt.Errorf("replication: primary sent LSN %d, next is %d", recs[0].LSN, s.log.Last()+1)
		}
		if f.Epoch > s.log.Epoch() {
			if err := s.log.SetEpoch(f.Epoch); err != nil {
				return streamed, err
			}
		}
		last := recs[len(recs)-1].LSN
		s.notify(func() { s.received = last })
		if err := s.log.Write(ctx, recs...); err != nil {
			return streamed, err
		}
		streamed = true
		// Acknowledge as soon as the records are durable (sync writers on
		// the primary wait for this), then apply; the applied position
		// travels with the next ack.
		s.mu.Lock()
		applied := s.applied
		s.mu.Unlock()
		ack = AppendAck(ack[:0], Ack{Received: last, Flushed: s.log.Last(), Applied: applied})
		if err := c.WriteFrame(FrameAck, s.log.Epoch(), ack); err != nil {
			return streamed, err
		}
		for _, rec := range recs {
			if err := s.sm.Apply(rec); err != nil {
				return streamed, &applyError{fmt.Errorf("replication: apply LSN %d: %w", rec.LSN, err)}
			}
			applied = rec.LSN
		}
		s.notify(func() { s.applied = applied })
	}
}
