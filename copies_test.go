package continuity

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
)

// TestCopies: a node with two copies (directories) copies its archive
// into both; each restores every record from the copy alone, with the
// archive's key. A copy whose directory is gone fails and says so in
// Status while the other goes on; once the directory is back it catches
// up and restores exactly again.
func TestCopies(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	require.NoError(t, os.Mkdir(a, 0o700))
	require.NoError(t, os.Mkdir(b, 0o700))
	fileURL := func(p string) string { return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String() }
	cfg := Config{Dir: dir, Logger: quiet, SnapshotEvery: -1, SnapshotEveryBytes: -1, VerifyEvery: -1,
		Copies: []CopyConfig{{Name: "a", URL: fileURL(a), Every: 20 * time.Millisecond}, {Name: "b", URL: fileURL(b), Every: 20 * time.Millisecond}}}
	n, err := Open(ctx, cfg, &kv{})
	require.NoError(t, err)
	defer n.Close()

	appendSome := func(from, count int) LSN {
		var last LSN
		for i := from; i < from+count; i++ {
			_, last, err = n.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i%7, i))
			require.NoError(t, err)
		}
		require.NoError(t, n.archiver().Flush(ctx))
		return last
	}
	copied := func(name string, after time.Time) bool {
		for _, c := range n.Status().Copies {
			if c.Name == name {
				return c.Copied.After(after)
			}
		}
		return false
	}
	// restores checks that the copy at path restores the newest state
	// at LSN last, from the copy alone.
	restores := func(path string, last LSN) {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join(dir, "archive.key"))
		require.NoError(t, err)
		bk, err := localblob.OpenBucket(path, nil)
		require.NoError(t, err)
		defer bk.Close()
		repo, err := snapshot.Open(ctx, bk, snapshot.RawKey([32]byte(raw)), snapshot.Options{ReadOnly: true})
		require.NoError(t, err, "open the copy at %s", path)
		defer repo.Close()
		res, err := archive.RestoreTo(ctx, repo, Target{}, &kv{}, archive.RestoreOptions{})
		require.NoError(t, err, "restore from %s", path)
		assert.Equal(t, last, res.LSN, "the copy at %s restores up to LSN %d", path, last)
	}

	last := appendSome(0, 40)
	flushed := time.Now()
	testkit.Eventually(t, func() bool { return copied("a", flushed) && copied("b", flushed) }, "both copies copy what was archived")
	restores(a, last)
	restores(b, last)

	require.NoError(t, os.RemoveAll(b)) // the copy's bucket goes away
	last = appendSome(40, 40)
	flushed = time.Now()
	testkit.Eventually(t, func() bool { return copied("a", flushed) }, "copy a goes on")
	testkit.Eventually(t, func() bool {
		for _, c := range n.Status().Copies {
			if c.Name == "b" {
				return c.Failures > 0 && c.LastError != nil && c.Lag > 0
			}
		}
		return false
	}, "copy b fails and says so")
	restores(a, last)

	require.NoError(t, os.Mkdir(b, 0o700)) // back, empty: it catches up from nothing
	back := time.Now()
	testkit.Eventually(t, func() bool { return copied("b", back) }, "copy b catches up")
	restores(b, last)
}
