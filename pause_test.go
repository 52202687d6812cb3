package continuity

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestPause: Status reports a cluster's maintenance pause, its reason,
// node and end, and its end after Resume; a single node has nothing to
// pause.
func TestPause(t *testing.T) {
	ctx := t.Context()
	single, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet}, &kv{})
	require.NoError(t, err)
	defer single.Close()
	require.Error(t, single.Pause(ctx, 0, "upgrade"))
	require.Error(t, single.Resume(ctx))
	assert.Zero(t, single.Status().Maintenance)

	cfg := Config{Dir: t.TempDir(), Archive: "file://" + filepath.ToSlash(t.TempDir()), Logger: quiet,
		Cluster: &ClusterConfig{Node: "n1", RaftBind: freeAddr(t), ReplBind: freeAddr(t), Bootstrap: true, InsecurePlaintext: true}}
	n, err := Open(ctx, cfg, &kv{})
	require.NoError(t, err)
	defer n.Close()
	testkit.Eventually(t, func() bool { return n.Status().Primary == "n1" }, "n1 to be primary")
	assert.Zero(t, n.Status().Maintenance, "before any pause")

	start := time.Now()
	require.NoError(t, n.Pause(ctx, time.Hour, "kernel upgrade"))
	testkit.Eventually(t, func() bool { return n.Status().Maintenance.Paused }, "Status to report the pause")
	m := n.Status().Maintenance
	assert.Equal(t, "kernel upgrade", m.Reason)
	assert.Equal(t, "n1", m.By)
	assert.WithinDuration(t, start.Add(time.Hour), m.Until, time.Minute, "the pause's end")
	assert.Equal(t, RolePrimary, n.Status().Role, "the primary serves on while paused")

	require.NoError(t, n.Resume(ctx))
	testkit.Eventually(t, func() bool { return !n.Status().Maintenance.Paused }, "Status to report the pause's end")
	assert.Zero(t, n.Status().Maintenance)
}
