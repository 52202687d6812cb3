package archive

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"pgregory.net/rapid"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestArchiveModel: any sequence of appends, clock steps, ship cycles,
// compactions, base snapshots and archiver restarts (each archiver
// storing records' opaque tails uncompressed or not, and with the
// log reopened and truncated up to the archiver's hold) keeps the
// archive's window contiguous up to the last shipped record, and
// restoring to any LSN or instant of it gives the model's state.
func TestArchiveModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		b := memblob.OpenBucket(nil)
		defer b.Close()
		rig, open, done := newPropertyRig(rt, b)
		defer done()
		clock, repo := rig.clock, rig.repo
		start := func() *Archiver {
			// Each archiver may store a third of every odd record
			// uncompressed (version 4 objects, as a node does with
			// sealed events), so that objects of both versions meet in
			// one archive, its compactions and its restores.
			var opaque func(wal.Record) int
			if rapid.Bool().Draw(rt, "opaque") {
				opaque = func(r wal.Record) int { return int(r.LSN%2) * len(r.Data) / 3 }
			}
			a, err := NewArchiver(rig.log, repo, Options{
				Opaque:       opaque,
				ShipInterval: time.Hour, NoCompaction: true, Now: clock.Now, Capture: rig.state.Capture,
				Compaction:     []time.Duration{time.Second, 10 * time.Second},
				MaxObjectBytes: rapid.SampledFrom([]int{300, 4 << 10, 1 << 20}).Draw(rt, "maxObject"),
				Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			require.NoError(rt, err)
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
				require.NoError(rt, a.Flush(fctx))
			case 4:
				require.NoError(rt, a.Compact(ctx))
			case 5:
				require.NoError(rt, a.Flush(fctx))
				_, err := a.SnapshotNow(ctx)
				require.NoError(rt, err)
			case 6:
				// Restart: close, reopen the log, truncate what the hold
				// allows, start again.
				held := rig.log.Holds()["archive"]
				a.Close()
				rig.log.Close()
				rig.log = open()
				a = start()
				require.NoError(rt, a.Flush(fctx))
				if held > 1 {
					require.NoError(rt, rig.log.TruncateFront(held), "TruncateFront(%d) after everything before it was archived", held)
				}
			}
		}
		require.NoError(rt, a.Flush(fctx))
		shipped := rig.log.Last()
		if shipped == 0 {
			return
		}
		w, err := Restorable(ctx, repo)
		require.NoError(rt, err)
		require.Equal(rt, shipped, w.LatestLSN, "window LSN %d to %d, want 0 or 1 to %d", w.EarliestLSN, w.LatestLSN, shipped)
		// 0 with a base snapshot taken before record 1.
		require.LessOrEqual(rt, w.EarliestLSN, wal.LSN(1), "window LSN %d to %d, want 0 or 1 to %d", w.EarliestLSN, w.LatestLSN, shipped)
		for k := 0; k < 5; k++ {
			l := wal.LSN(rapid.IntRange(1, int(shipped)).Draw(rt, "lsn"))
			rig.checkWith(ctx, rt, AtLSN(l), l)
			at := rig.recs[rapid.IntRange(0, len(rig.recs)-1).Draw(rt, "rec")].Time
			rig.checkWith(ctx, rt, AtTime(at), rig.modelAt(at))
		}
	})
}

// appendNoT is append(1) for property tests.
func (rig *archiveRig) appendNoT(rt *rapid.T) {
	data := []byte(rapid.StringMatching(`[a-z]{0,40}`).Draw(rt, "data"))
	_, last, err := rig.log.Append(context.Background(), data)
	require.NoError(rt, err)
	rec := wal.Record{LSN: last, Time: rig.clock.Now(), Data: data}
	rig.recs = append(rig.recs, rec)
	rig.sums = append(rig.sums, testsm.Next(rig.sums[len(rig.sums)-1], rec))
	require.NoError(rt, rig.state.Apply(rec))
}

// newPropertyRig is an archiveRig for a property test's check, on bucket
// b: a log in a temporary directory (open reopens it) and a new
// repository. done closes the log and the repository and removes the
// directory.
func newPropertyRig(rt *rapid.T, b *blob.Bucket) (rig *archiveRig, open func() *wal.Log, done func()) {
	dir, err := os.MkdirTemp("", "archive-property-")
	require.NoError(rt, err)
	clock := testkit.NewClock()
	rig = &archiveRig{clock: clock, dir: dir, bucket: b, state: &testsm.Chain{}, sums: make([][32]byte, 1)}
	open = func() *wal.Log {
		l, err := wal.Open(dir, wal.Options{Now: clock.Now, SegmentBytes: 16 << 10, DisablePreallocation: true})
		require.NoError(rt, err)
		return l
	}
	rig.log = open()
	repo, err := snapshot.Init(context.Background(), b, snapshot.RawKey([32]byte{7}), snapshot.Format{}, snapshot.Options{Now: clock.Now})
	require.NoError(rt, err)
	rig.repo = repo
	return rig, open, func() {
		rig.log.Close()
		repo.Close()
		os.RemoveAll(dir)
	}
}
