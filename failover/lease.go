package failover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// leaseState is this node's side of the primary's lease: what CanWrite
// answers from. Coordinator.mu guards it.
type leaseState struct {
	epoch     uint64    // the epoch of the last renewal granted; 0 once roleLoop sees this node is not primary
	until     time.Time // monotonic: writes allowed before it
	fence     uint64    // raised by Resign and Switchover: renewals sent before grant no lease
	switching bool      // a switchover runs: do not renew
	resigned  uint64    // the epoch Resign gave up: no renewal of it grants a lease again
}

// ackState is the acknowledged LSN committed through Raft, so that
// concurrent Acknowledge calls share commits. Coordinator.mu guards it.
type ackState struct {
	committed wal.LSN       // the highest Acked a committed renewal of epoch carried
	epoch     uint64        // the epoch committed belongs to
	inFlight  chan struct{} // closed when the Acknowledge proposal in flight ends; nil if none
}

// renew proposes a renewal carrying pos and, once it commits, extends
// the lease from when it was sent.
func (c *Coordinator) renew(ctx context.Context, epoch uint64, pos Position) error {
	c.mu.Lock()
	fence := c.lease.fence
	c.mu.Unlock()
	sent := c.cfg.now()
	err := c.propose(ctx, command{Op: opRenew, Node: c.cfg.Node, Epoch: epoch, Acked: pos.Acked, Flushed: pos.Flushed, Applied: pos.Applied, Archived: pos.Archived})
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil && !c.lease.switching && fence == c.lease.fence && epoch != c.lease.resigned && sent.Add(c.cfg.Profile.Lease-c.cfg.Profile.Margin).After(c.lease.until):
		// Granted only if no Resign or Switchover began since it was
		// sent: a renewal in flight then must not give the lease back.
		// Nor one sent after Resign began: it may commit before the
		// resignation does.
		c.lease.epoch, c.lease.until = epoch, sent.Add(c.cfg.Profile.Lease-c.cfg.Profile.Margin)
	case errors.Is(err, ErrStaleEpoch) || errors.Is(err, ErrNotPrimary):
		c.lease.until = time.Time{} // deposed: stop at once
	}
	if err == nil {
		if c.ack.epoch != epoch { // LSNs of an older epoch may have been cut and reused
			c.ack.epoch, c.ack.committed = epoch, 0
		}
		c.ack.committed = max(c.ack.committed, pos.Acked)
	}
	return err
}

// Acknowledge makes "writes up to lsn were acknowledged" part of the
// cluster state before the host acknowledges them (sync mode): the leader
// then promotes only a node that holds lsn, so no acknowledged write is
// lost in a fail-over. It renews the lease at the same time. Concurrent
// calls share Raft commits. It fails if this node is no longer the
// primary of epoch, and the host must not acknowledge then.
func (c *Coordinator) Acknowledge(ctx context.Context, epoch uint64, lsn wal.LSN) error {
	for {
		c.mu.Lock()
		if c.ack.epoch == epoch && c.ack.committed >= lsn && c.lease.epoch == epoch {
			c.mu.Unlock()
			return nil
		}
		if c.ack.inFlight != nil {
			ch := c.ack.inFlight
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.ack.inFlight = ch
		c.mu.Unlock()
		pos := c.cfg.Position()
		pos.Acked = max(pos.Acked, lsn)
		err := c.renew(ctx, epoch, pos)
		c.mu.Lock()
		c.ack.inFlight = nil
		close(ch)
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// Resign gives up the primary role (a failed disk, a planned stop): the
// node stops writing at once, and the leader promotes another. A node
// that another has already replaced (its epoch is stale, or it is not
// the primary) has nothing to give up: that is not an error.
func (c *Coordinator) Resign(ctx context.Context) error {
	c.mu.Lock()
	epoch := c.lease.epoch
	c.lease.until = time.Time{}
	c.lease.fence++
	c.lease.resigned = max(c.lease.resigned, epoch)
	c.mu.Unlock()
	err := c.propose(ctx, command{Op: opResign, Node: c.cfg.Node, Epoch: epoch})
	if errors.Is(err, ErrStaleEpoch) || errors.Is(err, ErrNotPrimary) {
		return nil
	}
	return err
}

// ErrNotCaughtUp: the switchover target did not reach the primary's last
// LSN in time; the old primary resumes.
var ErrNotCaughtUp = errors.New("failover: switchover target did not catch up")

// Switchover hands the primary role to target, losing nothing: call it on
// the primary. Writes stop at once (CanWrite turns false); once target
// reports the primary's last flushed LSN, the leader promotes it in the
// next epoch, and this node becomes a standby. If target does not catch
// up before ctx ends, or the promotion fails, this node goes on as
// primary (it renews again) and the error says why. A maintenance pause
// (Pause) does not stop it.
func (c *Coordinator) Switchover(ctx context.Context, target string) error {
	st := c.fsm.state()
	if st.Primary != c.cfg.Node {
		return fmt.Errorf("%w: switchover must run on the primary (%s)", ErrNotPrimary, orNone(st.Primary))
	}
	if _, ok := st.Members[target]; !ok || target == c.cfg.Node {
		return fmt.Errorf("%w: switchover target %q", ErrUnknownMember, target)
	}
	c.mu.Lock()
	c.lease.switching = true
	c.lease.until = time.Time{} // no more writes in this epoch
	c.lease.fence++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.lease.switching = false
		c.mu.Unlock()
	}()
	last := c.cfg.Position().Flushed
	for {
		if r, ok := c.fsm.state().Reports[target]; ok && r.Flushed >= last && r.Healthy {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s did not report LSN %d: %v", ErrNotCaughtUp, target, last, ctx.Err())
		case <-c.fsm.changed():
		case <-time.After(c.cfg.Profile.Renew / 4):
		}
	}
	// Renewals that commit from now on grant no lease (the fence), so the
	// promotion may name the latest one; one committing meanwhile makes it
	// try again.
	for attempt := 0; ; attempt++ {
		cur := c.fsm.state()
		err := c.propose(ctx, command{Op: opPromote, Node: target, FromEpoch: st.Epoch, RenewIndex: cur.RenewIndex, Fork: last, Reason: "switchover from " + c.cfg.Node, Force: true})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLeaseRenewed) || attempt == 5 {
			return fmt.Errorf("failover: switchover to %s: %w", target, err)
		}
		time.Sleep(c.cfg.Profile.Renew / 4)
	}
	c.lg.Info("switched over", "to", target, "epoch", st.Epoch+1, "fork", last)
	return nil
}

// nodeState is what nodeLoop remembers between ticks. Only nodeLoop's
// goroutine touches it.
type nodeState struct {
	startedEpoch uint64 // the last epoch whose fork this node recorded
}

// nodeLoop renews the lease while this node is primary, and reports the
// position otherwise; a primary whose host reports it unhealthy resigns.
func (c *Coordinator) nodeLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Profile.Renew)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		st := c.fsm.state()
		pos := c.cfg.Position()
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Profile.Lease)
		c.mu.Lock()
		switching, resigned := c.lease.switching, c.lease.resigned
		c.mu.Unlock()
		if st.Primary == c.cfg.Node && st.Epoch != 0 && !c.IsSynced() {
			// The State may be from before this node stopped: it renews
			// only a primary role the leader confirms.
		} else if st.Primary == c.cfg.Node && st.Epoch != 0 && switching {
			// A switchover runs: no renewal, no writes.
		} else if st.Primary == c.cfg.Node && st.Epoch != 0 && st.Epoch == resigned {
			// Resigned, and the resignation has not committed: try
			// again, never renew (the lease runs out meanwhile).
			_ = c.Resign(ctx)
		} else if st.Primary == c.cfg.Node && st.Epoch != 0 {
			if !pos.Healthy {
				c.lg.Error("this primary's disk or state machine failed; resigning", "epoch", st.Epoch)
				_ = c.Resign(ctx)
				cancel()
				continue
			}
			if c.node.startedEpoch != st.Epoch {
				// The first renewal of a new epoch: record where this
				// node's log really forks (it may hold more than it
				// reported when chosen; it has not written in the epoch,
				// since it cannot before this renewal).
				if err := c.propose(ctx, command{Op: opStarted, Node: c.cfg.Node, Epoch: st.Epoch, Fork: pos.Flushed}); err == nil {
					c.node.startedEpoch = st.Epoch
				}
			}
			err := c.renew(ctx, st.Epoch, pos)
			if err != nil && c.ctx.Err() == nil {
				c.lg.Warn("lease renewal failed; writes stop when the lease runs out", "epoch", st.Epoch, "err", err)
			}
		} else {
			if c.roleIsPrimary() {
				c.mu.Lock()
				c.lease.until = time.Time{}
				c.mu.Unlock()
			}
			if _, ok := st.Members[c.cfg.Node]; ok {
				_ = c.propose(ctx, command{Op: opReport, Node: c.cfg.Node, Epoch: pos.Epoch, Flushed: pos.Flushed, Applied: pos.Applied, Healthy: pos.Healthy})
			}
		}
		cancel()
	}
}

func (c *Coordinator) roleIsPrimary() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lease.epoch != 0
}
