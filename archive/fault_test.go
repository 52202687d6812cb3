package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// crashScenario drives an archiver through several upload cycles:
// appends, flushes (ship), a base snapshot, compactions over closed
// windows. It stops at the first step that fails (the archiver was
// "killed"), returning false.
func crashScenario(ctx context.Context, rig *archiveRig, a *Archiver) bool {
	for round := 0; round < 4; round++ {
		for k := 0; k < 3; k++ {
			rig.append(5)
			rig.clock.Add(12 * time.Second)
			if a.Flush(ctx) != nil {
				return false
			}
		}
		if round == 1 {
			if _, err := a.SnapshotNow(ctx); err != nil {
				return false
			}
		}
		if a.Compact(ctx) != nil {
			return false
		}
	}
	return true
}

// TestArchiveCrashAtEveryStep kills the archiver at every bucket
// operation of its upload cycles (the operation fails, and so does every
// later one, as when the process dies; "put-done" kills it after an
// upload landed but before it learned so), restarts it on the reopened
// log and checks that restore sees every record exactly once.
func TestArchiveCrashAtEveryStep(t *testing.T) {
	testkit.RunBucketOpeners(t, func(t *testing.T, open func(testing.TB) *blob.Bucket) {
		// Count the operations of a clean run.
		var total atomic.Int64
		{
			rig := newArchiveRig(t, open(t))
			var armed atomic.Bool
			fb := testkit.FaultBucket(rig.bucket, func(_ context.Context, op testkit.BucketOp) error {
				if armed.Load() && op.Kind != "put-done" {
					total.Add(1)
				}
				return nil
			})
			rig.useBucket(fb)
			armed.Store(true)
			a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true, Uploads: 1})
			require.True(t, crashScenario(context.Background(), rig, a), "the clean run failed")
			a.Close()
		}
		n := int(total.Load())
		stride := 1
		if testing.Short() || strings.HasPrefix(t.Name(), "TestArchiveCrashAtEveryStep/s3") {
			stride = 3 // each step on S3 costs a new repository
		}
		t.Logf("%d bucket operations in a clean run", n)
		for kill := 0; kill < n; kill += stride {
			for _, after := range []bool{false, true} {
				t.Run(fmt.Sprintf("op%d-after%v", kill, after), func(t *testing.T) {
					crashAt(t, open(t), kill, after)
				})
			}
		}
	})
}

func crashAt(t *testing.T, b *blob.Bucket, kill int, after bool) {
	rig := newArchiveRig(t, b)
	var ops atomic.Int64
	var dead atomic.Bool
	var killed string
	var mu sync.Mutex
	var armed atomic.Bool
	var landing atomic.Value
	landing.Store("")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fb := testkit.FaultBucket(b, func(_ context.Context, op testkit.BucketOp) error {
		if !armed.Load() {
			return nil
		}
		if dead.Load() {
			return testkit.ErrInjected
		}
		if op.Kind == "put-done" {
			if !after || op.Key != landing.Load() {
				return nil
			}
		} else if int(ops.Add(1))-1 != kill {
			return nil
		} else if after && op.Kind == "put" {
			landing.Store(op.Key) // die once this upload lands
			return nil
		}
		mu.Lock()
		killed = op.String()
		mu.Unlock()
		dead.Store(true)
		cancel()
		return testkit.ErrInjected
	})
	rig.useBucket(fb)
	armed.Store(true)
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true, Uploads: 1})
	crashScenario(ctx, rig, a)
	a.Close()
	mu.Lock()
	t.Logf("killed at %s", killed)
	mu.Unlock()

	// Restart: the process comes back with its log and a working bucket.
	rig.log.Close()
	rig.openLog()
	rig.useBucket(b)
	a = rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	rig.append(3)
	flush(t, a)
	require.NoError(t, a.Compact(context.Background()))
	last := wal.LSN(len(rig.recs))
	rig.check(context.Background(), Target{}, last) // testsm.Chain refuses gaps and repeats
	rig.check(context.Background(), AtLSN(1), 1)
	rep, err := Verify(context.Background(), rig.repo, VerifyPITR)
	require.NoError(t, err, "Verify after restart")
	assert.True(t, rep.OK(), "Verify after restart: %+v", rep)
	assert.Equal(t, last, rep.Last, "Verify after restart: %+v", rep)
	assert.Equal(t, last+1, rig.log.Holds()["archive"], "the log's hold after everything up to %d was archived", last)
}

// TestArchiveOutage takes the bucket away for a simulated hour of
// appends: appends never block, the log holds every unarchived record
// (TruncateFront refuses to drop them), lag and failures show in Status,
// and when the bucket returns the archive catches up with parallel
// uploads, bounded by Uploads, and loses nothing.
func TestArchiveOutage(t *testing.T) {
	testkit.RunBuckets(t, func(t *testing.T, b *blob.Bucket) {
		rig := newArchiveRig(t, b)
		var down atomic.Bool
		var puts, maxPuts atomic.Int64
		fb := testkit.FaultBucket(b, func(_ context.Context, op testkit.BucketOp) error {
			if down.Load() {
				return fmt.Errorf("%w: bucket unreachable", testkit.ErrInjected)
			}
			if op.Kind == "put" && strings.Contains(op.Key, "-") {
				n := puts.Add(1)
				defer puts.Add(-1)
				for m := maxPuts.Load(); n > m && !maxPuts.CompareAndSwap(m, n); m = maxPuts.Load() {
				}
				// A store with latency, so that uploads overlap and the
				// catch-up's parallelism shows in maxPuts; a slower
				// machine only makes them overlap longer.
				time.Sleep(5 * time.Millisecond)
			}
			return nil
		})
		rig.useBucket(fb)
		a := rig.archiver(Options{ShipInterval: 20 * time.Millisecond, MaxObjectBytes: 4 << 10, Uploads: 3, NoCompaction: true})
		rig.append(10)
		flush(t, a)
		archivedBefore := a.Status().Archived

		down.Store(true)
		// An event a second for an hour. Every upload fails while the
		// bucket is down, so an Append that waited on the archive would
		// never return: that these return at all is the check (no
		// timing decides it).
		for i := 0; i < 3600; i++ {
			rig.append(1)
			rig.clock.Add(time.Second)
		}
		testkit.Eventually(t, func() bool {
			st := a.Status()
			return st.Failures > 0 && st.LastError != nil
		}, "an upload to fail while the bucket is down")
		st := a.Status()
		assert.Equal(t, archivedBefore, st.Archived, "status during the outage: %+v", st)
		assert.GreaterOrEqual(t, st.Lag, 59*time.Minute, "status during the outage: %+v", st)
		err := rig.log.TruncateFront(rig.log.Last())
		var he *wal.HoldError
		if assert.ErrorAs(t, err, &he, "TruncateFront during the outage, want a HoldError at %d", archivedBefore+1) {
			assert.Equal(t, archivedBefore+1, he.Held, "TruncateFront during the outage = %v", err)
		}

		down.Store(false)
		flush(t, a)
		st = a.Status()
		assert.Equal(t, wal.LSN(len(rig.recs)), st.Archived, "status after catching up: %+v", st)
		assert.Zero(t, st.Lag, "status after catching up: %+v", st)
		m := maxPuts.Load()
		assert.GreaterOrEqual(t, m, int64(2), "catch-up ran %d uploads at once, want 2 or 3 (Uploads)", m)
		assert.LessOrEqual(t, m, int64(3), "catch-up ran %d uploads at once, want 2 or 3 (Uploads)", m)
		require.NoError(t, rig.log.TruncateFront(rig.log.Last()), "TruncateFront after catching up")
		rig.check(context.Background(), Target{}, wal.LSN(len(rig.recs)))
	})
}

// TestArchiveDamage: a flipped byte, a missing object in the middle and an
// object of an epoch the timeline does not contain each give their own
// typed error naming the object, from RestoreTo and from Verify.
func TestArchiveDamage(t *testing.T) {
	testkit.RunBucketOpeners(t, func(t *testing.T, open func(testing.TB) *blob.Bucket) {
		ctx := context.Background()
		setup := func(t *testing.T) (*archiveRig, []segObj) {
			rig := newArchiveRig(t, open(t))
			a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
			for i := 0; i < 5; i++ {
				rig.append(20)
				rig.clock.Add(time.Second)
				flush(t, a)
			}
			a.Close()
			v, err := loadView(ctx, rig.repo)
			require.NoError(t, err, "loading the archive")
			require.Len(t, v.segs, 5, "archive objects")
			return rig, v.segs
		}
		last := wal.LSN(100)
		wantErr := func(t *testing.T, err error, cause error, object string) {
			t.Helper()
			var ae *ObjectError
			require.ErrorAs(t, err, &ae, "want an ObjectError %v naming %s", cause, object)
			assert.ErrorIs(t, err, cause, "want an ObjectError %v naming %s", cause, object)
			assert.Equal(t, object, ae.Object, "the object named by %v", err)
			assert.ErrorContains(t, err, object)
		}

		t.Run("flipped-byte", func(t *testing.T) {
			rig, segs := setup(t)
			name := segs[2].String()
			data, err := rig.bucket.ReadAll(ctx, name)
			require.NoError(t, err)
			data[len(data)/2] ^= 0x10
			require.NoError(t, rig.bucket.WriteAll(ctx, name, data, nil))
			_, err = RestoreTo(ctx, rig.repo, Target{}, &testsm.Chain{}, RestoreOptions{})
			wantErr(t, err, ErrCorrupt, name)
			rep, err := Verify(ctx, rig.repo, VerifyValid)
			require.NoError(t, err, "Verify")
			require.Len(t, rep.Problems, 1, "Verify: %+v", rep)
			wantErr(t, rep.Problems[0], ErrCorrupt, name)
			rig.check(ctx, AtLSN(40), 40) // before the damage: still restorable
		})

		t.Run("missing-object", func(t *testing.T) {
			rig, segs := setup(t)
			require.NoError(t, rig.bucket.Delete(ctx, segs[2].String()))
			after := segs[3].String()
			_, err := RestoreTo(ctx, rig.repo, AtLSN(last), &testsm.Chain{}, RestoreOptions{})
			wantErr(t, err, ErrGap, after)
			rep, err := Verify(ctx, rig.repo, VerifyConsistent)
			require.NoError(t, err, "Verify")
			require.Len(t, rep.Problems, 1, "Verify: %+v", rep)
			wantErr(t, rep.Problems[0], ErrGap, after)
			assert.ErrorContains(t, rep.Problems[0], "LSN 41 to 60", "gap error does not say which LSNs")
			rig.check(ctx, AtLSN(40), 40)
		})

		t.Run("epoch-off-timeline", func(t *testing.T) {
			rig, segs := setup(t)
			// A well-formed, authentic object of epoch 9, for which no
			// timeline exists.
			seg, err := readSegment(ctx, rig.repo, segs[4].segName)
			require.NoError(t, err)
			enc, err := encodeSegment(9, seg.prev, seg.recs, nil)
			require.NoError(t, err)
			n := enc.name
			_, err = rig.repo.PutSealed(ctx, n.String(), enc.prefix, enc.body)
			require.NoError(t, err)
			_, err = RestoreTo(ctx, rig.repo, Target{}, &testsm.Chain{}, RestoreOptions{})
			wantErr(t, err, ErrOffTimeline, n.String())
			rep, err := Verify(ctx, rig.repo, VerifyValid)
			require.NoError(t, err, "Verify")
			require.Len(t, rep.Problems, 1, "Verify: %+v", rep)
			wantErr(t, rep.Problems[0], ErrOffTimeline, n.String())
		})

		t.Run("renamed-object", func(t *testing.T) {
			rig, segs := setup(t)
			// An authentic object copied under another valid name fails
			// authentication: names are bound to contents.
			data, err := rig.bucket.ReadAll(ctx, segs[1].String())
			require.NoError(t, err)
			require.NoError(t, rig.bucket.Delete(ctx, segs[2].String()))
			require.NoError(t, rig.bucket.WriteAll(ctx, segs[2].String(), data, nil))
			_, err = RestoreTo(ctx, rig.repo, Target{}, &testsm.Chain{}, RestoreOptions{})
			wantErr(t, err, ErrCorrupt, segs[2].String())
		})
	})
}

// TestArchiveStopsWhenTheLogFails: a log that cannot be read any more
// (closed under the archiver) stops archiving with the error in Status,
// instead of retrying the read forever.
func TestArchiveStopsWhenTheLogFails(t *testing.T) {
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	rig.append(5)
	flush(t, a)
	require.NoError(t, rig.log.Close())
	testkit.Eventually(t, func() bool {
		return errors.Is(a.Status().LastError, wal.ErrClosed)
	}, "the archiver to report the closed log (status %+v)", a.Status())
	require.NoError(t, a.Close(), "the archiver's goroutines end")
}

// TestPlantedNamesAreFlaggedInTheWindow: an object planted under a name
// that extends the history (with made-up times) is read before the
// window trusts it: the window says its end is unverified and names the
// object, a drill does not panic, and targets before it still restore.
func TestPlantedNamesAreFlaggedInTheWindow(t *testing.T) {
	ctx := t.Context()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	rig.append(10)
	rig.clock.Add(time.Minute)
	rig.append(10)
	flush(t, a)
	real, err := Restorable(ctx, rig.repo)
	require.NoError(t, err)
	require.NoError(t, real.Unverified)

	planted := segName{Epoch: a.Status().Epoch, First: 21, Last: 40, FirstNanos: 1, LastNanos: 2}.String()
	require.NoError(t, rig.bucket.WriteAll(ctx, planted, make([]byte, 19), nil))
	w, err := Restorable(ctx, rig.repo)
	require.NoError(t, err)
	var oe *ObjectError
	require.ErrorAs(t, w.Unverified, &oe)
	assert.Equal(t, planted, oe.Object)
	assert.ErrorIs(t, w.Unverified, ErrCorrupt)
	// A drill picks a second of the window (whose end the planted name
	// made up): it must not panic, and fails only on the planted object.
	if _, err := Drill(ctx, rig.repo, func() StateMachine { return &testsm.Chain{} }, nil, DrillOptions{}); err != nil {
		assert.ErrorIs(t, err, ErrCorrupt)
	}
	rig.check(ctx, AtLSN(20), 20)

	require.NoError(t, rig.bucket.Delete(ctx, planted))
	w, err = Restorable(ctx, rig.repo)
	require.NoError(t, err)
	assert.Equal(t, real, w)
}

// TestDamageAtTheWindowsEndStaysLocal: a damaged newest object makes the
// window's end unverified and fails the restores that need it, not the
// ones before it.
func TestDamageAtTheWindowsEndStaysLocal(t *testing.T) {
	ctx := t.Context()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	rig.append(10)
	flush(t, a)
	rig.append(10)
	flush(t, a)
	newest := rig.walObject(ctx, func(n segName) bool { return n.Last == 20 })
	data, err := rig.bucket.ReadAll(ctx, newest)
	require.NoError(t, err)
	data[len(data)-5] ^= 1
	require.NoError(t, rig.bucket.WriteAll(ctx, newest, data, nil))
	rig.useBucket(rig.bucket) // as another process: its own uploads are known to the archiver

	w, err := Restorable(ctx, rig.repo)
	require.NoError(t, err)
	require.ErrorIs(t, w.Unverified, ErrCorrupt)
	rig.check(ctx, AtLSN(10), 10)
	_, err = RestoreTo(ctx, rig.repo, AtLSN(20), &testsm.Chain{}, RestoreOptions{})
	var oe *ObjectError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, newest, oe.Object)
}

// TestWindowOfASnapshotAfterItsLastRecord: a base snapshot taken after
// the last record is the newest state as of its own instant, so the
// window does not end before it starts, and a drill restores it.
func TestWindowOfASnapshotAfterItsLastRecord(t *testing.T) {
	ctx := t.Context()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	rig.append(10)
	flush(t, a)
	rig.append(10)
	flush(t, a)
	rig.clock.Add(time.Hour)
	_, err := a.SnapshotNow(ctx)
	require.NoError(t, err)
	// The first object gone (as retention would let it go): the window
	// is the snapshot at LSN 20, taken an hour after record 20.
	first := rig.walObject(ctx, func(n segName) bool { return n.First == 1 })
	require.NoError(t, rig.repo.DeleteObject(ctx, first))
	w, err := Restorable(ctx, rig.repo)
	require.NoError(t, err)
	assert.False(t, w.Latest.Before(w.Earliest), "window %+v ends before it starts", w)
	res, err := Drill(ctx, rig.repo, func() StateMachine { return &testsm.Chain{} }, nil, DrillOptions{Now: rig.clock.Now})
	require.NoError(t, err)
	assert.Equal(t, wal.LSN(20), res.Restored.LSN)
}

// TestPlantedObjectsAreReadBeforeTheyDecide: an object planted under a
// name that covers real objects makes compaction delete nothing, and one
// planted under the name of the next upload does not count as that
// upload: the log keeps the records (its hold stays) until the real
// object is written.
func TestPlantedObjectsAreReadBeforeTheyDecide(t *testing.T) {
	ctx := t.Context()
	t.Run("covering name", func(t *testing.T) {
		rig := newArchiveRig(t, memBucket(t))
		a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
		for range 3 {
			rig.append(5)
			flush(t, a)
		}
		before, err := rig.repo.ListObjects(ctx, archivePrefix, "")
		require.NoError(t, err)
		planted := segName{Epoch: a.Status().Epoch, First: 1, Last: 15, FirstNanos: rig.recs[0].Time.UnixNano(), LastNanos: rig.recs[14].Time.UnixNano()}.String()
		require.NoError(t, rig.bucket.WriteAll(ctx, planted, make([]byte, 19), nil))
		if err := a.Compact(ctx); err != nil {
			t.Logf("Compact: %v", err) // it may refuse to merge around the planted object; it must not delete
		}
		after, err := rig.repo.ListObjects(ctx, archivePrefix, "")
		require.NoError(t, err)
		for _, o := range before {
			// Head objects rotate on their own: the head of the last
			// flush may be written (and the oldest deleted) after
			// before was listed.
			if strings.HasPrefix(o.Name, headPrefix) {
				continue
			}
			assert.Contains(t, after, o, "compaction deleted %s for a planted name", o.Name)
		}
		require.NoError(t, rig.bucket.Delete(ctx, planted))
		rig.check(ctx, Target{}, 15)
	})
	t.Run("next upload's name", func(t *testing.T) {
		rig := newArchiveRig(t, memBucket(t))
		rig.append(5)
		enc, err := encodeSegment(rig.log.Epoch(), chainHash{}, rig.recs, nil)
		require.NoError(t, err)
		n := enc.name
		require.NoError(t, rig.bucket.WriteAll(ctx, n.String(), make([]byte, 19), nil))
		a := rig.archiver(Options{ShipInterval: 10 * time.Millisecond, NoCompaction: true})
		// Nothing authentic squats the name: the archiver replaces it
		// with the records its log holds.
		flush(t, a)
		assert.ErrorIs(t, a.Status().LastError, ErrCorrupt, "the squatter was seen")
		_, err = readSegment(ctx, rig.repo, n)
		require.NoError(t, err, "the object under the name is the archiver's")
		rig.check(ctx, Target{}, 5)
	})
	t.Run("next upload's name, another history", func(t *testing.T) {
		rig := newArchiveRig(t, memBucket(t))
		rig.append(5)
		other := slices.Clone(rig.recs)
		other[2].Data = []byte("another history")
		enc, err := encodeSegment(rig.log.Epoch(), chainHash{}, other, nil)
		require.NoError(t, err)
		n := enc.name
		_, err = rig.repo.PutSealed(ctx, n.String(), enc.prefix, enc.body)
		require.NoError(t, err)
		a := rig.archiver(Options{ShipInterval: 10 * time.Millisecond, NoCompaction: true})
		testkit.Eventually(t, func() bool { return errors.Is(a.Status().LastError, ErrBrokenChain) },
			"the archiver to refuse the other history's object (status %+v)", a.Status())
		assert.Zero(t, a.Status().Archived, "nothing counts as archived")
		var he *wal.HoldError
		require.ErrorAs(t, rig.log.TruncateFront(rig.log.Last()), &he, "the log keeps the records")
		_, err = readSegment(ctx, rig.repo, n)
		require.NoError(t, err, "an authentic object is never deleted")
		require.NoError(t, rig.bucket.Delete(ctx, n.String()))
		flush(t, a)
		rig.check(ctx, Target{}, 5)
	})
}

// TestWindowReadsEachEndOnce: the objects at the window's ends are read
// to authenticate them once; computing the window again (as a node does
// every 30 s) reads no object.
func TestWindowReadsEachEndOnce(t *testing.T) {
	ctx := t.Context()
	var gets atomic.Int64
	b := testkit.FaultBucket(memBucket(t), func(_ context.Context, op testkit.BucketOp) error {
		if op.Kind == "get" && strings.HasPrefix(op.Key, archivePrefix) && !strings.HasSuffix(op.Key, timelineName) &&
			!strings.HasPrefix(op.Key, headPrefix) && !strings.HasPrefix(op.Key, pinPrefix) {
			gets.Add(1)
		}
		return nil
	})
	rig := newArchiveRig(t, b)
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	rig.append(10)
	flush(t, a)
	rig.append(10)
	flush(t, a)
	rig.useBucket(b) // as another process would: the archiver knows its own uploads
	_, err := Restorable(ctx, rig.repo)
	require.NoError(t, err)
	first := gets.Load()
	require.Positive(t, first, "the ends are read the first time")
	_, err = Restorable(ctx, rig.repo)
	require.NoError(t, err)
	assert.Equal(t, first, gets.Load(), "the second window reads no object")
}

// TestWindowOfASnapshotBeforeAnyRecordAndAJunkFirstObject: a base
// snapshot taken before any record, and junk planted under the name of a
// WAL object from LSN 1. The empty state's range then reaches no record
// and has no instant of its own; merged with the snapshot's range it
// kept the zero time as its start, so the window began in year 1 and a
// restore to an instant inside it failed (seen in TestArchiveAdversary).
func TestWindowOfASnapshotBeforeAnyRecordAndAJunkFirstObject(t *testing.T) {
	ctx := t.Context()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	base, err := a.SnapshotNow(ctx)
	require.NoError(t, err)
	require.Zero(t, base.LSN)
	require.NoError(t, a.Close())
	junk := segName{First: 1, Last: 100, LastNanos: 1 << 62}.String()
	require.NoError(t, rig.bucket.WriteAll(ctx, junk, []byte{0xcd, 0xbf, 0x48, 0x82}, nil))

	w, err := Restorable(ctx, rig.repo)
	require.NoError(t, err)
	for _, r := range w.Ranges {
		assert.False(t, r.From.IsZero() || r.To.IsZero(), "a range without an instant: %+v", r)
	}
	assert.True(t, base.Time.Equal(w.Earliest), "the window starts at %v, the snapshot was taken at %v", w.Earliest, base.Time)
	var sm testsm.Chain
	res, err := RestoreTo(ctx, rig.repo, AtTime(w.Earliest), &sm, RestoreOptions{})
	require.NoError(t, err, "a restore to the window's first instant")
	assert.Zero(t, res.LSN)
}

// TestWindowOfADamagedFirstObject: no base snapshot, and the object of
// LSN 1 damaged. Nothing can be restored, and the error says why: it is
// ErrNothingToRestore and the object's damage, not a range without an
// instant (the window read "never to never" and restores failed as out
// of a year-1 window).
func TestWindowOfADamagedFirstObject(t *testing.T) {
	ctx := t.Context()
	rig := newArchiveRig(t, memBucket(t))
	rig.append(5)
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
	require.NoError(t, a.Flush(ctx))
	require.NoError(t, a.Close())
	first := rig.walObject(ctx, func(s segName) bool { return s.First == 1 })
	b, err := rig.bucket.ReadAll(ctx, first)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x40
	require.NoError(t, rig.bucket.WriteAll(ctx, first, b, nil))

	// A repository opened afresh, as ctl's is: this process's own has
	// the object authenticated already.
	repo, err := snapshot.Open(ctx, rig.bucket, snapshot.RawKey([32]byte{7}), snapshot.Options{ReadOnly: true, Now: rig.clock.Now})
	require.NoError(t, err)
	w, err := Restorable(ctx, repo)
	require.ErrorIs(t, err, ErrNothingToRestore)
	require.ErrorIs(t, err, ErrCorrupt, "the damage is in the error")
	assert.Empty(t, w.Ranges)
	var sm testsm.Chain
	_, err = RestoreTo(ctx, repo, AtLSN(3), &sm, RestoreOptions{})
	require.ErrorIs(t, err, ErrCorrupt)
}
