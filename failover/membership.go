package failover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Join adds a node to the cluster (as a Raft voter, or a non-voter that
// still follows and may be promoted). It must reach the leader: it is
// sent there if this node is not.
func (c *Coordinator) Join(ctx context.Context, m Member) error {
	if !c.cfg.InsecurePlaintext && !slices.Contains(c.cfg.TLS.AllowedNodes, m.ID) {
		return fmt.Errorf("failover: add %s: %w (%v): add it to every node's allowlist first", m.ID, ErrNotAllowed, c.cfg.TLS.AllowedNodes)
	}
	cmd := command{Op: opJoin, Member: m}
	err := c.onLeader(ctx, cmd, func() error {
		err := c.await(func() raft.Future {
			if m.Voter {
				return c.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, 5*time.Second)
			}
			return c.raft.AddNonvoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, 5*time.Second)
		})
		if err != nil {
			return err
		}
		return c.applyLocal(ctx, cmd)
	})
	if err != nil {
		return fmt.Errorf("failover: add %s: %w", m.ID, err)
	}
	return nil
}

// Remove takes a node out of the cluster: out of the State and of the
// Raft configuration. It is sent to the leader if this node is not; the
// leader accepts that only for this node itself (authorize): to remove
// another node (a dead one), call Remove on the Raft leader.
func (c *Coordinator) Remove(ctx context.Context, id string) error {
	return c.onLeader(ctx, command{Op: opLeave, Node: id}, func() error {
		if err := c.applyLocal(ctx, command{Op: opLeave, Node: id}); err != nil && !errors.Is(err, ErrUnknownMember) {
			return err
		}
		return c.await(func() raft.Future { return c.raft.RemoveServer(raft.ServerID(id), 0, 5*time.Second) })
	})
}
