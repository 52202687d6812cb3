package continuity

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNoNewKeyBesideArchive: a node whose key file was deleted does not
// make a new key beside its existing archive (which that key could never
// open); Open fails saying which key slots open the archive.
func TestNoNewKeyBesideArchive(t *testing.T) {
	dir := t.TempDir()
	n, err := Open(t.Context(), Config{Dir: dir, Logger: quiet}, &kv{})
	require.NoError(t, err)
	require.NoError(t, n.Close())
	key := filepath.Join(dir, "archive.key")
	require.NoError(t, os.Remove(key))

	_, err = Open(t.Context(), Config{Dir: dir, Logger: quiet}, &kv{})
	require.Error(t, err)
	require.ErrorContains(t, err, "already holds a repository")
	require.ErrorContains(t, err, "raw key (slot ")
	_, statErr := os.Stat(key)
	require.ErrorIs(t, statErr, os.ErrNotExist, "no key was made beside the archive")

	// With another key it says the same slots.
	require.NoError(t, os.WriteFile(key, make([]byte, 32), 0o600))
	_, err = Open(t.Context(), Config{Dir: dir, Logger: quiet}, &kv{})
	require.ErrorContains(t, err, "no key slot opens")
	require.ErrorContains(t, err, "the archive opens with: raw key (slot ")
}
