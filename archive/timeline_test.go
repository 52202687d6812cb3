package archive

import (
	"context"
	"errors"
	"testing"
	"time"

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
		if err := old.log.SetEpoch(1); err != nil {
			t.Fatal(err)
		}
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
			if err := nw.log.Write(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := nw.state.Apply(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := nw.log.SetEpoch(2); err != nil {
			t.Fatal(err)
		}
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
		if err != nil {
			t.Fatal(err)
		}
		if w.Timeline != "epoch 1 → after 80: epoch 2" || w.LatestLSN != 130 {
			t.Fatalf("window %+v", w)
		}
		nw.check(ctx, Target{}, 130)
		for _, l := range []wal.LSN{1, 79, 80, 81, 95, 100, 101, 129} {
			nw.check(ctx, AtLSN(l), l) // the new primary's records, not the deposed tail
		}
		nw.check(ctx, AtTime(nw.recs[84].Time), nw.modelAt(nw.recs[84].Time))

		if err := oldA.checkNewerTimeline(ctx); !errors.Is(err, ErrDeposed) {
			t.Fatalf("the deposed archiver's timeline check = %v, want ErrDeposed", err)
		}
		if err := newA.checkNewerTimeline(ctx); err != nil {
			t.Fatalf("the new primary's timeline check = %v", err)
		}
		if err := oldA.Compact(ctx); !errors.Is(err, ErrDeposed) {
			t.Fatalf("the deposed archiver's Compact = %v, want ErrDeposed", err)
		}
		oldA.Close()
		again := old.archiver(Options{ShipInterval: time.Hour, NoCompaction: true})
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := again.Flush(fctx); !errors.Is(err, ErrDeposed) || !errors.Is(again.Status().Deposed, ErrDeposed) {
			t.Fatalf("a restarted deposed archiver: Flush = %v, status %+v", err, again.Status())
		}
		rep, err := Verify(ctx, nw.repo, VerifyPITR)
		if err != nil || !rep.OK() || rep.Last != 130 {
			t.Fatalf("Verify: %+v, %v", rep, err)
		}
	})
}

// TestArchiveEpochChange: a running archiver whose log moves to a new
// epoch starts the new timeline at the fork and goes on.
func TestArchiveEpochChange(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, memBucket(t))
	a := rig.archiver(Options{ShipInterval: 10 * time.Millisecond, NoCompaction: true})
	rig.append(25)
	if err := rig.log.SetEpoch(3); err != nil {
		t.Fatal(err)
	}
	rig.append(25)
	flush(t, a)
	if st := a.Status(); st.Epoch != 3 || st.Archived != 50 {
		t.Fatalf("status %+v", st)
	}
	w, err := Restorable(ctx, rig.repo)
	if err != nil || w.Timeline != "epoch 0 → after 25: epoch 3" {
		t.Fatalf("window %+v, %v", w, err)
	}
	for l := wal.LSN(1); l <= 50; l++ {
		rig.check(ctx, AtLSN(l), l)
	}
}

func memBucket(t *testing.T) *blob.Bucket {
	t.Helper()
	b, err := blob.OpenBucket(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
