package failover

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Pause puts the cluster in maintenance (Patroni's pause): until Resume,
// or for ttl if ttl > 0, the Raft leader promotes no primary on its own,
// neither when the primary's lease expires nor after it resigns. The
// primary goes on renewing and writing, and Switchover still hands the
// role over. Call it on any member (it is sent to the leader); a second
// Pause replaces the first (its reason, its end). The pause is in the
// State, so it outlives restarts of every node.
//
// ttl counts on the wall clock of the leader that applies the pause; a
// later leader judges the end on its own wall clock, so the skew between
// the two moves the end by as much (NTP keeps it to milliseconds, a pause
// lasts minutes). It fails for ttl < 0 or a reason over 4 KiB, and with
// ErrUnknownMember on a node that is not a member.
func (c *Coordinator) Pause(ctx context.Context, ttl time.Duration, reason string) error {
	switch {
	case ttl < 0:
		return fmt.Errorf("failover: pause: negative ttl %v", ttl)
	case len(reason) > maxReasonBytes:
		return fmt.Errorf("failover: pause: the reason has %d bytes, at most %d", len(reason), maxReasonBytes)
	}
	if err := c.propose(ctx, command{Op: opPause, Node: c.cfg.Node, TTL: ttl, Reason: reason}); err != nil {
		return fmt.Errorf("failover: pause: %w", err)
	}
	c.lg.Info("maintenance pause: no automatic promotion", "reason", reason, "ttl", ttl)
	return nil
}

// Resume ends the maintenance pause, if any: the leader promotes on its
// own again (at once if the primary's lease has expired meanwhile). Call
// it on any member.
func (c *Coordinator) Resume(ctx context.Context) error {
	was := c.fsm.state()
	if err := c.propose(ctx, command{Op: opResume, Node: c.cfg.Node}); err != nil {
		return fmt.Errorf("failover: resume: %w", err)
	}
	if was.Paused {
		c.lg.Info("maintenance pause ended", "reason", was.PauseReason, "paused_by", was.PausedBy)
	}
	return nil
}

// expirePause lifts the pause of st, whose end has passed on this
// leader's clock, and reports whether it is lifted. The command names
// that end, so a pause that replaced it meanwhile stays.
func (c *Coordinator) expirePause(st State) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Profile.Lease)
	defer cancel()
	err := c.applyLocal(ctx, command{Op: opResume, Node: c.cfg.Node, Until: st.PausedUntil.UnixMilli()})
	if err != nil {
		if !errors.Is(err, errClosed) {
			c.lg.Warn("could not end an expired maintenance pause", "reason", st.PauseReason, "err", err)
		}
		return false
	}
	c.lg.Info("maintenance pause expired", "reason", st.PauseReason, "paused_by", st.PausedBy, "until", st.PausedUntil)
	return true
}

// pauseEnd is the end of a pause of ttl from now, in Unix milliseconds
// rounded up (0 for ttl 0: no end).
func pauseEnd(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	end := now.Add(ttl)
	ms := end.UnixMilli()
	if time.UnixMilli(ms).Before(end) {
		ms++
	}
	return min(ms, maxUntilMillis)
}
