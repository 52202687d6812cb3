package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestObjectLockExtendsReusedPacks: on an S3 bucket with Object Lock
// (versitygw), a Save locks its packs and manifest for
// ObjectLock.Snapshots; a later Save that reuses them moves their dates
// to cover itself before its manifest is written, and a Save soon after
// moves nothing. A Forget that would remove a locked snapshot keeps it
// and says why; Prune deletes no locked pack. A bucket without Object
// Lock is refused.
func TestObjectLockExtendsReusedPacks(t *testing.T) {
	ctx := context.Background()
	b := testkit.LockedS3Bucket(t)
	var mu sync.Mutex
	offset := time.Duration(0) // the Repo's clock runs ahead of the server's by this
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	ahead := func(d time.Duration) { mu.Lock(); offset += d; mu.Unlock() }
	opts := testOptions()
	opts.Now = now
	opts.ObjectLock = &ObjectLock{Mode: Governance, Snapshots: time.Hour}
	r, err := Init(ctx, b, testKey, testFormat, opts)
	require.NoError(t, err)
	defer r.Close()

	data := make([]byte, 1<<20)
	rand.Read(data)
	m1, st := save(t, r, data)
	require.Positive(t, st.Packs)
	assert.Zero(t, st.LocksExtended)
	packs := namesUnder(t, b, dataPrefix)
	first := lockDates(t, b, packs)
	for _, p := range packs {
		assert.WithinDuration(t, now().Add(time.Hour), first[p], time.Minute, "%s locked for an hour", p)
	}

	// Half an hour later the same state is saved again: every pack is
	// reused, and must now stay until an hour after this Save.
	ahead(30 * time.Minute)
	m2, st := save(t, r, data)
	assert.Zero(t, st.Packs, "nothing new")
	assert.Equal(t, len(packs), st.LocksExtended, "every reused pack's date moved")
	for p, until := range lockDates(t, b, packs) {
		assert.False(t, until.Before(now().Add(time.Hour)), "%s: %v does not cover the second snapshot", p, until)
	}
	_, st = save(t, r, data)
	assert.Zero(t, st.LocksExtended, "a Save soon after moves nothing")
	assert.True(t, bytes.Equal(data, restore(t, r, m2.ID)))

	// Forget would remove the older snapshots: Object Lock keeps them.
	ds, err := r.Forget(ctx, Policy{Last: 1}, false)
	require.NoError(t, err)
	kept := 0
	for _, d := range ds {
		if d.Keep {
			kept++
		}
	}
	assert.Equal(t, 3, kept, "every snapshot is kept: %v", ds)
	assert.Contains(t, ds[len(ds)-1].Reasons[len(ds[len(ds)-1].Reasons)-1], "retained by Object Lock until")
	err = r.Remove(ctx, m1.ID)
	require.ErrorIs(t, err, ErrRetained, "Remove of a locked manifest")
	_, err = r.Prune(ctx, PruneOptions{})
	require.NoError(t, err)
	assert.Equal(t, packs, namesUnder(t, b, dataPrefix), "no pack is deleted")

	plain := memBucket(t)
	_, err = Init(ctx, plain, testKey, testFormat, opts)
	assert.ErrorContains(t, err, "needs an S3 bucket")
}

func namesUnder(t *testing.T, b *blob.Bucket, prefix string) []string {
	t.Helper()
	names, err := listNames(context.Background(), b, prefix)
	require.NoError(t, err)
	return names
}

// lockDates returns each object's Object Lock date.
func lockDates(t *testing.T, b *blob.Bucket, names []string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for _, n := range names {
		until, _ := testkit.ObjectLockOf(t, b, n)
		require.False(t, until.IsZero(), "%s is not locked", n)
		out[n] = until
	}
	return out
}

// TestCopyLocked: CopyTo with Lock writes the copy's objects under the
// copy's own Object Lock policy (packs and manifests for Snapshots from
// the copy) although the source locks nothing, and before a later
// snapshot's manifest lands in the copy, moves the copy's dates of the
// packs it reuses; a repeat moves nothing. A copy with Lock into a
// bucket without Object Lock is refused.
func TestCopyLocked(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	offset := time.Duration(0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	opts := testOptions()
	opts.Now = now
	r, err := Init(ctx, memBucket(t), testKey, testFormat, opts)
	require.NoError(t, err)
	defer r.Close()
	data := make([]byte, 1<<20)
	rand.Read(data)
	save(t, r, data)
	lock := CopyOptions{Lock: &ObjectLock{Mode: Governance, Snapshots: time.Hour}}

	dst := testkit.LockedS3Bucket(t)
	st, err := r.CopyTo(ctx, dst, lock)
	require.NoError(t, err)
	assert.Zero(t, st.LocksExtended)
	packs := namesUnder(t, dst, dataPrefix)
	require.NotEmpty(t, packs)
	for p, until := range lockDates(t, dst, append(slices.Clone(packs), namesUnder(t, dst, snapsPrefix)...)) {
		assert.WithinDuration(t, now().Add(time.Hour), until, time.Minute, "%s locked for an hour in the copy", p)
	}

	// Half an hour later the same state is saved again: its manifest
	// reaches the copy only after the copy's packs cover it.
	mu.Lock()
	offset += 30 * time.Minute
	mu.Unlock()
	save(t, r, data)
	st, err = r.CopyTo(ctx, dst, lock)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Copied, "the new manifest")
	assert.Equal(t, len(packs), st.LocksExtended, "every reused pack's date moved in the copy")
	for p, until := range lockDates(t, dst, packs) {
		assert.False(t, until.Before(now().Add(time.Hour)), "%s: %v does not cover the second snapshot", p, until)
	}
	st, err = r.CopyTo(ctx, dst, lock)
	require.NoError(t, err)
	assert.Zero(t, st.Copied+st.LocksExtended, "a repeat copies and moves nothing")

	_, err = r.CopyTo(ctx, memBucket(t), lock)
	assert.ErrorContains(t, err, "needs an S3 bucket")
	_, err = r.CopyTo(ctx, dst, CopyOptions{Lock: &ObjectLock{Mode: "none"}})
	assert.ErrorContains(t, err, "ObjectLock.Mode")
}
