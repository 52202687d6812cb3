package continuity

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
)

// TestInsecurePlaintextWarns: a cluster node without TLS says so at Open,
// at warning level.
func TestInsecurePlaintextWarns(t *testing.T) {
	var logs testkit.SyncBuffer
	dir := t.TempDir()
	n, err := Open(t.Context(), Config{Dir: dir, Archive: "file://" + filepath.ToSlash(t.TempDir()), Keys: snapshot.RawKey([32]byte{1}),
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Cluster: &ClusterConfig{Node: "n1", RaftBind: freeAddr(t), ReplBind: freeAddr(t), Bootstrap: true, InsecurePlaintext: true}}, &kv{})
	require.NoError(t, err)
	defer n.Close()
	require.True(t, strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "InsecurePlaintext"), "log:\n%s", logs.String())
}
