package archive

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// untouched is a state machine that records whether a restore touched
// it: restores that cannot reach their target must fail before that.
type untouched struct{ calls int }

func (u *untouched) Restore(io.Reader) error  { u.calls++; return nil }
func (u *untouched) Apply(wal.Record) error   { u.calls++; return nil }
func (u *untouched) Snapshot(io.Writer) error { return nil }

// integrityRig archives 50 records as five objects of ten (LSN 1-10 ...
// 41-50, a second apart) with a base snapshot at LSN 30, then closes the
// archiver; objs are the WAL objects in LSN order.
func integrityRig(t *testing.T) (*archiveRig, []segName, snapshot.Manifest) {
	t.Helper()
	ctx := t.Context()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	var base snapshot.Manifest
	for i := 0; i < 5; i++ {
		rig.append(10)
		flush(t, a)
		if i == 2 {
			var err error
			base, err = a.SnapshotNow(ctx)
			require.NoError(t, err)
		}
		rig.clock.Add(time.Second)
	}
	require.NoError(t, a.Close())
	objs := rig.walObjects(ctx)
	require.Len(t, objs, 5)
	rig.useBucket(rig.bucket) // read as another process would
	return rig, objs, base
}

// onlyProblem verifies at VerifyPITR and requires exactly one problem,
// an *ObjectError with cause want naming object at lsn.
func onlyProblem(t *testing.T, store Store, want error, object string, lsn wal.LSN) *ObjectError {
	t.Helper()
	rep, err := Verify(t.Context(), store, VerifyPITR)
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1, "problems: %v", rep.Problems)
	var oe *ObjectError
	require.ErrorAs(t, rep.Problems[0], &oe)
	assert.ErrorIs(t, oe, want)
	assert.Equal(t, object, oe.Object, "the problem names the wrong object: %v", oe)
	assert.Equal(t, lsn, oe.LSN, "the problem's LSN: %v", oe)
	return oe
}

// refused restores target into a state machine that must stay untouched
// and returns the error.
func refused(t *testing.T, store Store, target Target) error {
	t.Helper()
	var sm untouched
	_, err := RestoreTo(t.Context(), store, target, &sm, RestoreOptions{})
	require.Error(t, err, "RestoreTo(%s)", target)
	assert.Zero(t, sm.calls, "RestoreTo(%s) touched the state machine before failing with %v", target, err)
	return err
}

// TestIntegrityCases: the cases of a deleted first, last or middle
// object, planted names, a planted head and a damaged manifest, each with
// its exact error, what verify says it costs, and what still restores.
func TestIntegrityCases(t *testing.T) {
	ctx := t.Context()
	t.Run("first object deleted", func(t *testing.T) {
		rig, objs, _ := integrityRig(t)
		require.NoError(t, rig.bucket.Delete(ctx, objs[0].String()))
		oe := onlyProblem(t, rig.repo, ErrGap, objs[1].String(), 1)
		assert.Contains(t, oe.Detail, "first record the archive keeps")
		assert.Contains(t, oe.Cost, "targets from LSN 1 to 29 cannot be restored; restores resume at LSN 30")
		var we *WindowError
		require.ErrorAs(t, refused(t, rig.repo, AtLSN(5)), &we)
		rig.check(ctx, AtLSN(35), 35)
		rig.check(ctx, Target{}, 50)
	})
	t.Run("last object deleted", func(t *testing.T) {
		rig, objs, _ := integrityRig(t)
		require.NoError(t, rig.bucket.Delete(ctx, objs[4].String()))
		oe := onlyProblem(t, rig.repo, ErrGap, anchorName(headPrefix, 6), 41)
		assert.Contains(t, oe.Detail, "the newest objects are missing")
		assert.Contains(t, oe.Cost, "targets after LSN 40 cannot be restored")
		w, err := Restorable(ctx, rig.repo)
		require.NoError(t, err)
		require.ErrorIs(t, w.Cut, ErrGap)
		assert.Equal(t, wal.LSN(50), w.HeadLSN)
		err = refused(t, rig.repo, Target{})
		var cut *ObjectError
		require.ErrorAs(t, err, &cut)
		assert.Equal(t, anchorName(headPrefix, 6), cut.Object)
		assert.ErrorContains(t, err, "name LSN 40")
		rig.check(ctx, AtLSN(40), 40)
	})
	t.Run("last object and its head deleted", func(t *testing.T) {
		rig, objs, _ := integrityRig(t)
		require.NoError(t, rig.bucket.Delete(ctx, objs[4].String()))
		require.NoError(t, rig.bucket.Delete(ctx, anchorName(headPrefix, 6)))
		// The archive proves itself shorter: only an outside record
		// of how far it reached shows the loss.
		rep, err := Verify(ctx, rig.repo, VerifyPITR)
		require.NoError(t, err)
		require.Empty(t, rep.Problems)
		assert.Equal(t, wal.LSN(40), rep.HeadLSN)
		rep, err = VerifyWith(ctx, rig.repo, VerifyPITR, VerifyOptions{Expect: 50})
		require.NoError(t, err)
		require.Len(t, rep.Problems, 1, "%v", rep.Problems)
		assert.ErrorIs(t, rep.Problems[0], ErrGap)
		assert.ErrorContains(t, rep.Problems[0], "recorded that it archived every record up to LSN 50")
	})
	t.Run("every head deleted", func(t *testing.T) {
		rig, _, _ := integrityRig(t)
		for seq := uint64(4); seq <= 6; seq++ { // the newest and the two kept before it
			require.NoError(t, rig.bucket.Delete(ctx, anchorName(headPrefix, seq)))
		}
		oe := onlyProblem(t, rig.repo, ErrGap, headPrefix, 50)
		assert.Contains(t, oe.Detail, "no head authenticates")
		rig.check(ctx, Target{}, 50)
	})
	t.Run("middle object deleted", func(t *testing.T) {
		rig, objs, _ := integrityRig(t)
		require.NoError(t, rig.bucket.Delete(ctx, objs[2].String()))
		oe := onlyProblem(t, rig.repo, ErrGap, objs[3].String(), 21)
		assert.Contains(t, oe.Detail, "no object holds LSN 21 to 30")
		assert.Contains(t, oe.Cost, "targets from LSN 21 to 29 cannot be restored; restores resume at LSN 30")
		w, err := Restorable(ctx, rig.repo)
		require.NoError(t, err)
		require.Len(t, w.Ranges, 2, "ranges %+v", w.Ranges)
		assert.Equal(t, [2]wal.LSN{1, 20}, [2]wal.LSN{w.Ranges[0].FromLSN, w.Ranges[0].ToLSN})
		assert.Equal(t, [2]wal.LSN{30, 50}, [2]wal.LSN{w.Ranges[1].FromLSN, w.Ranges[1].ToLSN})
		var we *WindowError
		require.ErrorAs(t, refused(t, rig.repo, AtLSN(25)), &we)
		rig.check(ctx, AtLSN(15), 15)
		rig.check(ctx, AtLSN(35), 35)
		rig.check(ctx, Target{}, 50)
	})
	t.Run("planted wide range", func(t *testing.T) {
		rig, objs, _ := integrityRig(t)
		planted := segName{Epoch: objs[0].Epoch, First: 1, Last: 50, FirstNanos: objs[0].FirstNanos, LastNanos: objs[4].LastNanos}.String()
		require.NoError(t, rig.bucket.WriteAll(ctx, planted, make([]byte, 19), nil))
		a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
		flush(t, a)
		require.NoError(t, a.Compact(ctx))
		for _, o := range objs {
			ok, err := rig.bucket.Exists(ctx, o.String())
			require.NoError(t, err)
			assert.True(t, ok, "compaction deleted %s for a planted name", o)
		}
		oe := onlyProblem(t, rig.repo, ErrCorrupt, planted, 1)
		assert.Contains(t, oe.Cost, "nothing")
		rig.check(ctx, AtLSN(15), 15)
		rig.check(ctx, Target{}, 50)
	})
	t.Run("planted far-future name", func(t *testing.T) {
		rig, objs, _ := integrityRig(t)
		far := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
		planted := segName{Epoch: objs[0].Epoch, First: 51, Last: 60, FirstNanos: far, LastNanos: far + 1}.String()
		require.NoError(t, rig.bucket.WriteAll(ctx, planted, []byte("not sealed"), nil))
		w, err := Restorable(ctx, rig.repo)
		require.NoError(t, err)
		assert.Equal(t, wal.LSN(50), w.LatestLSN)
		assert.False(t, w.Latest.Before(w.Earliest), "window %v to %v", w.Earliest, w.Latest)
		assert.ErrorIs(t, w.Unverified, ErrCorrupt)
		r, err := Drill(ctx, rig.repo, func() StateMachine { return &testsm.Chain{} }, nil, DrillOptions{})
		require.NoError(t, err, "drill %+v", r)
		onlyProblem(t, rig.repo, ErrCorrupt, planted, 51)
		rig.check(ctx, Target{}, 50)
	})
	t.Run("planted head", func(t *testing.T) {
		rig, _, _ := integrityRig(t)
		planted := anchorName(headPrefix, 7)
		require.NoError(t, rig.bucket.WriteAll(ctx, planted, []byte("a head nobody wrote"), nil))
		onlyProblem(t, rig.repo, ErrCorrupt, planted, 0)
		rig.check(ctx, Target{}, 50)
		// The archiver writes its next head past the planted name.
		a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
		rig.append(5)
		flush(t, a)
		w, err := Restorable(ctx, rig.repo)
		require.NoError(t, err)
		assert.Equal(t, wal.LSN(55), w.HeadLSN)
		rig.check(ctx, Target{}, 55)
	})
	t.Run("planted newer timeline", func(t *testing.T) {
		rig, _, _ := integrityRig(t)
		planted := timelineObject(9)
		require.NoError(t, rig.bucket.WriteAll(ctx, planted, []byte("a timeline nobody wrote"), nil))
		oe := onlyProblem(t, rig.repo, ErrCorrupt, planted, 0)
		assert.Contains(t, oe.Cost, "nothing")
		rig.check(ctx, Target{}, 50)
	})
	t.Run("damaged manifest not needed", func(t *testing.T) {
		rig, _, base := integrityRig(t)
		name := "snapshots/" + base.ID.String()
		data, err := rig.bucket.ReadAll(ctx, name)
		require.NoError(t, err)
		data[len(data)/2] ^= 1
		require.NoError(t, rig.bucket.WriteAll(ctx, name, data, nil))
		oe := onlyProblem(t, rig.repo, ErrCorrupt, name, 0)
		assert.Contains(t, oe.Detail, "snapshot manifest")
		rig.check(ctx, AtLSN(10), 10)
		rig.check(ctx, AtLSN(35), 35)
		rig.check(ctx, Target{}, 50)
	})
	t.Run("pin deleted", func(t *testing.T) {
		rig, _, _ := integrityRig(t)
		require.NoError(t, rig.bucket.Delete(ctx, anchorName(pinPrefix, 1)))
		oe := onlyProblem(t, rig.repo, ErrGap, pinPrefix, 1)
		assert.Contains(t, oe.Detail, "no pin authenticates")
		rig.check(ctx, Target{}, 50)
	})
}

// TestIntegrityForeignObject: an authentic object of another history
// under the next LSNs (the same key, another chain) does not continue
// this one: verify reports ErrBrokenChain naming it.
func TestIntegrityForeignObject(t *testing.T) {
	ctx := t.Context()
	rig, objs, _ := integrityRig(t)
	recs := make([]wal.Record, 10)
	for i := range recs {
		recs[i] = wal.Record{LSN: wal.LSN(51 + i), Epoch: objs[0].Epoch, Time: time.Unix(0, objs[4].LastNanos).Add(time.Second), Data: []byte("another history")}
	}
	enc, err := encodeSegment(objs[0].Epoch, chainHash{9}, recs, nil)
	require.NoError(t, err)
	_, err = rig.repo.PutSealed(ctx, enc.name.String(), enc.prefix, enc.body)
	require.NoError(t, err)
	rep, err := Verify(ctx, rig.repo, VerifyValid)
	require.NoError(t, err)
	var broken *ObjectError
	for _, p := range rep.Problems {
		if errors.Is(p, ErrBrokenChain) {
			require.ErrorAs(t, p, &broken)
		}
	}
	require.NotNil(t, broken, "verify does not see the foreign object: %v", rep.Problems)
	assert.Equal(t, enc.name.String(), broken.Object)
	_, err = RestoreTo(ctx, rig.repo, AtLSN(55), &testsm.Chain{}, RestoreOptions{})
	require.ErrorIs(t, err, ErrBrokenChain)
	rig.check(ctx, AtLSN(50), 50)
}

// TestIntegrityOnEveryBucket runs the deleted-last-object case on file,
// mem and S3.
func TestIntegrityOnEveryBucket(t *testing.T) {
	testkit.RunBuckets(t, func(t *testing.T, b *blob.Bucket) {
		ctx := t.Context()
		rig := newArchiveRig(t, b)
		a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
		for i := 0; i < 3; i++ {
			rig.append(10)
			flush(t, a)
		}
		require.NoError(t, a.Close())
		last := rig.walObject(ctx, func(n segName) bool { return n.Last == 30 })
		require.NoError(t, rig.bucket.Delete(ctx, last))
		rep, err := Verify(ctx, rig.repo, VerifyValid)
		require.NoError(t, err)
		require.Len(t, rep.Problems, 1, "%v", rep.Problems)
		assert.True(t, strings.HasPrefix(rep.Problems[0].(*ObjectError).Object, headPrefix), "%v", rep.Problems[0])
		_, err = RestoreTo(ctx, rig.repo, Target{}, &untouched{}, RestoreOptions{})
		require.ErrorIs(t, err, ErrGap)
		rig.check(ctx, AtLSN(20), 20)
	})
}

// TestIntegrityWriterBug: an authentic object whose records do not chain
// as its prefix says (a writer's bug, not an attack: it takes the key)
// shows in Verify: as a chain that does not reach the head's by default,
// and as the object's own inconsistency with Decode.
func TestIntegrityWriterBug(t *testing.T) {
	ctx := t.Context()
	rig, objs, _ := integrityRig(t)
	last := objs[4]
	seg, err := readSegment(ctx, rig.repo, last)
	require.NoError(t, err)
	seg.recs[3].Data = []byte("not what was chained")
	enc, err := encodeSegment(last.Epoch, seg.prev, seg.recs, nil)
	require.NoError(t, err)
	copy(enc.prefix[88:], seg.end[:]) // the old End over new records
	require.NoError(t, rig.repo.DeleteObject(ctx, last.String()))
	_, err = rig.repo.PutSealed(ctx, last.String(), enc.prefix, enc.body)
	require.NoError(t, err)
	rep, err := VerifyWith(ctx, rig.repo, VerifyValid, VerifyOptions{Decode: true})
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1, "%v", rep.Problems)
	assert.ErrorIs(t, rep.Problems[0], ErrCorrupt)
	assert.ErrorContains(t, rep.Problems[0], "writer's bug")
}
