package continuity

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/failover"
	"github.com/continuity-go/continuity/internal/testkit"
)

// TestForcedRecoveryAudited: a forced recovery of a node's Raft state,
// done offline, is in the audit trail once the node opens again, once.
func TestForcedRecoveryAudited(t *testing.T) {
	ctx := t.Context()
	cfg := Config{Dir: t.TempDir(), Archive: "file://" + filepath.ToSlash(t.TempDir()), Logger: quiet,
		Cluster: &ClusterConfig{Node: "n1", RaftBind: freeAddr(t), ReplBind: freeAddr(t), Bootstrap: true, InsecurePlaintext: true}}
	n, err := Open(ctx, cfg, &kv{})
	require.NoError(t, err)
	testkit.Eventually(t, func() bool { return n.Status().Primary == "n1" }, "n1 to be primary")
	require.NoError(t, n.Close())

	require.NoError(t, failover.ForceRecover(failover.Config{Node: "n1", Dir: filepath.Join(cfg.Dir, "raft"), Logger: quiet},
		[]failover.Member{{ID: "n1", RaftAddr: cfg.Cluster.RaftBind}}))
	count := func(n *Node) int {
		trail, _, err := audit.List(ctx, n.Repo(), time.Time{})
		require.NoError(t, err)
		c := 0
		for _, e := range trail {
			if e.Action == "recover.forced" {
				c++
				assert.Equal(t, "n1", e.Details["voters"])
			}
		}
		return c
	}
	n, err = Open(ctx, cfg, &kv{})
	require.NoError(t, err)
	assert.Equal(t, 1, count(n), "the forced recovery in the audit trail")
	require.NoError(t, n.Close())
	n, err = Open(ctx, cfg, &kv{})
	require.NoError(t, err)
	defer n.Close()
	assert.Equal(t, 1, count(n), "recorded once")
}
