package archive

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/wal"
)

// TestArchiveTimelines fails over: the standby that had 80 of the
// primary's records is promoted at epoch 2 and archives its own history,
// while the deposed primary goes on archiving a divergent tail at epoch 1.
// Restore follows the winning history and never the deposed tail; the
// deposed archiver learns that it is deposed.
func TestArchiveTimelines(t *testing.T) {
	testkit.RunBuckets(t, func(t *testing.T, b *blob.Bucket) {
		ctx := context.Background()
		old := newArchiveRig(t, b)
		require.NoError(t, old.log.SetEpoch(1))
		oldA := old.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
		for i := 0; i < 10; i++ {
			old.append(10)
			old.clock.Add(time.Second)
			flush(t, oldA)
		}

		// The standby: a log with the first 80 records, then promoted.
		nw := &archiveRig{t: t, clock: old.clock, dir: t.TempDir(), bucket: b, state: &testsm.Chain{}, sums: old.sums[:81:81], recs: old.recs[:80:80]}
		nw.openLog()
		t.Cleanup(func() { nw.log.Close() })
		nw.repo = old.repo
		for _, r := range old.recs[:80] {
			r.Epoch = 1
			require.NoError(t, nw.log.Write(ctx, r))
			require.NoError(t, nw.state.Apply(r))
		}
		require.NoError(t, nw.log.SetEpoch(2))
		newA := nw.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
		for i := 0; i < 5; i++ {
			nw.append(10)
			nw.clock.Add(time.Second)
			flush(t, newA)
		}
		// The deposed primary archives a tail that diverged after LSN 80.
		old.append(30)
		flush(t, oldA)

		w, err := Restorable(ctx, nw.repo)
		require.NoError(t, err)
		assert.Equal(t, "epoch 1 → after 80: epoch 2", w.Timeline, "window %+v", w)
		assert.Equal(t, wal.LSN(130), w.LatestLSN, "window %+v", w)
		nw.check(ctx, Target{}, 130)
		for _, l := range []wal.LSN{1, 79, 80, 81, 95, 100, 101, 129} {
			nw.check(ctx, AtLSN(l), l) // the new primary's records, not the deposed tail
		}
		nw.check(ctx, AtTime(nw.recs[84].Time), nw.modelAt(nw.recs[84].Time))

		assert.ErrorIs(t, oldA.checkNewerTimeline(ctx), ErrDeposed, "the deposed archiver's timeline check")
		assert.NoError(t, newA.checkNewerTimeline(ctx), "the new primary's timeline check")
		assert.ErrorIs(t, oldA.Compact(ctx), ErrDeposed, "the deposed archiver's Compact")
		oldA.Close()
		again := old.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err = again.Flush(fctx)
		assert.ErrorIs(t, err, ErrDeposed, "a restarted deposed archiver's Flush (status %+v)", again.Status())
		assert.ErrorIs(t, again.Status().Deposed, ErrDeposed, "a restarted deposed archiver's status: %+v", again.Status())
		rep, err := Verify(ctx, nw.repo, VerifyPITR)
		require.NoError(t, err, "Verify")
		assert.True(t, rep.OK(), "Verify: %+v", rep)
		assert.Equal(t, wal.LSN(130), rep.Last, "Verify: %+v", rep)
	})
}

// TestArchiveEpochChange: a running archiver whose log moves to a new
// epoch starts the new timeline at the fork and goes on.
func TestArchiveEpochChange(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: 10 * time.Millisecond, NoCompaction: true})
	rig.append(25)
	require.NoError(t, rig.log.SetEpoch(3))
	rig.append(25)
	flush(t, a)
	st := a.Status()
	assert.Equal(t, uint64(3), st.Epoch, "status %+v", st)
	assert.Equal(t, wal.LSN(50), st.Archived, "status %+v", st)
	w, err := Restorable(ctx, rig.repo)
	require.NoError(t, err)
	assert.Equal(t, "epoch 0 → after 25: epoch 3", w.Timeline, "window %+v", w)
	for l := wal.LSN(1); l <= 50; l++ {
		rig.check(ctx, AtLSN(l), l)
	}
}

func memBucket(t *testing.T) *blob.Bucket {
	t.Helper()
	b, err := blob.OpenBucket(context.Background(), "mem://")
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}
