package archive

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestArchiveRetention runs ten simulated days with a base snapshot every
// six hours and a 2-day window: every instant of the window stays
// restorable, daily snapshots beyond it stay restorable at their own
// instant, and the WAL before the window's base is deleted.
func TestArchiveRetention(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: time.Hour, Compaction: []time.Duration{time.Hour, 6 * time.Hour}})
	start := rig.clock.Now()
	for rig.clock.Now().Sub(start) < 10*24*time.Hour {
		rig.append(3)
		rig.clock.Add(20 * time.Minute)
		flush(t, a)
		if rig.clock.Now().Sub(start)%(6*time.Hour) < 20*time.Minute {
			_, err := a.SnapshotNow(ctx)
			require.NoError(t, err)
			require.NoError(t, a.Compact(ctx))
		}
	}
	pol := RetentionPolicy{Window: 48 * time.Hour, Keep: snapshot.Policy{Daily: 7}, Now: rig.clock.Now}
	dry, err := ApplyRetention(ctx, rig.repo, pol, true)
	require.NoError(t, err)
	assert.NotEmpty(t, dry.DeletedObjects, "dry run deletes nothing: %+v", dry)
	assert.NotEmpty(t, dry.Removed, "dry run deletes nothing: %+v", dry)
	assert.False(t, dry.Base.IsZero(), "dry run deletes nothing: %+v", dry)
	// One decision per snapshot, newest first, agreeing with Kept and
	// Removed, each kept one with a reason.
	require.Len(t, dry.Decisions, len(dry.Kept)+len(dry.Removed))
	kept := 0
	for i, d := range dry.Decisions {
		if i > 0 {
			assert.False(t, d.Item.Time.After(dry.Decisions[i-1].Item.Time), "decisions not newest first")
		}
		inWindow := d.Item.Time.After(dry.WindowStart)
		switch {
		case d.Keep:
			kept++
			assert.NotEmpty(t, d.Reasons, "kept %s without a reason", d.Item.ID)
			assert.Equal(t, inWindow, slices.Contains(d.Reasons, ReasonWindow), "%s: %v", d.Item.ID, d.Reasons)
			assert.Equal(t, d.Item.ID == dry.Base.String(), slices.Contains(d.Reasons, ReasonBase), "%s: %v", d.Item.ID, d.Reasons)
		default:
			assert.Empty(t, d.Reasons)
			assert.False(t, inWindow, "a snapshot inside the window removed")
		}
	}
	assert.Equal(t, len(dry.Kept), kept)
	before := countObjects(t, rig.bucket, archivePrefix)
	res, err := ApplyRetention(ctx, rig.repo, pol, false)
	require.NoError(t, err)
	after := countObjects(t, rig.bucket, archivePrefix)
	assert.Equal(t, before-len(res.DeletedObjects), after, "%d WAL objects before, %d deleted, %d after", before, len(res.DeletedObjects), after)
	t.Logf("kept %d snapshots, removed %d, deleted %d of %d WAL objects, cut at LSN %d", len(res.Kept), len(res.Removed), len(res.DeletedObjects), before, res.CutLSN)
	_, err = rig.repo.Prune(ctx, snapshot.PruneOptions{})
	require.NoError(t, err)

	w, err := Restorable(ctx, rig.repo)
	require.NoError(t, err)
	// The samples below are drawn from the window's start to its end.
	require.False(t, w.Earliest.After(res.WindowStart), "window %v to %v (LSN %d), want it to start at or before %v", w.Earliest, w.Latest, w.LatestLSN, res.WindowStart)
	require.Equal(t, wal.LSN(len(rig.recs)), w.LatestLSN, "window %v to %v (LSN %d), want it to end at the last record", w.Earliest, w.Latest, w.LatestLSN)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		at := res.WindowStart.Add(time.Duration(rng.Int64N(int64(w.Latest.Sub(res.WindowStart)))))
		rig.check(ctx, AtTime(at), rig.modelAt(at))
	}
	// Kept daily snapshots before the window restore to their own LSN,
	// each a range of one instant before the point-in-time range.
	ms, err := rig.repo.List(ctx)
	require.NoError(t, err)
	pitr := w.Ranges[len(w.Ranges)-1]
	require.False(t, pitr.From.After(res.WindowStart), "the point-in-time range %+v starts after the retention window's start %v", pitr, res.WindowStart)
	old := 0
	for _, m := range ms {
		if m.Time.Before(pitr.From) {
			assert.Contains(t, w.Ranges, Range{From: m.Time, To: m.Time, FromLSN: wal.LSN(m.LSN), ToLSN: wal.LSN(m.LSN), Base: m.ID}, "old snapshot %s is not a range of the window", m.ID.Short())
			old++
			var sm testsm.Chain
			require.NoError(t, RestoreSnapshot(ctx, rig.repo, m.ID, &sm), "old snapshot %s", m.ID.Short())
			lsn, _, sum := sm.State()
			assert.Equal(t, wal.LSN(m.LSN), lsn, "old snapshot %s restores the wrong LSN", m.ID.Short())
			assert.Equal(t, rig.sums[m.LSN], sum, "old snapshot %s restores a state other than the model's at LSN %d", m.ID.Short(), m.LSN)
		}
	}
	assert.GreaterOrEqual(t, old, 5, "snapshots kept beyond the window, want the dailies")
	// Before the window: out of it, typed.
	_, err = RestoreTo(ctx, rig.repo, AtTime(w.Earliest.Add(-time.Hour)), &testsm.Chain{}, RestoreOptions{})
	assert.ErrorIs(t, err, ErrOutOfWindow, "restore before the window")
	_, err = RestoreTo(ctx, rig.repo, AtTime(pitr.From.Add(-time.Minute)), &testsm.Chain{}, RestoreOptions{})
	assert.ErrorIs(t, err, ErrOutOfWindow, "restore before the window")
	rep, err := Verify(ctx, rig.repo, VerifyPITR)
	require.NoError(t, err, "Verify after retention")
	assert.Empty(t, rep.Problems, "Verify after retention: %+v", rep)
}

// TestDrill restores random seconds of the window into fresh state
// machines and checks them; a check that fails is reported.
func TestDrill(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	for i := 0; i < 60; i++ {
		rig.append(5)
		rig.clock.Add(7 * time.Second)
		if i%20 == 0 {
			flush(t, a)
			_, err := a.SnapshotNow(ctx)
			require.NoError(t, err)
		}
	}
	flush(t, a)
	check := func(_ context.Context, sm StateMachine, r Restored) error {
		s := sm.(*testsm.Chain)
		if _, _, sum := s.State(); sum != rig.sums[r.LSN] {
			return errors.New("state differs from the model")
		}
		if want := rig.modelAt(r.Target.Time); r.LSN != want {
			return errors.New("wrong LSN for the target")
		}
		return nil
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20; i++ {
		res, err := Drill(ctx, rig.repo, func() StateMachine { return &testsm.Chain{} }, check, DrillOptions{Rand: rng, Now: rig.clock.Now})
		require.NoError(t, err, "drill %d: %+v", i, res)
		require.NoError(t, res.Err, "drill %d: %+v", i, res)
		assert.Positive(t, res.RTO, "drill %d: %+v", i, res)
		assert.True(t, res.Target.Nanosecond() == 0 || res.Target.Equal(rig.recs[0].Time), "drill %d targets %v, want a whole second or the first record", i, res.Target)
	}
	bad := func(context.Context, StateMachine, Restored) error { return errors.New("orders table empty") }
	res, err := Drill(ctx, rig.repo, func() StateMachine { return &testsm.Chain{} }, bad, DrillOptions{Rand: rng})
	assert.ErrorContains(t, err, "orders table empty", "failing check: %+v", res)
	assert.Error(t, res.Err, "failing check: %+v", res)

	d := StartDrills(rig.repo, 5*time.Millisecond, func() StateMachine { return &testsm.Chain{} }, check, DrillOptions{})
	defer d.Stop()
	var (
		r           DrillResult
		runs, fails int
	)
	testkit.Eventually(t, func() bool {
		var ok bool
		r, runs, fails, ok = d.Last()
		return ok && runs >= 2
	}, "two scheduled drills")
	assert.Zero(t, fails, "scheduled drills: %d of %d failed: %v", fails, runs, r.Err)
	assert.NoError(t, r.Err, "the last scheduled drill")
}

// TestArchiveSchedules runs the archiver on its own timers: shipping,
// compaction and base snapshots every so many archived bytes, while
// events keep coming; restore then gives the model's state.
func TestArchiveSchedules(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{
		ShipInterval: 20 * time.Millisecond, SnapshotEveryBytes: 4 << 10,
		Compaction: []time.Duration{40 * time.Millisecond, 400 * time.Millisecond},
	})
	// Events keep coming, three at a time, between two looks at the
	// archiver (Eventually's tick spaces them in real time, so that the
	// timers fire among them). Progress towards 3 and 3 is logged as it
	// changes.
	var progress [2]int64
	testkit.Eventually(t, func() bool {
		rig.append(3)
		rig.clock.Add(10 * time.Millisecond)
		st := a.Status()
		ms, err := rig.repo.List(ctx)
		require.NoError(t, err)
		if p := [2]int64{min(st.Compacted, 3), min(int64(len(ms)), 3)}; p != progress {
			progress = p
			t.Logf("after %d records: status %+v, %d snapshots", len(rig.recs), st, len(ms))
		}
		return st.Compacted >= 3 && len(ms) >= 3 && len(rig.recs) > 600
	}, "3 objects compacted, 3 scheduled snapshots and 600 records")
	flush(t, a)
	for _, l := range []wal.LSN{1, wal.LSN(len(rig.recs) / 2), wal.LSN(len(rig.recs))} {
		rig.check(ctx, AtLSN(l), l)
	}
	res := rig.check(ctx, Target{}, wal.LSN(len(rig.recs)))
	assert.False(t, res.Snapshot.IsZero(), "restore did not use a scheduled base snapshot: %+v", res)
}

// TestArchiveBaseAtLSN0: a base snapshot of a state imported before the
// first record (LSN 0) is where restore starts, not the empty state.
func TestArchiveBaseAtLSN0(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, memBucket(t))
	imported := [32]byte{1, 2, 3}
	rig.state.Reset(0, imported)
	rig.sums[0] = imported
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	m, err := a.SnapshotNow(ctx)
	require.NoError(t, err, "SnapshotNow before any record")
	require.Zero(t, m.LSN, "SnapshotNow before any record: %+v", m)
	rig.append(10)
	flush(t, a)
	for _, l := range []wal.LSN{1, 5, 10} {
		res := rig.check(ctx, AtLSN(l), l)
		assert.False(t, res.Snapshot.IsZero(), "restore to %d did not start from the LSN-0 base", l)
	}
}

// TestArchiveLagBeforeResume: while the bucket cannot even be listed, the
// lag grows from the first record appended.
func TestArchiveLagBeforeResume(t *testing.T) {
	rig := newArchiveRig(t, memBucket(t))
	var down atomic.Bool
	rig.useBucket(testkit.FaultBucket(rig.bucket, func(context.Context, testkit.BucketOp) error {
		if down.Load() {
			return testkit.ErrInjected
		}
		return nil
	}))
	down.Store(true)
	a := rig.archiver(Options{ShipInterval: 10 * time.Millisecond, NoCompaction: true})
	rig.append(2)
	rig.clock.Add(5 * time.Second)
	testkit.Eventually(t, func() bool { return a.Status().LastError != nil }, "the first listing of the bucket to fail")
	st := a.Status()
	assert.False(t, st.Resumed, "status before resume: %+v", st)
	assert.Equal(t, 5*time.Second, st.Lag, "status before resume: %+v", st)
	down.Store(false)
	flush(t, a)
	st = a.Status()
	assert.True(t, st.Resumed, "status after resume: %+v", st)
	assert.Zero(t, st.Lag, "status after resume: %+v", st)
	assert.Equal(t, wal.LSN(2), st.Archived, "status after resume: %+v", st)
}
