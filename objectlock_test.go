package continuity

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/tenant"
)

// TestObjectLockNode runs a Node with Config.ObjectLock on an S3 bucket
// with Object Lock (versitygw): WAL objects are locked for the window,
// packs, manifests and audit records for Keep; key slots and tenant key
// slots are not, so forgetting a tenant still deletes its slot. A copy
// with its own policy (Config.Copies[].ObjectLock) is locked by it, and
// loses the slot too. On a bucket without Object Lock, Open refuses.
func TestObjectLockNode(t *testing.T) {
	ctx := context.Background()
	archiveURL, copyURL := testkit.LockedS3URL(t), testkit.LockedS3URL(t)
	lock := &ObjectLockConfig{Mode: snapshot.Governance, Window: time.Hour, Keep: 3 * time.Hour}
	copyLock := &ObjectLockConfig{Mode: snapshot.Governance, Window: 2 * time.Hour, Keep: 5 * time.Hour}
	cfg := Config{Dir: t.TempDir(), Archive: archiveURL, Logger: quiet, ObjectLock: lock,
		Copies: []CopyConfig{{Name: "vault", URL: copyURL, ObjectLock: copyLock}}}
	n, err := Open(ctx, cfg, testsm.NewTenants())
	require.NoError(t, err)
	defer n.Close()
	require.NoError(t, n.CreateTenant(ctx, "acme", TenantOptions{}))
	_, last, err := n.AppendTenant(ctx, "acme", []byte("acme-1"))
	require.NoError(t, err)
	require.NoError(t, n.WaitFor(ctx, last))
	_, err = n.Snapshot(ctx)
	require.NoError(t, err)
	require.NoError(t, n.archiver().Flush(ctx))

	b, err := blob.OpenBucket(ctx, archiveURL)
	require.NoError(t, err)
	defer b.Close()
	cb, err := blob.OpenBucket(ctx, copyURL)
	require.NoError(t, err)
	defer cb.Close()
	testkit.Eventually(t, func() bool {
		c := n.Status().Copies[0]
		ok, err := cb.Exists(ctx, testkit.FirstKey(t, b, "snapshots/"))
		return err == nil && ok && c.Archived >= last
	}, "the copy holds the snapshot and the records: %+v", n.Status().Copies)
	now := time.Now()
	// WAL objects: the window plus SnapshotEvery (1 h by default).
	for _, bk := range []struct {
		b    *blob.Bucket
		lock *ObjectLockConfig
	}{{b, lock}, {cb, copyLock}} {
		for prefix, hold := range map[string]time.Duration{"wal/0": bk.lock.Window + time.Hour, "data/": bk.lock.Keep, "snapshots/": bk.lock.Keep, audit.Prefix: bk.lock.Keep} {
			name := testkit.FirstKey(t, bk.b, prefix)
			until, _ := testkit.ObjectLockOf(t, bk.b, name)
			// A pack a later snapshot reused was moved a tenth further.
			assert.True(t, !until.Before(now.Add(hold-time.Minute)) && !until.After(now.Add(hold+hold/10+time.Minute)),
				"%s is locked until %v: want %v from now (a tenth more if reused)", name, until, hold)
		}
	}
	slot := testkit.FirstKey(t, b, tenant.SlotPrefix)
	for _, bk := range []*blob.Bucket{b, cb} {
		for _, name := range []string{testkit.FirstKey(t, bk, "keys/"), slot} {
			until, _ := testkit.ObjectLockOf(t, bk, name)
			assert.True(t, until.IsZero(), "%s is not locked", name)
		}
	}

	rc, err := n.ForgetTenant(ctx, "acme", "account closed")
	require.NoError(t, err, "forgetting a tenant under Object Lock")
	assert.Contains(t, rc.Deleted, "archive:"+slot)
	assert.Contains(t, rc.Deleted, "copy:vault:"+slot)
	for _, bk := range []*blob.Bucket{b, cb} {
		ok, err := bk.Exists(ctx, slot)
		require.NoError(t, err)
		assert.False(t, ok, "the tenant's slot is gone")
	}
	require.NoError(t, n.Close())

	// The shared test bucket has no Object Lock: refused before anything
	// is written.
	cfg.Dir, cfg.Archive = t.TempDir(), os.Getenv(testkit.S3URLEnv)+"&prefix=nolock-"+strings.ToLower(rand.Text()[:8])+"/"
	_, err = Open(ctx, cfg, testsm.NewTenants())
	require.ErrorContains(t, err, "Object Lock")
}
