package archive

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"
	"pgregory.net/rapid"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestArchiveModel: any sequence of appends, clock steps, ship cycles,
// compactions, base snapshots and archiver restarts (with the
// log reopened and truncated up to the archiver's hold) keeps the
// archive's window contiguous up to the last shipped record, and
// restoring to any LSN or instant of it gives the model's state.
func TestArchiveModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "archive-model-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		b := memblob.OpenBucket(nil)
		defer b.Close()
		clock := testkit.NewClock()
		rig := &archiveRig{t: nil, clock: clock, dir: dir, bucket: b, state: &testsm.Chain{}, sums: make([][32]byte, 1)}
		open := func() *wal.Log {
			l, err := wal.Open(dir, wal.Options{Now: clock.Now, SegmentBytes: 16 << 10, DisablePreallocation: true})
			if err != nil {
				rt.Fatal(err)
			}
			return l
		}
		rig.log = open()
		defer func() { rig.log.Close() }()
		repo, err := snapshot.Init(ctx, b, snapshot.RawKey([32]byte{7}), snapshot.Format{}, snapshot.Options{Now: clock.Now})
		if err != nil {
			rt.Fatal(err)
		}
		rig.repo = repo
		start := func() *Archiver {
			a, err := NewArchiver(rig.log, repo, Options{
				ShipInterval: time.Hour, NoCompaction: true, Now: clock.Now, Capture: rig.state.Capture,
				Compaction:     []time.Duration{time.Second, 10 * time.Second},
				MaxObjectBytes: rapid.SampledFrom([]int{300, 4 << 10, 1 << 20}).Draw(rt, "maxObject"),
				Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				rt.Fatal(err)
			}
			return a
		}
		a := start()
		defer func() { a.Close() }()
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 6).Draw(rt, "op") {
			case 0, 1:
				n := rapid.IntRange(1, 40).Draw(rt, "n")
				for k := 0; k < n; k++ {
					rig.appendNoT(rt)
				}
			case 2:
				clock.Add(time.Duration(rapid.IntRange(1, 30_000).Draw(rt, "ms")) * time.Millisecond)
			case 3:
				if err := a.Flush(fctx); err != nil {
					rt.Fatal(err)
				}
			case 4:
				if err := a.Compact(ctx); err != nil {
					rt.Fatal(err)
				}
			case 5:
				if err := a.Flush(fctx); err != nil {
					rt.Fatal(err)
				}
				if _, err := a.SnapshotNow(ctx); err != nil {
					rt.Fatal(err)
				}
			case 6:
				// Restart: close, reopen the log, truncate what the hold
				// allows, start again.
				held := rig.log.Holds()["archive"]
				a.Close()
				rig.log.Close()
				rig.log = open()
				a = start()
				if err := a.Flush(fctx); err != nil {
					rt.Fatal(err)
				}
				if held > 1 {
					if err := rig.log.TruncateFront(held); err != nil {
						rt.Fatalf("TruncateFront(%d) after everything before it was archived: %v", held, err)
					}
				}
			}
		}
		if err := a.Flush(fctx); err != nil {
			rt.Fatal(err)
		}
		shipped := rig.log.Last()
		if shipped == 0 {
			return
		}
		w, err := Restorable(ctx, repo)
		if err != nil {
			rt.Fatal(err)
		}
		if w.LatestLSN != shipped || w.EarliestLSN > 1 { // 0 with a base snapshot taken before record 1
			rt.Fatalf("window LSN %d to %d, want 0 or 1 to %d", w.EarliestLSN, w.LatestLSN, shipped)
		}
		for k := 0; k < 5; k++ {
			l := wal.LSN(rapid.IntRange(1, int(shipped)).Draw(rt, "lsn"))
			rig.checkR(rt, AtLSN(l), l)
			at := rig.recs[rapid.IntRange(0, len(rig.recs)-1).Draw(rt, "rec")].Time
			rig.checkR(rt, AtTime(at), rig.modelAt(at))
		}
	})
}

// appendNoT is append(1) for property tests.
func (rig *archiveRig) appendNoT(rt *rapid.T) {
	data := []byte(rapid.StringMatching(`[a-z]{0,40}`).Draw(rt, "data"))
	_, last, err := rig.log.Append(context.Background(), data)
	if err != nil {
		rt.Fatal(err)
	}
	rec := wal.Record{LSN: last, Time: rig.clock.Now(), Data: data}
	rig.recs = append(rig.recs, rec)
	rig.sums = append(rig.sums, testsm.Next(rig.sums[len(rig.sums)-1], rec))
	if err := rig.state.Apply(rec); err != nil {
		rt.Fatal(err)
	}
}

func (rig *archiveRig) checkR(rt *rapid.T, target Target, want wal.LSN) {
	var sm testsm.Chain
	res, err := RestoreTo(context.Background(), rig.repo, target, &sm, RestoreOptions{})
	if err != nil {
		rt.Fatalf("RestoreTo(%s): %v", target, err)
	}
	if lsn, _, sum := sm.State(); lsn != want || sum != rig.sums[want] || res.LSN != want {
		rt.Fatalf("RestoreTo(%s) reached LSN %d, want %d", target, lsn, want)
	}
}
