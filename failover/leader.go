package failover

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"github.com/continuity-go/continuity/wal"
)

// leaderState is what leaderLoop keeps while this node leads. Only
// leaderLoop's goroutine touches it (chooseCandidate runs on it too).
type leaderState struct {
	// since is when this node last became leader: it counts the lease of
	// a primary whose renewal it did not apply from then.
	since time.Time
	// heldBack: a promotion is due but the maintenance pause holds it
	// back, and that was logged (once per pause and leadership).
	heldBack bool
}

// leaderLoop, on the Raft leader, promotes a primary when there is none
// or its lease has expired, unless the cluster is paused; it lifts a
// pause whose end has passed on its clock.
func (c *Coordinator) leaderLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Profile.Renew / 2)
	defer t.Stop()
	wasLeader := false
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if c.raft.State() != raft.Leader {
			wasLeader = false
			continue
		}
		if !wasLeader {
			// A new leader does not know when the primary last renewed:
			// it counts the lease from now.
			wasLeader = true
			c.leader.since = c.cfg.now()
			c.leader.heldBack = false
			if err := c.await(func() raft.Future { return c.raft.Barrier(time.Second) }); err != nil {
				wasLeader = false
				continue
			}
		}
		st := c.fsm.state()
		if st.Paused && !st.PauseHolds(c.cfg.now()) {
			// Expired by this leader's clock, also a pause an earlier
			// leader applied: lifted before anything is decided.
			if !c.expirePause(st) {
				continue
			}
			st = c.fsm.state()
		}
		if !st.Paused {
			c.leader.heldBack = false
		}
		// The lease counts from when this node applied the primary's last
		// renewal (after the primary sent it: safe), or, if it knows of
		// none (it restarted), from when it became leader.
		renewed := c.fsm.renewedAt(st.Primary, st.Epoch)
		if renewed.IsZero() {
			renewed = c.leader.since
		}
		if st.Primary != "" && c.cfg.now().Sub(renewed) < c.cfg.Profile.Lease {
			continue
		}
		if st.Paused {
			if !c.leader.heldBack {
				c.leader.heldBack = true
				c.lg.Warn("the primary's lease expired or there is none; no promotion while the cluster is paused",
					"primary", orNone(st.Primary), "epoch", st.Epoch, "reason", st.PauseReason, "paused_by", st.PausedBy)
			}
			continue
		}
		cand, why, wait := c.chooseCandidate(st)
		if cand == "" {
			switch {
			case wait:
				c.lg.Debug("promotion waits", "why", why)
			case st.Epoch > 0:
				c.lg.Warn("no node can be promoted; the cluster has no primary", "epoch", st.Epoch, "why", why)
			default:
				c.lg.Debug("no node can be promoted yet", "why", why) // a new cluster, before the reports
			}
			continue
		}
		fork := st.Reports[cand].Flushed
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Profile.Lease)
		err := c.applyLocal(ctx, command{Op: opPromote, Node: cand, FromEpoch: st.Epoch, RenewIndex: st.RenewIndex, Fork: fork, Reason: "lease of " + orNone(st.Primary) + " expired"})
		cancel()
		if err != nil {
			c.lg.Warn("promotion failed", "candidate", cand, "err", err)
			continue
		}
		c.lg.Info("promoted a new primary", "primary", cand, "epoch", st.Epoch+1, "fork", fork, "previous", orNone(st.Primary))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// chooseCandidate chooses the node to promote: a member other than the
// expired primary with a fresh, healthy report, the highest flushed LSN
// (ties: the smallest ID), within MaxLag of the most advanced node and,
// in sync mode, holding every acknowledged write. Without one, candidate
// is "" and why says what ruled the last member out. A node that was more
// advanced but whose last report is stale may only be late because this
// node just became leader (reports stop during an election): for one
// staleness period of leadership the choice waits for it (candidate "",
// wait true, why the reason) instead of promoting a node with fewer
// records.
func (c *Coordinator) chooseCandidate(st State) (candidate, why string, wait bool) {
	var best wal.LSN
	for _, r := range st.Reports {
		best = max(best, r.Flushed)
	}
	stale := 5 * c.cfg.Profile.Renew
	var ids []string
	for id := range st.Members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	why = "no member has reported"
	var top, lateTop wal.LSN
	late := ""
	for _, id := range ids {
		r, ok := st.Reports[id]
		switch {
		case !ok:
			continue
		case id == st.Primary || id == st.Resigned:
			why = "only the expired or resigned primary is known"
			continue
		case !r.Healthy:
			why = id + " is unhealthy"
			continue
		case c.cfg.now().Sub(c.fsm.reportedAt(id)) > stale:
			why = id + " has not reported recently"
			if r.Flushed > lateTop {
				late, lateTop = id, r.Flushed
			}
			continue
		case c.cfg.MaxLag > 0 && best-r.Flushed > c.cfg.MaxLag:
			why = fmt.Sprintf("%s is %d records behind (MaxLag %d)", id, best-r.Flushed, c.cfg.MaxLag)
			continue
		case c.cfg.SyncMode && r.Flushed < st.Acked:
			why = fmt.Sprintf("%s holds up to %d, writes up to %d were acknowledged", id, r.Flushed, st.Acked)
			continue
		}
		if candidate == "" || r.Flushed > top {
			candidate, top = id, r.Flushed
		}
	}
	if candidate != "" && lateTop > top {
		if c.cfg.now().Sub(c.leader.since) < stale {
			return "", fmt.Sprintf("%s held LSN %d, more than %s's %d, and may report again now that this node leads", late, lateTop, candidate, top), true
		}
	}
	return candidate, why, false
}
