package archive

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"pgregory.net/rapid"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestArchiveAdversary: an adversary who can write to the bucket but has
// no key plants objects under arbitrary names with arbitrary bytes,
// copies objects to other names, deletes objects and flips bytes, between
// steps of an archiver (appends, flushes, compactions, base snapshots,
// restarts with the log truncated to the archiver's hold). After every
// step:
//   - either Verify reports a problem naming an object, or every restore
//     inside the reported window equals the model;
//   - while the adversary has only added objects (planted names, copies
//     under new names), the archiver has deleted nothing it needs: the
//     window reaches the archiver's hold, every problem names a planted
//     object, and restores equal the model;
//   - nothing panics, and the log's hold never passes what the bucket
//     holds authentically.
//
// It runs on file, mem and the S3 leg.
func TestArchiveAdversary(t *testing.T) {
	testkit.RunBuckets(t, func(t *testing.T, _ *blob.Bucket) {
		var bk testkit.Bucket
		for _, b := range testkit.Buckets(t) {
			if strings.HasSuffix(t.Name(), "/"+b.Name) {
				bk = b
			}
		}
		// Each step on S3 is a few dozen requests to a server on
		// loopback: fewer steps per check there keep the suite's time
		// in bounds under -race.
		maxSteps := 14
		if bk.Name == "s3" {
			maxSteps = 6
		}
		rapid.Check(t, func(rt *rapid.T) { adversary(rt, bk.Open(t), maxSteps) })
	})
}

// adversaryState is what the property knows of the adversary's doing.
type adversaryState struct {
	planted  map[string]bool // names the adversary wrote
	realGone bool            // it deleted, damaged or overwrote an object it did not write
}

func adversary(rt *rapid.T, b *blob.Bucket, maxSteps int) {
	ctx := context.Background()
	rig, open, done := newPropertyRig(rt, b)
	defer done()
	clock, repo := rig.clock, rig.repo
	start := func() *Archiver {
		a, err := NewArchiver(rig.log, repo, Options{
			ShipInterval: time.Hour, NoCompaction: true, Now: clock.Now, Capture: rig.state.Capture,
			Compaction: []time.Duration{time.Second, 10 * time.Second}, MaxObjectBytes: 300,
			MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		require.NoError(rt, err)
		return a
	}
	a := start()
	defer func() { a.Close() }()
	adv := &adversaryState{planted: map[string]bool{}}
	// flush ships everything; it may fail only once real objects are
	// gone (the archiver may then wait on a bucket it cannot trust, so
	// the wait is short: the result no longer decides anything).
	flush := func() {
		wait := 30 * time.Second
		if adv.realGone {
			wait = 100 * time.Millisecond
		}
		fctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if err := a.Flush(fctx); err != nil && !adv.realGone {
			rt.Fatalf("Flush with only planted objects: %v (status %+v)", err, a.Status())
		}
	}
	steps := rapid.IntRange(1, maxSteps).Draw(rt, "steps")
	for i := 0; i < steps; i++ {
		switch op := rapid.IntRange(0, 9).Draw(rt, "op"); op {
		case 0, 1:
			n := rapid.IntRange(1, 25).Draw(rt, "n")
			for k := 0; k < n; k++ {
				rig.appendNoT(rt)
			}
			clock.Add(time.Duration(rapid.IntRange(1, 3000).Draw(rt, "ms")) * time.Millisecond)
		case 2:
			flush()
		case 3:
			if err := a.Compact(ctx); err != nil && !adv.realGone && !errors.Is(err, ErrCorrupt) {
				rt.Fatalf("Compact with only planted objects: %v", err)
			}
		case 4:
			flush()
			if _, err := a.SnapshotNow(ctx); err != nil && !adv.realGone {
				rt.Fatalf("SnapshotNow: %v", err)
			}
		case 5:
			held := rig.log.Holds()["archive"]
			a.Close()
			rig.log.Close()
			rig.log = open()
			a = start()
			flush()
			if held > 1 && !adv.realGone {
				require.NoError(rt, rig.log.TruncateFront(held), "TruncateFront(%d) after everything before it was archived", held)
			}
		default:
			// The adversary moves between archiver steps: once nothing
			// is in flight, so that the harness knows which objects
			// were real when they were overwritten.
			flush()
			adv.act(rt, ctx, b, repo)
		}
		checkAdversary(rt, ctx, rig, a, adv)
	}
}

// rotatedAway reports whether err says an object listed a moment ago is
// gone: the archiver deletes the oldest head object in the background
// when it writes a new one, so a listed head may vanish before the move.
func rotatedAway(err error) bool { return gcerrors.Code(err) == gcerrors.NotFound }

// act is one move of the adversary.
func (adv *adversaryState) act(rt *rapid.T, ctx context.Context, b *blob.Bucket, repo *snapshot.Repo) {
	names := listAll(rt, ctx, b)
	var ours []string // objects under wal/ and snapshot manifests
	for _, n := range names {
		if strings.HasPrefix(n, archivePrefix) || strings.HasPrefix(n, "snapshots/") {
			ours = append(ours, n)
		}
	}
	// real reports whether the object name is not the adversary's: it
	// did not write it, or the archiver replaced what it wrote (a squatter
	// under the next upload's name).
	real := func(name string) bool {
		if !adv.planted[name] {
			return true
		}
		prefixLen := 0
		if n, isTL, err := parseArchiveName(name); err == nil && !isTL && n.String() == name {
			prefixLen = segPrefixSize
		}
		_, _, err := repo.GetSealed(ctx, name, prefixLen, maxSegmentBytes)
		return err == nil
	}
	write := func(name string, data []byte) {
		wasReal := slices.Contains(names, name) && real(name)
		if err := b.WriteAll(ctx, name, data, nil); err != nil {
			return // the store refuses the name (S3: "wal//" is a directory)
		}
		adv.realGone = adv.realGone || wasReal // an overwrite of a real object
		adv.planted[name] = true
	}
	switch rapid.IntRange(0, 3).Draw(rt, "move") {
	case 0: // plant bytes under an archive-like name
		write(adversaryName(rt, ours), rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(rt, "bytes"))
	case 1: // copy an object to another name
		if len(ours) == 0 {
			return
		}
		src := rapid.SampledFrom(ours).Draw(rt, "copy from")
		data, err := b.ReadAll(ctx, src)
		if rotatedAway(err) {
			return
		}
		require.NoError(rt, err)
		write(adversaryName(rt, ours), data)
	case 2: // delete any object
		if len(ours) == 0 {
			return
		}
		victim := rapid.SampledFrom(ours).Draw(rt, "delete")
		wasReal := real(victim)
		err := b.Delete(ctx, victim)
		if rotatedAway(err) {
			return
		}
		require.NoError(rt, err)
		adv.realGone = adv.realGone || wasReal
	case 3: // flip a byte
		if len(ours) == 0 {
			return
		}
		victim := rapid.SampledFrom(ours).Draw(rt, "flip")
		data, err := b.ReadAll(ctx, victim)
		if rotatedAway(err) {
			return
		}
		require.NoError(rt, err)
		if len(data) == 0 {
			return
		}
		data[rapid.IntRange(0, len(data)-1).Draw(rt, "at")] ^= byte(rapid.IntRange(1, 255).Draw(rt, "bits"))
		adv.realGone = adv.realGone || real(victim)
		require.NoError(rt, b.WriteAll(ctx, victim, data, nil))
	}
}

// adversaryName draws a name the archive might act on: a real name with
// its fields moved, a head, pin or timeline name, or junk under wal/.
func adversaryName(rt *rapid.T, ours []string) string {
	switch rapid.IntRange(0, 3).Draw(rt, "name kind") {
	case 0:
		var segs []segName
		for _, o := range ours {
			if n, isTL, err := parseArchiveName(o); err == nil && !isTL {
				segs = append(segs, n)
			}
		}
		if len(segs) > 0 {
			n := rapid.SampledFrom(segs).Draw(rt, "like")
			n.First = wal.LSN(rapid.IntRange(1, int(n.Last)+20).Draw(rt, "first"))
			n.Last = n.First + wal.LSN(rapid.IntRange(0, 60).Draw(rt, "span"))
			n.LastNanos = n.FirstNanos + int64(rapid.IntRange(-1, 1e9).Draw(rt, "nanos"))
			if n.LastNanos < n.FirstNanos {
				n.LastNanos = n.FirstNanos
			}
			return n.String()
		}
		return segName{Epoch: 0, First: 1, Last: 100, FirstNanos: 0, LastNanos: 1 << 62}.String()
	case 1:
		return anchorName(headPrefix, uint64(rapid.IntRange(1, 12).Draw(rt, "head seq")))
	case 2:
		return anchorName(pinPrefix, uint64(rapid.IntRange(1, 3).Draw(rt, "pin seq")))
	}
	return archivePrefix + rapid.StringMatching(`[0-9a-f/\-]{1,40}`).Draw(rt, "junk")
}

// listAll lists every object of b.
func listAll(rt *rapid.T, ctx context.Context, b *blob.Bucket) []string {
	var out []string
	it := b.List(nil)
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return out
		}
		require.NoError(rt, err)
		out = append(out, o.Key)
	}
}

// checkAdversary checks the property after a step.
func checkAdversary(rt *rapid.T, ctx context.Context, rig *archiveRig, a *Archiver, adv *adversaryState) {
	// The WAL hold before the listings below: the archiver may still ship
	// in the background (MaxObjectBytes) and move it on, and it only
	// moves forward, so what it released by now must be in the listing.
	hold := rig.log.Holds()["archive"]
	// A second handle, as another process: nothing remembered.
	repo, err := snapshot.Open(ctx, rig.bucket, snapshot.RawKey([32]byte{7}), snapshot.Options{})
	require.NoError(rt, err)
	defer repo.Close()
	rep, verr := Verify(ctx, repo, VerifyValid)
	w, werr := Restorable(ctx, repo)
	var oe *ObjectError
	for _, e := range []error{verr, werr} {
		if e != nil && !errors.As(e, &oe) && !errors.Is(e, ErrNothingToRestore) {
			rt.Fatalf("Verify or Restorable failed without naming an object: %v", e)
		}
	}
	reported := verr != nil || len(rep.Problems) > 0
	if !adv.realGone {
		for _, p := range rep.Problems {
			require.ErrorAs(rt, p, &oe)
			if !adv.planted[oe.Object] {
				rt.Fatalf("with only planted objects, verify reports a problem with %s, which the adversary did not write: %v", oe.Object, p)
			}
		}
		require.NoError(rt, verr)
		if hold > 1 {
			require.NoError(rt, werr, "window with only planted objects")
			require.GreaterOrEqual(rt, w.LatestLSN, hold-1, "the log's hold (%d) passed what the bucket holds authentically (window %+v)", hold, w)
		}
	}
	if reported && adv.realGone || werr != nil {
		return
	}
	// Nothing reported (or only planted objects): every restore inside
	// the window equals the model.
	for k := 0; k < 3; k++ {
		r := rapid.SampledFrom(w.Ranges).Draw(rt, "range")
		l := wal.LSN(rapid.IntRange(int(r.FromLSN), int(r.ToLSN)).Draw(rt, "lsn"))
		if l > 0 {
			checkRestore(rt, ctx, repo, rig, AtLSN(l), l)
		}
		if r.To.IsZero() {
			// The empty range (nothing archived when the window was
			// read) has no instant: AtTime of the zero time is the
			// latest state, which the archiver's background shipping
			// may have moved on since.
			continue
		}
		span := r.To.Sub(r.From)
		at := r.From.Add(time.Duration(rapid.Int64Range(0, int64(span)).Draw(rt, "offset")))
		want := rig.modelAt(at)
		if at.Equal(r.To) {
			// A range's last instant is its last record's time; records
			// after it stamped with the same instant (the same clock
			// reading) were not in the archive when the window was read,
			// or are missing, or the archiver's timer shipped them since:
			// any state from the range's end to the model's is right.
			checkRestoreBetween(rt, ctx, repo, rig, AtTime(at), min(want, r.ToLSN), want)
			continue
		}
		checkRestore(rt, ctx, repo, rig, AtTime(at), want)
	}
}

// checkRestoreBetween restores target and checks that it gives the
// model's state at some LSN from lo to hi.
func checkRestoreBetween(rt *rapid.T, ctx context.Context, repo *snapshot.Repo, rig *archiveRig, target Target, lo, hi wal.LSN) {
	var sm testsm.Chain
	res, err := RestoreTo(ctx, repo, target, &sm, RestoreOptions{})
	if err != nil {
		rt.Fatalf("RestoreTo(%s) inside a window verify found nothing wrong with: %v", target, err)
	}
	lsn, _, sum := sm.State()
	if lsn < lo || lsn > hi || sum != rig.sums[lsn] {
		rt.Fatalf("RestoreTo(%s) gave LSN %d (res %+v), the model says %d to %d", target, lsn, res, lo, hi)
	}
}

// checkRestore restores target through repo and compares with the model.
func checkRestore(rt *rapid.T, ctx context.Context, repo *snapshot.Repo, rig *archiveRig, target Target, want wal.LSN) {
	var sm testsm.Chain
	res, err := RestoreTo(ctx, repo, target, &sm, RestoreOptions{})
	if err != nil {
		rt.Fatalf("RestoreTo(%s) inside a window verify found nothing wrong with: %v", target, err)
	}
	lsn, _, sum := sm.State()
	if lsn != want || sum != rig.sums[want] {
		rt.Fatalf("RestoreTo(%s) gave LSN %d (res %+v), the model says %d", target, lsn, res, want)
	}
}
