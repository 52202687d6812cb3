package continuity

import (
	"context"
	"strings"
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/tenant"
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
	}
	return name
}

// SealedPrefixLen says how long the clear prefix of each sealed object a
// node keeps in its archive is, for snapshot.ReencryptOptions
// .SealedPrefix: the WAL archive's (archive.SealedPrefixLen), tenant key
// slots and audit records (none). A master-key rotation must reseal them
// all before older key epochs are retired: a tenant's slot left under a
// retired epoch loses the tenant.
func SealedPrefixLen(name string) (int, bool) {
	if n, ok := archive.SealedPrefixLen(name); ok {
		return n, true
	}
	if strings.HasPrefix(name, tenant.SlotPrefix) || strings.HasPrefix(name, audit.Prefix) {
		return 0, true
	}
	return 0, false
}
