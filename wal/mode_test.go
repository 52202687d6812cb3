package wal

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestFileModes: the directory, segments and lock file are the owner's
// alone, under the usual umask; an existing directory open to others is
// warned about and still opened.
func TestFileModes(t *testing.T) {
	t.Run("created", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "wal")
		l := openT(t, dir, Options{SegmentBytes: 4096})
		for lsn := LSN(1); lsn <= 40; lsn++ {
			_, _, err := l.Append(t.Context(), payload(lsn, sizeFor(lsn)))
			require.NoError(t, err)
		}
		require.NoError(t, l.Sync())
		require.Greater(t, l.Stats().Segments, 1)
		assert.Greater(t, testkit.AssertPrivate(t, filepath.Dir(dir)), 3)
	})
	t.Run("shared dir warns", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o750))
		var c logCapture
		l := openT(t, dir, Options{Logger: c.logger()})
		_, _, err := l.Append(t.Context(), []byte("x"))
		require.NoError(t, err)
		m := c.find("chmod 0700")
		assert.Contains(t, m, "level=WARN")
		assert.Contains(t, m, "path="+dir)
		assert.Contains(t, m, "mode=0750")
	})
}
