package continuity

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
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
	holds := func(name string, lsn LSN) bool {
		for _, c := range n.Status().Copies {
			if c.Name == name {
				return c.Archived >= lsn && c.LastError == nil
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
	testkit.Eventually(t, func() bool { return holds("a", last) && holds("b", last) }, "both copies copy what was archived")
	restores(a, last)
	restores(b, last)

	require.NoError(t, os.RemoveAll(b)) // the copy's bucket goes away
	last = appendSome(40, 40)
	testkit.Eventually(t, func() bool { return holds("a", last) }, "copy a goes on")
	testkit.Eventually(t, func() bool {
		for _, c := range n.Status().Copies {
			if c.Name == "b" {
				return c.Failures > 0 && c.LastError != nil && c.Lag > 0
			}
		}
		return false
	}, "copy b fails and says so")
	restores(a, last)

	require.NoError(t, os.MkdirAll(b, 0o700)) // back, empty: it catches up from nothing
	testkit.Eventually(t, func() bool { return holds("b", last) }, "copy b catches up")
	restores(b, last)

	// VerifyCopy: each copy verifies and states its own window; damage
	// in one shows there, named, and in Status.
	for _, name := range []string{"a", "b"} {
		ck, err := n.VerifyCopy(ctx, name, true)
		require.NoError(t, err)
		assert.True(t, ck.Verify.OK(), "copy %s: %v %v", name, ck.Verify.Snapshot.Problems, ck.Verify.Archive.Problems)
		assert.Equal(t, last, ck.Window.LatestLSN, "copy %s's window", name)
	}
	var walObj string
	require.NoError(t, filepath.WalkDir(filepath.Join(a, "wal"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && walObj == "" && strings.Count(filepath.Base(p), "-") == 3 {
			walObj = p
		}
		return err
	}))
	require.NotEmpty(t, walObj)
	raw, err := os.ReadFile(walObj)
	require.NoError(t, err)
	raw[len(raw)-1] ^= 1
	require.NoError(t, os.WriteFile(walObj, raw, 0o600))
	ck, err := n.VerifyCopy(ctx, "a", false)
	require.NoError(t, err)
	require.False(t, ck.Verify.OK(), "a flipped byte in copy a's %s", walObj)
	assert.Contains(t, firstProblem(ck.Verify), filepath.Base(walObj))
	checks := n.Status().CopyChecks
	require.Len(t, checks, 2)
	assert.False(t, checks[0].Verify.OK())
	assert.True(t, checks[1].Verify.OK())
	_, err = n.VerifyCopy(ctx, "nope", false)
	assert.ErrorContains(t, err, `no copy "nope"`)
}

// TestForgetTenantCopyDown: a copy that cannot be reached when a tenant
// is forgotten is named in the receipt's warnings and keeps the slot;
// once it is back, the node deletes the slot there, after a restart too.
func TestForgetTenantCopyDown(t *testing.T) {
	ctx := context.Background()
	dir, copyDir := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	require.NoError(t, os.Mkdir(copyDir, 0o700))
	cfg := Config{Dir: dir, Logger: quiet, VerifyEvery: -1, WAL: wal.Options{SegmentBytes: 16 << 10},
		Copies: []CopyConfig{{Name: "off-site", URL: "file://" + filepath.ToSlash(copyDir)}}}
	n, err := Open(ctx, cfg, testsm.NewTenants())
	require.NoError(t, err)
	defer func() { n.Close() }()
	for _, id := range []string{"a", "b"} {
		_, _, err := n.AppendTenant(ctx, id, []byte(id+"-1"))
		require.NoError(t, err)
	}
	slotOf := func(id string) string {
		return filepath.Join(copyDir, filepath.FromSlash(tenant.SlotName(n.tenants.tagger.Tag(id), n.tenants.reg.Key(n.tenants.tagger.Tag(id)).ID)))
	}
	slotA, slotB := slotOf("a"), slotOf("b")
	testkit.Eventually(t, func() bool {
		_, errA := os.Stat(slotA)
		_, errB := os.Stat(slotB)
		return errA == nil && errB == nil
	}, "the copy holds both tenants' key slots")

	// The copy's path stops being a directory: every operation fails.
	aside := copyDir + ".aside"
	require.NoError(t, os.Rename(copyDir, aside))
	require.NoError(t, os.WriteFile(copyDir, nil, 0o600))
	_, _, err = n.AppendTenant(ctx, "b", []byte("b-2"))
	require.NoError(t, err)
	testkit.Eventually(t, func() bool { return n.Status().Copies[0].LastError != nil }, "the copy fails")
	rcpt, err := n.ForgetTenant(ctx, "a", "ticket 7")
	require.NoError(t, err)
	require.Len(t, rcpt.Warnings, 1, "receipt %+v", rcpt)
	assert.Contains(t, rcpt.Warnings[0], "copy off-site:")
	for _, d := range rcpt.Deleted {
		assert.NotContains(t, d, "copy:", "the copy could not delete it")
	}
	// The WAL is cut past the forget record: the restart does not apply
	// it again, the registry comes from the base snapshot.
	for i := range 200 { // past the forget record's segment
		_, _, err := n.AppendTenant(ctx, "b", fmt.Appendf(nil, "b-%d-%0200d", i, 0))
		require.NoError(t, err)
	}
	m, err := n.Snapshot(ctx)
	require.NoError(t, err)
	require.NoError(t, n.archiver().Flush(ctx))
	require.NoError(t, n.Log().TruncateFront(LSN(m.LSN)))
	require.Greater(t, n.Log().First(), rcpt.LSN, "the WAL is cut past the forget record")
	require.NoError(t, n.Close())

	require.NoError(t, os.Remove(copyDir))
	require.NoError(t, os.Rename(aside, copyDir))
	assert.FileExists(t, slotA, "the slot stayed while the copy was away")
	n, err = Open(ctx, cfg, testsm.NewTenants())
	require.NoError(t, err)
	testkit.Eventually(t, func() bool {
		_, err := os.Stat(slotA)
		return os.IsNotExist(err)
	}, "the restarted node deletes the forgotten tenant's slot from the copy")
	assert.FileExists(t, slotB, "another tenant's slot")
}
