package continuity

import (
	"context"
	"time"

	"github.com/continuity-go/continuity/audit"
)

// actor is who this node's audit records say acted: its cluster node ID,
// or node@host for a single node.
func (n *Node) actor() string {
	if n.cfg.Cluster != nil {
		return n.cfg.Cluster.Node
	}
	return audit.Actor("node")
}

// record writes an audit record of an action this node took, even if
// ctx (the action's) is done, for up to 30 s. Failing to write one does
// not undo the action: it is logged, with the record.
func (n *Node) record(ctx context.Context, e audit.Entry) string {
	e.Actor = n.actor()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return n.write(ctx, e)
}

// recordLater writes an audit record on a goroutine of its own (an
// action taken under a lock), which Close waits for and cancels.
func (n *Node) recordLater(e audit.Entry) {
	e.Actor = n.actor()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.write(n.ctx, e)
	}()
}

func (n *Node) write(ctx context.Context, e audit.Entry) string {
	name, err := audit.Write(ctx, n.repo, e)
	if err != nil {
		n.lg.Error("an action is not in the audit trail", "action", e.Action, "subject", e.Subject, "lsn", e.LSN, "details", e.Details, "err", err)
		return name
	}
	n.wrote(name)
	return name
}

// wrote tells the archive's copies (Config.Copies) of an object the node
// wrote into the archive itself, so they copy it now.
func (n *Node) wrote(name string) {
	if a := n.archiver(); a != nil {
		a.Wrote(name)
	}
}
