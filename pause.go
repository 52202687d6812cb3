package continuity

import (
	"context"
	"errors"
	"time"
)

// Maintenance is the cluster's maintenance pause as Status reports it
// (failover.Coordinator.Pause): while Paused, no primary is promoted
// automatically, and Switchover still works.
type Maintenance struct {
	Paused bool      // automatic fail-over is off
	Reason string    // the reason given to Pause
	By     string    // the node Pause was called on
	Until  time.Time // when the pause ends by itself, on the Raft leader's clock; zero: at Resume
}

// Pause turns automatic fail-over off for the whole cluster, for an
// upgrade or a move: until Resume, or for ttl if ttl > 0 (counted on the
// Raft leader's clock). The primary keeps serving, and Switchover still
// hands its role over; if the primary dies, no standby replaces it until
// the pause ends. It is in the cluster state, so it outlives restarts of
// every node; a second Pause replaces the first. Call it on any node of
// the cluster; a single node has nothing to pause and returns an error.
func (n *Node) Pause(ctx context.Context, ttl time.Duration, reason string) error {
	if n.cl == nil {
		return errors.New("continuity: a single node has no fail-over to pause")
	}
	return n.cl.coord.Pause(ctx, ttl, reason)
}

// Resume turns automatic fail-over back on (a primary whose lease ran
// out during the pause is replaced at once). Resuming a cluster that is
// not paused does nothing; a single node returns an error.
func (n *Node) Resume(ctx context.Context) error {
	if n.cl == nil {
		return errors.New("continuity: a single node has no fail-over to resume")
	}
	return n.cl.coord.Resume(ctx)
}

// maintenance is the pause as the cluster state says, once this node
// confirmed its state with the leader (zero before, as roleNow).
func (c *clusterPart) maintenance() Maintenance {
	if c.coord == nil || !c.coord.IsSynced() {
		return Maintenance{}
	}
	st := c.coord.State()
	if !st.Paused {
		return Maintenance{}
	}
	return Maintenance{Paused: true, Reason: st.PauseReason, By: st.PausedBy, Until: st.PausedUntil}
}
