package archive

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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

// archiveRig is a log, a repository on a bucket and a model of what was
// appended.
type archiveRig struct {
	t      *testing.T
	clock  *testkit.Clock
	dir    string
	log    *wal.Log
	bucket *blob.Bucket
	repo   *snapshot.Repo
	state  *testsm.Chain // the primary's state, folded as records are appended
	recs   []wal.Record
	sums   [][32]byte // sums[i]: chain after LSN i (sums[0] is the empty state)
}

func newArchiveRig(t *testing.T, b *blob.Bucket) *archiveRig {
	t.Helper()
	rig := &archiveRig{t: t, clock: testkit.NewClock(), dir: t.TempDir(), bucket: b, state: &testsm.Chain{}, sums: make([][32]byte, 1)}
	rig.openLog()
	repo, err := snapshot.Init(context.Background(), b, snapshot.RawKey([32]byte{7}), snapshot.Format{}, snapshot.Options{Now: rig.clock.Now})
	require.NoError(t, err)
	rig.repo = repo
	t.Cleanup(func() { rig.log.Close(); rig.repo.Close() })
	return rig
}

// useBucket reopens the repository through b (the same objects, through
// a fault-injecting wrapper, say).
func (rig *archiveRig) useBucket(b *blob.Bucket) {
	rig.t.Helper()
	repo, err := snapshot.Open(context.Background(), b, snapshot.RawKey([32]byte{7}), snapshot.Options{Now: rig.clock.Now})
	require.NoError(rig.t, err)
	rig.repo.Close()
	rig.repo, rig.bucket = repo, b
}

func (rig *archiveRig) openLog() {
	l, err := wal.Open(rig.dir, wal.Options{Now: rig.clock.Now, SegmentBytes: 256 << 10, DisablePreallocation: true})
	require.NoError(rig.t, err)
	rig.log = l
}

// append appends n events at the clock's current time and folds them.
func (rig *archiveRig) append(n int) {
	rig.t.Helper()
	for i := 0; i < n; i++ {
		data := fmt.Appendf(nil, "event %d at %s", len(rig.recs)+1, rig.clock.Now().Format(time.RFC3339Nano))
		_, last, err := rig.log.Append(context.Background(), data)
		require.NoError(rig.t, err)
		rec := wal.Record{LSN: last, Time: rig.clock.Now(), Data: data}
		rig.recs = append(rig.recs, rec)
		rig.sums = append(rig.sums, testsm.Next(rig.sums[len(rig.sums)-1], rec))
		require.NoError(rig.t, rig.state.Apply(rec))
	}
}

func (rig *archiveRig) archiver(opts Options) *Archiver {
	rig.t.Helper()
	if opts.Now == nil {
		opts.Now = rig.clock.Now
	}
	if opts.Capture == nil {
		opts.Capture = rig.state.Capture
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Millisecond
		opts.MaxBackoff = 20 * time.Millisecond
	}
	a, err := NewArchiver(rig.log, rig.repo, opts)
	require.NoError(rig.t, err)
	rig.t.Cleanup(func() { a.Close() })
	return a
}

// modelAt is the model's LSN as of t: the last record with Time <= t.
func (rig *archiveRig) modelAt(t time.Time) wal.LSN {
	lo, hi := 0, len(rig.recs) // first index with Time > t
	for lo < hi {
		m := (lo + hi) / 2
		if rig.recs[m].Time.After(t) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return wal.LSN(lo)
}

// check restores to target and compares with the model at want.
func (rig *archiveRig) check(ctx context.Context, target Target, want wal.LSN) Restored {
	rig.t.Helper()
	return rig.checkWith(ctx, rig.t, target, want)
}

// checkWith is check reporting to t, which may be a *rapid.T.
func (rig *archiveRig) checkWith(ctx context.Context, t require.TestingT, target Target, want wal.LSN) Restored {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
	var sm testsm.Chain
	res, err := RestoreTo(ctx, rig.repo, target, &sm, RestoreOptions{})
	require.NoError(t, err, "RestoreTo(%s)", target)
	lsn, _, sum := sm.State()
	require.Equal(t, want, res.LSN, "RestoreTo(%s) reached the wrong LSN; restored %+v", target, res)
	require.Equal(t, want, lsn, "RestoreTo(%s) left the state at the wrong LSN; restored %+v", target, res)
	require.Equal(t, rig.sums[want], sum, "RestoreTo(%s) gave a state other than the model's at LSN %d", target, want)
	return res
}

func flush(t *testing.T, a *Archiver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := a.Flush(ctx)
	require.NoError(t, err, "Flush (status %+v)", a.Status())
}

// TestArchivePointInTime simulates 2.5 hours of events at known instants
// with shipping, compaction and base snapshots running, and restores to
// 1,000 instants of the window (150 on S3) and to LSNs, comparing each
// restored state with the model folded to that instant.
func TestArchivePointInTime(t *testing.T) {
	testkit.RunBuckets(t, func(t *testing.T, b *blob.Bucket) {
		ctx := context.Background()
		rig := newArchiveRig(t, b)
		a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
		rng := rand.New(rand.NewPCG(1, 2))
		start := rig.clock.Now()
		lastSnap := start
		for rig.clock.Now().Sub(start) < 150*time.Minute {
			// Bursts and quiet spells: 0-20 events, then 0.1 s to 20 s.
			rig.append(rng.IntN(21))
			rig.clock.Add(time.Duration(rng.Int64N(int64(20*time.Second))) + 100*time.Millisecond)
			if rng.IntN(4) == 0 {
				flush(t, a) // a ship cycle
			}
			if rig.clock.Now().Sub(lastSnap) > 25*time.Minute {
				flush(t, a)
				_, err := a.SnapshotNow(ctx)
				require.NoError(t, err)
				lastSnap = rig.clock.Now()
			}
			if rng.IntN(50) == 0 {
				require.NoError(t, a.Compact(ctx))
			}
		}
		flush(t, a)
		require.NoError(t, a.Compact(ctx))
		w, err := Restorable(ctx, rig.repo)
		require.NoError(t, err)
		// The samples below are drawn from the window: it must be right.
		last := rig.recs[len(rig.recs)-1]
		msg := fmt.Sprintf("window %+v, want LSN 1 at %v to %d at %v", w, rig.recs[0].Time, last.LSN, last.Time)
		require.Equal(t, wal.LSN(1), w.EarliestLSN, msg)
		require.True(t, w.Earliest.Equal(rig.recs[0].Time), msg)
		require.Equal(t, last.LSN, w.LatestLSN, msg)
		require.True(t, w.Latest.Equal(last.Time), msg)
		objs := countObjects(t, b, archivePrefix)
		t.Logf("%d records over %v in %d archive objects; window %v to %v", len(rig.recs), last.Time.Sub(start), objs, w.Earliest, w.Latest)

		// The S3 leg draws fewer: each restore there lists and reads
		// through a server (the local legs draw the same seed's first).
		samples, lsns := 1000, 50
		if testkit.OnS3(t) {
			samples, lsns = 150, 10
		}
		span := w.Latest.Sub(w.Earliest)
		for i := 0; i < samples; i++ {
			at := w.Earliest.Add(time.Duration(rng.Int64N(int64(span) + 1)))
			if i%10 == 0 {
				at = rig.recs[rng.IntN(len(rig.recs))].Time // exactly on a record
			}
			rig.check(ctx, AtTime(at), rig.modelAt(at))
		}
		for i := 0; i < lsns; i++ {
			l := wal.LSN(rng.IntN(len(rig.recs))) + 1
			rig.check(ctx, AtLSN(l), l)
		}
		res := rig.check(ctx, Target{}, last.LSN)
		assert.False(t, res.Snapshot.IsZero(), "latest restore did not start from a base snapshot: %+v", res)

		// Outside the window: typed, stating the window.
		for _, bad := range []Target{AtTime(w.Earliest.Add(-time.Second)), AtTime(w.Latest.Add(time.Second)), AtLSN(last.LSN + 1)} {
			_, err := RestoreTo(ctx, rig.repo, bad, &testsm.Chain{}, RestoreOptions{})
			var we *WindowError
			if assert.ErrorAs(t, err, &we, "RestoreTo(%s), want a WindowError", bad) {
				assert.ErrorIs(t, err, ErrOutOfWindow, "RestoreTo(%s)", bad)
				assert.Equal(t, last.LSN, we.Window.LatestLSN, "RestoreTo(%s) = %v: the window it states", bad, err)
			}
		}
	})
}

func countObjects(t *testing.T, b *blob.Bucket, prefix string) int {
	t.Helper()
	n := 0
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			return n
		}
		require.NoError(t, err)
		if !o.IsDir && !strings.HasPrefix(o.Key, headPrefix) && !strings.HasPrefix(o.Key, pinPrefix) {
			n++ // not counting the head and pin objects
		}
	}
}

// walObjects lists the rig's WAL objects (not timelines, heads or pins)
// in name order: by epoch, then first LSN.
func (rig *archiveRig) walObjects(ctx context.Context) []segName {
	rig.t.Helper()
	list, err := rig.repo.ListObjects(ctx, archivePrefix, "")
	require.NoError(rig.t, err)
	var out []segName
	for _, o := range list {
		if n, isTL, err := parseArchiveName(o.Name); err == nil && !isTL {
			out = append(out, n)
		}
	}
	return out
}

// walObject returns the rig's WAL object for which match is true.
func (rig *archiveRig) walObject(ctx context.Context, match func(segName) bool) string {
	rig.t.Helper()
	for _, n := range rig.walObjects(ctx) {
		if match(n) {
			return n.String()
		}
	}
	rig.t.Fatalf("no WAL object matches among %v", rig.walObjects(ctx))
	return ""
}

// gate holds whoever calls pass until it is opened, and tells the test
// (waiting) that someone arrived.
type gate struct {
	waiting chan struct{} // one arrival, buffered
	opened  chan struct{}
}

func newGate() *gate { return &gate{waiting: make(chan struct{}, 1), opened: make(chan struct{})} }

// pass returns once the gate is open, or ctx's error.
func (g *gate) pass(ctx context.Context) error {
	select {
	case g.waiting <- struct{}{}:
	default:
	}
	select {
	case <-g.opened:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// open lets every caller of pass through, now and later.
func (g *gate) open() { close(g.opened) }
