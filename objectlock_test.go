package continuity

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
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
// slots are not, so forgetting a tenant still deletes its slot. On a
// bucket without Object Lock, Open refuses.
func TestObjectLockNode(t *testing.T) {
	ctx := context.Background()
	archiveURL := testkit.LockedS3URL(t)
	lock := &ObjectLockConfig{Mode: snapshot.Governance, Window: time.Hour, Keep: 3 * time.Hour}
	cfg := Config{Dir: t.TempDir(), Archive: archiveURL, Logger: quiet, ObjectLock: lock}
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
	now := time.Now()
	// WAL objects: the window plus SnapshotEvery (1 h by default).
	for prefix, hold := range map[string]time.Duration{"wal/0": lock.Window + time.Hour, "data/": lock.Keep, "snapshots/": lock.Keep, audit.Prefix: lock.Keep} {
		name := firstKey(t, b, prefix)
		until := lockUntil(t, b, name)
		assert.WithinDuration(t, now.Add(hold), until, time.Minute, "%s is locked for %v", name, hold)
	}
	slot := firstKey(t, b, tenant.SlotPrefix)
	for _, name := range []string{firstKey(t, b, "keys/"), slot} {
		assert.True(t, lockUntil(t, b, name).IsZero(), "%s is not locked", name)
	}

	rc, err := n.ForgetTenant(ctx, "acme", "account closed")
	require.NoError(t, err, "forgetting a tenant under Object Lock")
	assert.Contains(t, rc.Deleted, "archive:"+slot)
	ok, err := b.Exists(ctx, slot)
	require.NoError(t, err)
	assert.False(t, ok, "the tenant's slot is gone")
	require.NoError(t, n.Close())

	// The shared test bucket has no Object Lock: refused before anything
	// is written.
	cfg.Dir, cfg.Archive = t.TempDir(), os.Getenv(testkit.S3URLEnv)+"&prefix=nolock-"+strings.ToLower(rand.Text()[:8])+"/"
	_, err = Open(ctx, cfg, testsm.NewTenants())
	require.ErrorContains(t, err, "Object Lock")
}

func firstKey(t *testing.T, b *blob.Bucket, prefix string) string {
	t.Helper()
	o, err := b.List(&blob.ListOptions{Prefix: prefix}).Next(context.Background())
	require.NoError(t, err, "no object under %s", prefix)
	return o.Key
}

// lockUntil returns an object's Object Lock date (zero if none).
func lockUntil(t *testing.T, b *blob.Bucket, name string) time.Time {
	t.Helper()
	attrs, err := b.Attributes(context.Background(), name)
	require.NoError(t, err, name)
	var head s3.HeadObjectOutput
	require.True(t, attrs.As(&head))
	if head.ObjectLockRetainUntilDate == nil {
		return time.Time{}
	}
	return *head.ObjectLockRetainUntilDate
}
