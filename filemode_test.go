package continuity

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestFileModes: everything a Node writes under its Dir (the WAL, the
// default archive and its key, the Raft state) and in a file:// archive
// is the owner's alone, and an existing Dir open to others is warned
// about, not refused.
func TestFileModes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster bool
	}{{"single node", false}, {"one-node cluster", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dir := filepath.Join(t.TempDir(), "node")
			cfg := Config{Dir: dir, Logger: quiet}
			archiveDir := filepath.Join(dir, "archive")
			if tc.cluster {
				archiveDir = filepath.Join(t.TempDir(), "backup", "archive")
				cfg.Archive = "file://" + filepath.ToSlash(archiveDir) + "?create_dir=1"
				cfg.Cluster = &ClusterConfig{Node: "n1", RaftBind: freeAddr(t), ReplBind: freeAddr(t), Bootstrap: true, InsecurePlaintext: true}
			}
			n, err := Open(ctx, cfg, &kv{})
			require.NoError(t, err)
			defer n.Close()
			if tc.cluster {
				testkit.Eventually(t, func() bool { _, ok := n.Coordinator().CanWrite(); return ok }, "n1 to be primary")
			}
			_, last, err := n.Append(ctx, []byte("a=1"), []byte("b=2"))
			require.NoError(t, err)
			require.NoError(t, n.WaitFor(ctx, last))
			_, err = n.Snapshot(ctx)
			require.NoError(t, err)
			require.NoError(t, n.Close())

			checked := testkit.AssertPrivate(t, dir)
			if tc.cluster {
				require.FileExists(t, filepath.Join(dir, "raft", "raft.db"))
				checked += testkit.AssertPrivate(t, filepath.Dir(archiveDir))
			}
			require.FileExists(t, filepath.Join(dir, "wal", "LOCK")) // a sample: the walk saw files
			assert.Greater(t, checked, 8)
		})
	}
	t.Run("shared dir warns", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o755))
		var logs testkit.SyncBuffer
		n, err := Open(t.Context(), Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, &kv{})
		require.NoError(t, err, "a shared Dir is not refused")
		require.NoError(t, n.Close())
		assert.Regexp(t, `level=WARN msg="directory is open to its group or others: chmod 0700 it[^"]*" component=node path=`+dir+` mode=0755`, logs.String())
	})
}
