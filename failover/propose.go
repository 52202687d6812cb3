package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// applyForwarded applies a command another node sent (this node should
// be the leader, except for a join, which any member takes); membership
// joins are done here. It returns the reply's
// status byte and message.
func (c *Coordinator) applyForwarded(peer string, b []byte) (status byte, msg string) {
	cmd, err := decodeCommand(b)
	if err != nil {
		return forwardFailed, err.Error()
	}
	select {
	case <-c.ready: // the listener serves before Open has started Raft
	case <-time.After(time.Second):
		return forwardNoLeader, "starting"
	}
	if err := authorize(peer, cmd, c.fsm.state()); err != nil {
		c.lg.Warn("forwarded command refused", "peer", peer, "op", cmd.Op, "err", err)
		return forwardRefused, err.Error()
	}
	// A join may come to any member (JoinVia: the joiner knows no
	// leader); Join sends it on to the leader, as this member's.
	if c.raft.State() != raft.Leader && cmd.Op != opJoin {
		return forwardNoLeader, "not the leader"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cmd.Op == opJoin {
		err = c.Join(ctx, cmd.Member)
	} else if cmd.Op == opLeave {
		err = c.Remove(ctx, cmd.Node)
	} else {
		err = c.applyLocal(ctx, cmd)
	}
	var ref *refusal
	switch {
	case leadershipMoved(err):
		return forwardNoLeader, err.Error() // the sender retries on the new leader
	case errors.As(err, &ref):
		return forwardRefused, err.Error()
	case err != nil:
		return forwardFailed, err.Error()
	}
	return forwardOK, ""
}

// refusal is a command the State refused.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// errClosed: the coordinator is closing.
var errClosed = errors.New("failover: coordinator closed")

// await starts a Raft operation and waits for its outcome, unless the
// coordinator is closing. Close waits for operations in flight before it
// shuts Raft down: a future Raft has taken but not answered when it shuts
// down is never answered.
func (c *Coordinator) await(op func() raft.Future) error {
	c.opMu.RLock()
	defer c.opMu.RUnlock()
	if c.closing {
		return errClosed
	}
	return op().Error()
}

// applyLocal applies cmd through this node's Raft (it must be leader).
// A pause gets its end here, from the leader's clock, whoever sent it.
func (c *Coordinator) applyLocal(ctx context.Context, cmd command) error {
	if cmd.Op == opPause {
		cmd.Until = pauseEnd(c.cfg.now(), cmd.TTL)
	}
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var f raft.ApplyFuture
	if err := c.await(func() raft.Future { f = c.raft.Apply(encodeCommand(cmd), timeout); return f }); err != nil {
		return err
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return &refusal{err}
	}
	return nil
}

// propose applies cmd at the leader, wherever it is. A refusal comes back
// as an error wrapping ErrStaleEpoch, ErrNotPrimary, ErrUnknownMember
// or another refusal of State.apply.
func (c *Coordinator) propose(ctx context.Context, cmd command) error {
	return c.onLeader(ctx, cmd, func() error { return c.applyLocal(ctx, cmd) })
}

// onLeader runs local if this node is the Raft leader; otherwise it
// forwards cmd to the leader, whose applyForwarded does the same there.
// When leadership moves before the work commits, it starts again
// wherever the leader now is, until ctx ends: the work must be safe to
// repeat (a command the State dedupes, adding or removing the same server
// twice).
func (c *Coordinator) onLeader(ctx context.Context, cmd command, local func() error) error {
	for {
		if c.raft.State() == raft.Leader {
			err := local()
			if !leadershipMoved(err) {
				return err
			}
		} else if addr, _ := c.raft.LeaderWithID(); addr != "" {
			timeout := 2 * time.Second
			if d, ok := ctx.Deadline(); ok {
				timeout = min(timeout, time.Until(d))
			}
			status, msg, err := c.mux.forward(addr, encodeCommand(cmd), timeout)
			if err == nil {
				switch status {
				case forwardOK:
					return nil
				case forwardRefused:
					return &refusal{refusedError(msg)}
				case forwardFailed:
					return fmt.Errorf("failover: leader %s: %s", addr, msg)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("failover: no leader took %s: %w", cmd.Op, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// refusedError maps a forwarded refusal back to its sentinel.
func refusedError(msg string) error {
	for _, e := range []error{ErrStaleEpoch, ErrNotPrimary, ErrUnknownMember, ErrLeaseRenewed, ErrArchiveMismatch, ErrPaused, ErrUnauthorized, ErrNotAllowed} {
		if len(msg) >= len(e.Error()) && msg[:len(e.Error())] == e.Error() {
			return fmt.Errorf("%w%s", e, msg[len(e.Error()):])
		}
	}
	return errors.New(msg)
}

// leadershipMoved reports an error from Raft meaning this node stopped
// leading before the operation committed: the new leader must retry it.
func leadershipMoved(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress)
}
