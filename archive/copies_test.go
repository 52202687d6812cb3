package archive

import (
	"context"
	"errors"
	"math/rand/v2"
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

// TestCopies: an archiver with two copies on each kind of bucket. One
// copy's bucket is unreachable for a simulated hour of shipping (an
// object every 30 s, a base snapshot and a compaction on the way): it
// fails and says so, its lag grows to the hour, the log is never held
// for it, and the other copy keeps up. Once it is back it catches up;
// then both copies, opened on their own, restore exactly at 100 random
// instants (25 on S3) and verify.
func TestCopies(t *testing.T) {
	testkit.RunBucketOpeners(t, func(t *testing.T, open func(testing.TB) *blob.Bucket) {
		ctx := context.Background()
		rig := newArchiveRig(t, open(t))
		near, far := open(t), open(t)
		var nearDown, farDown atomic.Bool
		a := rig.archiver(Options{ShipInterval: time.Second, NoCompaction: true, Copies: []Copy{
			{Name: "near", Open: downable(near, &nearDown), Every: time.Hour},
			{Name: "far", Open: downable(far, &farDown), Every: time.Hour},
		}})
		copyStatus := func(name string) CopyStatus {
			for _, c := range a.Status().Copies {
				if c.Name == name {
					return c
				}
			}
			t.Fatalf("no copy %q in Status", name)
			return CopyStatus{}
		}
		holds := func(name string, lsn wal.LSN) func() bool {
			return func() bool { c := copyStatus(name); return c.Archived >= lsn && c.LastError == nil }
		}
		ship := func(seconds int) wal.LSN {
			rig.append(1 + len(rig.recs)%3)
			rig.clock.Add(time.Duration(seconds) * time.Second)
			flush(t, a)
			return rig.recs[len(rig.recs)-1].LSN
		}

		var last wal.LSN
		for range 10 {
			last = ship(30)
		}
		testkit.Eventually(t, holds("near", last), "the near copy holds LSN %d", last)
		testkit.Eventually(t, holds("far", last), "the far copy holds LSN %d", last)

		// The far copy is down for an hour of shipping.
		farDown.Store(true)
		downAt := rig.clock.Now()
		for i := range 120 {
			last = ship(30)
			if i == 33 {
				_, err := a.SnapshotNow(ctx)
				require.NoError(t, err)
			}
			if i == 66 {
				require.NoError(t, a.Compact(ctx))
			}
		}
		testkit.Eventually(t, holds("near", last), "the near copy keeps up while the far one is down")
		f := copyStatus("far")
		assert.ErrorIs(t, f.LastError, errDown, "the far copy says why it fails")
		assert.Positive(t, f.Failures)
		assert.Less(t, f.Archived, last-150, "the far copy is behind")
		assert.True(t, f.WholeDue, "a whole copy is due after a failure")
		assert.Greater(t, f.Pending, 100, "the objects it missed wait")
		assert.GreaterOrEqual(t, f.Lag, rig.clock.Now().Sub(downAt)-time.Minute, "the far copy's lag is the hour it missed: %+v", f)
		// The log is held for the archive only, never for a copy.
		require.NoError(t, rig.log.TruncateFront(last), "the log releases what the archive holds while a copy is down")

		farDown.Store(false)
		testkit.Eventually(t, holds("far", last), "the far copy catches up")
		assert.LessOrEqual(t, copyStatus("far").Lag, copyStatus("near").Lag+time.Minute)

		rng := rand.New(rand.NewPCG(3, 4))
		samples := 100
		if testkit.OnS3(t) {
			samples = 25 // each restore lists and reads through a server
		}
		for name, b := range map[string]*blob.Bucket{"near": near, "far": far} {
			c, err := snapshot.Open(ctx, b, snapshot.RawKey([32]byte{7}), snapshot.Options{ReadOnly: true, Now: rig.clock.Now})
			require.NoError(t, err, "open the %s copy", name)
			w, err := Restorable(ctx, c)
			require.NoError(t, err)
			require.Equal(t, wal.LSN(1), w.EarliestLSN, "the %s copy's window", name)
			require.Equal(t, last, w.LatestLSN, "the %s copy's window", name)
			span := w.Latest.Sub(w.Earliest)
			for range samples {
				at := w.Earliest.Add(time.Duration(rng.Int64N(int64(span) + 1)))
				want := rig.modelAt(at)
				var sm testsm.Chain
				res, err := RestoreTo(ctx, c, AtTime(at), &sm, RestoreOptions{})
				require.NoError(t, err, "restore %v from the %s copy", at, name)
				lsn, _, sum := sm.State()
				require.Equal(t, want, res.LSN, "restore %v from the %s copy", at, name)
				require.Equal(t, want, lsn)
				require.Equal(t, rig.sums[want], sum, "restore %v from the %s copy: the state at LSN %d", at, name, want)
			}
			rep, err := VerifyWith(ctx, c, VerifyValid, VerifyOptions{})
			require.NoError(t, err)
			assert.True(t, rep.OK(), "verify the %s copy: %v", name, rep.Problems)
			require.NoError(t, c.Close())
		}
	})
}

// TestCopyFollowsCompaction: a copy that has not yet copied some WAL
// objects when a compaction merges and deletes them still ends up with
// their records (the merged object), and does not claim to hold them
// before it does. Its writes stall while the archive ships and compacts.
func TestCopyFollowsCompaction(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, testkit.Buckets(t)[0].Open(t))
	dst := testkit.Buckets(t)[0].Open(t)
	var stall atomic.Bool
	writes := newGate()
	a := rig.archiver(Options{ShipInterval: time.Second, NoCompaction: true, Copies: []Copy{{Name: "slow", Every: time.Hour,
		Open: func(context.Context) (*blob.Bucket, error) {
			return testkit.FaultBucket(dst, func(ctx context.Context, op testkit.BucketOp) error {
				if op.Kind != "put" || !stall.Load() {
					return nil
				}
				return writes.pass(ctx)
			}), nil
		}}}})
	copied := func() wal.LSN { return a.Status().Copies[0].Archived }
	ship := func() wal.LSN {
		rig.append(1 + len(rig.recs)%3)
		rig.clock.Add(10 * time.Second)
		flush(t, a)
		return rig.recs[len(rig.recs)-1].LSN
	}
	last := ship()
	testkit.Eventually(t, func() bool { return copied() >= last }, "the copy holds LSN %d", last)

	stall.Store(true)
	held := ship()
	select {
	case <-writes.waiting:
	case <-time.After(testkit.EventuallyTimeout):
		t.Fatal("the copy never wrote the object shipped after it stalled")
	}
	for range 60 { // ten minutes: the first five-minute window closes
		last = ship()
	}
	require.NoError(t, a.Compact(ctx))
	require.Positive(t, a.Status().Compacted, "the compaction merged the objects the copy had not followed")
	require.Less(t, copied(), held, "the stalled copy claims nothing it has not written")
	stall.Store(false)
	writes.open()
	testkit.Eventually(t, func() bool { c := a.Status().Copies[0]; return c.Archived >= last && c.LastError == nil }, "the copy catches up to LSN %d: %+v", last, a.Status().Copies)

	c, err := snapshot.Open(ctx, dst, snapshot.RawKey([32]byte{7}), snapshot.Options{ReadOnly: true, Now: rig.clock.Now})
	require.NoError(t, err)
	defer c.Close()
	w, err := Restorable(ctx, c)
	require.NoError(t, err)
	assert.Empty(t, w.Gaps, "the copy's window has no gaps")
	assert.Nil(t, w.Cut, "the copy's newest records are there")
	require.Equal(t, wal.LSN(1), w.EarliestLSN)
	require.Equal(t, last, w.LatestLSN, "the copy holds every record the archive held when it caught up")
	for _, lsn := range []wal.LSN{1, held, (held + last) / 2, last} {
		var sm testsm.Chain
		res, err := RestoreTo(ctx, c, AtLSN(lsn), &sm, RestoreOptions{})
		require.NoError(t, err, "restore LSN %d from the copy", lsn)
		_, _, sum := sm.State()
		require.Equal(t, lsn, res.LSN)
		require.Equal(t, rig.sums[lsn], sum, "the state at LSN %d", lsn)
	}
}

// TestCopyGetsThePin: the pin an archiver writes when it starts an empty
// archive reaches a copy whose first whole copy listed the archive before
// the pin was there, so that the copy verifies without waiting for the
// next whole copy.
func TestCopyGetsThePin(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, testkit.Buckets(t)[0].Open(t))
	dst := testkit.Buckets(t)[0].Open(t)
	listed := make(chan struct{})
	var once sync.Once
	src := rig.bucket
	rig.useBucket(testkit.FaultBucket(src, func(ctx context.Context, op testkit.BucketOp) error {
		if op.Kind == "put" && strings.HasPrefix(op.Key, pinPrefix) {
			select { // the copy's whole copy has listed the archive
			case <-listed:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}))
	a := rig.archiver(Options{ShipInterval: time.Second, NoCompaction: true, Copies: []Copy{{Name: "offsite", Every: time.Hour,
		Open: func(context.Context) (*blob.Bucket, error) {
			return testkit.FaultBucket(dst, func(_ context.Context, op testkit.BucketOp) error {
				if op.Kind == "put" { // CopyTo lists both buckets first
					once.Do(func() { close(listed) })
				}
				return nil
			}), nil
		}}}})
	rig.append(3)
	rig.clock.Add(time.Second)
	flush(t, a)
	last := rig.recs[len(rig.recs)-1].LSN
	testkit.Eventually(t, func() bool { c := a.Status().Copies[0]; return c.Archived >= last && c.Pending == 0 && !c.WholeDue },
		"the copy holds LSN %d and has nothing queued: %+v", last, a.Status().Copies)

	c, err := snapshot.Open(ctx, dst, snapshot.RawKey([32]byte{7}), snapshot.Options{ReadOnly: true, Now: rig.clock.Now})
	require.NoError(t, err)
	defer c.Close()
	rep, err := VerifyWith(ctx, c, VerifyValid, VerifyOptions{})
	require.NoError(t, err)
	assert.True(t, rep.OK(), "verify the copy: %v", rep.Problems)
}

// errDown is what a copy's bucket says while down.
var errDown = errors.New("the copy's bucket is unreachable")

// downable opens b for a copy, failing every operation with errDown
// while down is set. Its Close leaves b open.
func downable(b *blob.Bucket, down *atomic.Bool) func(context.Context) (*blob.Bucket, error) {
	return func(context.Context) (*blob.Bucket, error) {
		return testkit.FaultBucket(b, func(context.Context, testkit.BucketOp) error {
			if down.Load() {
				return errDown
			}
			return nil
		}), nil
	}
}

// TestCopiesOptions: a copy without a name or a way to open it, or on a
// store that cannot copy, is refused before anything starts.
func TestCopiesOptions(t *testing.T) {
	err := Options{Copies: []Copy{{Name: "x"}, {Name: "x", Open: func(context.Context) (*blob.Bucket, error) { return nil, nil }}}}.Validate()
	require.Error(t, err)
	for _, want := range []string{"Copies[0].Open is nil", `Copies[1].Name "x" is given twice`} {
		assert.ErrorContains(t, err, want)
	}
}

// TestPurgeCopies: an object others wrote into the store (a tenant key
// slot) reaches the copy once Wrote names it; PurgeCopies deletes it
// from the copy, and from a copy that is down at the time it warns, then
// deletes it once the copy is back, before anything else is copied.
func TestPurgeCopies(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, testkit.Buckets(t)[0].Open(t))
	dst := testkit.Buckets(t)[0].Open(t)
	var down atomic.Bool
	a := rig.archiver(Options{ShipInterval: time.Second, NoCompaction: true,
		SealedPrefix: func(name string) (int, bool) {
			if strings.HasPrefix(name, "slots/") {
				return 0, true
			}
			return SealedPrefixLen(name)
		},
		Copies: []Copy{{Name: "off-site", Every: time.Hour, Open: downable(dst, &down)}}})
	inCopy := func(name string) bool {
		ok, err := dst.Exists(ctx, name)
		require.NoError(t, err)
		return ok
	}
	put := func(name string) {
		_, err := rig.repo.PutSealed(ctx, name, nil, []byte("a key, wrapped"))
		require.NoError(t, err)
		a.Wrote(name)
		testkit.Eventually(t, func() bool { return inCopy(name) }, "the copy holds %s", name)
	}
	put("slots/one")
	put("slots/two")

	_, err := rig.repo.PurgeObject(ctx, "slots/one")
	require.NoError(t, err)
	gone, warnings := a.PurgeCopies(ctx, "slots/one")
	assert.Equal(t, []string{"copy:off-site:slots/one"}, gone)
	assert.Empty(t, warnings)
	assert.False(t, inCopy("slots/one"))

	down.Store(true)
	_, err = rig.repo.PurgeObject(ctx, "slots/two")
	require.NoError(t, err)
	gone, warnings = a.PurgeCopies(ctx, "slots/two")
	assert.Empty(t, gone)
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], "copy off-site: slots/two is not deleted yet")
	assert.True(t, inCopy("slots/two"), "the copy was down")
	down.Store(false)
	testkit.Eventually(t, func() bool { return !inCopy("slots/two") }, "the copy's slot is deleted once it is back")
}

// TestSyncCopies: with SyncCopies, Sync returns once the copy holds the
// records too; while the copy is down it does not return, though the
// archive holds them.
func TestSyncCopies(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, testkit.Buckets(t)[0].Open(t))
	dst := testkit.Buckets(t)[0].Open(t)
	var down atomic.Bool
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true, SyncCopies: 1,
		Copies: []Copy{{Name: "off-site", Every: time.Hour, Open: downable(dst, &down)}}})
	for i := range 5 {
		rig.append(1 + i)
		last := rig.recs[len(rig.recs)-1].LSN
		require.NoError(t, a.Sync(ctx, last))
		c := a.Status().Copies[0]
		require.GreaterOrEqual(t, c.Archived, last, "Sync returned before the copy held LSN %d: %+v", last, c)
	}

	down.Store(true)
	rig.append(1)
	last := rig.recs[len(rig.recs)-1].LSN
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := a.Sync(sctx, last)
	require.ErrorIs(t, err, context.DeadlineExceeded, "Sync while the copy is down")
	testkit.Eventually(t, func() bool { return a.Status().Archived >= last }, "the archive holds it")
	down.Store(false)
	require.NoError(t, a.Sync(ctx, last))

	assert.Error(t, Options{SyncCopies: 1}.Validate(), "SyncCopies without copies")
}

// TestCopyWholeAgain: a base snapshot that lands while a whole copy runs
// gets a whole copy of its own: the request is not lost with the one
// that was already running (its listing predates the snapshot).
func TestCopyWholeAgain(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, testkit.Buckets(t)[0].Open(t))
	dst := testkit.Buckets(t)[0].Open(t)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	a := rig.archiver(Options{ShipInterval: time.Second, NoCompaction: true,
		Copies: []Copy{{Name: "off-site", Every: time.Hour, Open: func(context.Context) (*blob.Bucket, error) {
			return testkit.FaultBucket(dst, func(_ context.Context, op testkit.BucketOp) error {
				if op.Kind == "put" {
					once.Do(func() { close(held); <-release }) // the first whole copy's first write
				}
				return nil
			}), nil
		}}}})
	<-held
	rig.append(3)
	flush(t, a)
	m, err := a.SnapshotNow(ctx)
	require.NoError(t, err)
	close(release)
	testkit.Eventually(t, func() bool {
		ok, err := dst.Exists(ctx, "snapshots/"+m.ID.String())
		return err == nil && ok
	}, "the snapshot taken during the first whole copy reaches the copy")
}
