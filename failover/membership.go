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

// JoinVia asks the member whose coordinator listens at addr to add this
// node (as a voter, or a non-voter). The request goes over the cluster's
// mutual TLS, and the member accepts it only for the node this node's
// certificate names, so no unauthenticated endpoint is needed to grow a
// cluster. It retries while the cluster forms, until ctx ends; a refusal
// (another cluster, a node off the allowlist) returns at once.
func (c *Coordinator) JoinVia(ctx context.Context, addr string, voter bool) error {
	cmd := command{Op: opJoin, Member: Member{ID: c.cfg.Node, RaftAddr: c.Addr(), ReplAddr: c.cfg.ReplAddr, Voter: voter}}
	for {
		status, msg, err := c.mux.forward(raft.ServerAddress(addr), encodeCommand(cmd), 5*time.Second)
		switch {
		case err == nil && status == forwardOK:
			return nil
		case err == nil && status == forwardRefused:
			return fmt.Errorf("failover: join via %s: %w", addr, refusedError(msg))
		case err == nil:
			err = errors.New(msg)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("failover: join via %s: %w (last attempt: %v)", addr, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
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
