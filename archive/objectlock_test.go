package archive

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestObjectLock archives into an S3 bucket with Object Lock (versitygw)
// through a repository that locks its history: WAL objects and packs
// carry Governance locks with their dates, heads and key slots none; the
// library's own delete of a locked object fails with ErrRetained; a
// retention run skips what is locked, says so, and leaves every instant
// restorable; once the dates pass, the next run deletes.
func TestObjectLock(t *testing.T) {
	const hold = 3 * time.Second
	ctx := context.Background()
	b := testkit.LockedS3Bucket(t)
	rig := newArchiveRig(t, b)
	lock := &snapshot.ObjectLock{Mode: snapshot.Governance, Snapshots: hold, Sealed: LockSealed(hold, nil)}
	repo, err := snapshot.Open(ctx, b, snapshot.RawKey([32]byte{7}), snapshot.Options{ObjectLock: lock})
	require.NoError(t, err)
	rig.repo.Close()
	rig.repo = repo

	a := rig.archiver(Options{ShipInterval: time.Second, NoCompaction: true})
	written := time.Now()
	for range 4 {
		rig.append(3)
		rig.clock.Add(time.Minute)
		flush(t, a)
	}
	_, err = a.SnapshotNow(ctx)
	require.NoError(t, err)
	rig.append(2)
	flush(t, a)
	require.NoError(t, a.Close())

	// What is locked, and what is not.
	var client *s3.Client
	require.True(t, b.As(&client))
	segs := rig.walObjects(ctx)
	require.NotEmpty(t, segs)
	for _, name := range []string{segs[0].String(), testkit.FirstKey(t, b, "data/"), testkit.FirstKey(t, b, "snapshots/")} {
		until, mode := testkit.ObjectLockOf(t, b, name)
		assert.Equal(t, "GOVERNANCE", mode, "%s", name)
		assert.WithinRange(t, until, written.Add(hold-time.Second), time.Now().Add(hold+time.Second), "%s's date", name)
	}
	for _, name := range []string{testkit.FirstKey(t, b, headPrefix), testkit.FirstKey(t, b, "keys/")} {
		until, _ := testkit.ObjectLockOf(t, b, name)
		assert.True(t, until.IsZero(), "%s is not locked", name)
	}

	// Verify says what the locks cover: everything the history needs.
	rep, err := VerifyWith(ctx, repo, VerifyConsistent, VerifyOptions{Locks: true})
	require.NoError(t, err)
	require.NotNil(t, rep.Locks)
	assert.Equal(t, len(segs), rep.Locks.Checked, "every WAL object is asked")
	assert.Equal(t, rep.Locks.Checked, rep.Locks.Locked, "%s", rep.Locks)
	assert.Empty(t, rep.Locks.Unprotected)
	srep, err := repo.Verify(ctx, snapshot.VerifyOptions{Locks: true})
	require.NoError(t, err)
	require.NotNil(t, srep.Locks)
	assert.Positive(t, srep.Locks.Checked)
	assert.Equal(t, srep.Locks.Checked, srep.Locks.Locked, "every manifest and pack in use: %s", srep.Locks)

	// The library's own delete of a locked object fails and says why.
	err = repo.DeleteObject(ctx, segs[0].String())
	require.ErrorIs(t, err, snapshot.ErrRetained)
	var re *snapshot.RetainedError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, snapshot.Governance, re.Mode)
	require.Equal(t, segs, rig.walObjects(ctx), "nothing was hidden behind a delete marker")

	// Retention with a window of a minute wants the first objects gone:
	// they stay, and it says so.
	rig.clock.Add(2 * time.Minute) // the snapshot is the window's base
	policy := RetentionPolicy{Window: time.Minute, Keep: snapshot.Policy{Last: 1}, Now: rig.clock.Now}
	res, err := ApplyRetention(ctx, repo, policy, false)
	require.NoError(t, err)
	assert.NotEmpty(t, res.Retained, "locked objects are reported")
	assert.Empty(t, res.DeletedObjects, "nothing locked is deleted")
	require.Equal(t, segs, rig.walObjects(ctx))
	for l := wal.LSN(1); l <= wal.LSN(len(rig.recs)); l++ {
		rig.check(ctx, AtLSN(l), l)
	}

	// After the dates, Verify names what is no longer protected, and the
	// next run deletes.
	testkit.Eventually(t, func() bool { return time.Now().After(written.Add(hold + time.Second)) }, "the locks' dates pass")
	rep, err = VerifyWith(ctx, repo, VerifyConsistent, VerifyOptions{Locks: true})
	require.NoError(t, err)
	assert.Zero(t, rep.Locks.Locked)
	assert.Len(t, rep.Locks.Unprotected, rep.Locks.Checked, "%s", rep.Locks)
	res, err = ApplyRetention(ctx, repo, policy, false)
	require.NoError(t, err)
	assert.Empty(t, res.Retained, "nothing is locked any more")
	assert.NotEmpty(t, res.DeletedObjects, "the WAL before the window's base goes")
	rig.check(ctx, Target{}, wal.LSN(len(rig.recs)))
}
