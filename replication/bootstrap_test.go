package replication

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestStandbyBootstrapsFromArchive: the primary has truncated the WAL a
// standby needs. A standby with an archive catches up from it and then
// streams: by replaying archived records when the archive holds them,
// and from the newest base snapshot when retention deleted them too.
func TestStandbyBootstrapsFromArchive(t *testing.T) {
	for _, pruned := range []bool{false, true} {
		name := "archived-wal"
		if pruned {
			name = "base-snapshot"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clock := testkit.NewClock()
			plog, err := wal.Open(t.TempDir(), wal.Options{Now: clock.Now, SegmentBytes: 256 << 10, DisablePreallocation: true})
			require.NoError(t, err)
			defer plog.Close()
			b, err := blob.OpenBucket(ctx, "mem://")
			require.NoError(t, err)
			defer b.Close()
			repo, err := snapshot.Init(ctx, b, snapshot.RawKey([32]byte{7}), snapshot.Format{}, snapshot.Options{Now: clock.Now})
			require.NoError(t, err)
			defer repo.Close()
			var primarySM testsm.Chain // the primary's state, folded as records are appended
			var recs []wal.Record
			sums := make([][32]byte, 1) // sums[i]: the chain after LSN i
			appendN := func(n int) {
				for i := 0; i < n; i++ {
					data := fmt.Appendf(nil, "event %d", len(recs)+1)
					_, last, err := plog.Append(ctx, data)
					require.NoError(t, err)
					rec := wal.Record{LSN: last, Time: clock.Now(), Data: data}
					require.NoError(t, primarySM.Apply(rec))
					recs = append(recs, rec)
					sums = append(sums, testsm.Next(sums[len(sums)-1], rec))
				}
			}
			a, err := archive.NewArchiver(plog, repo, archive.Options{
				ShipInterval: 10 * time.Millisecond, NoCompaction: true, Now: clock.Now, Capture: primarySM.Capture,
				MinBackoff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			require.NoError(t, err)
			defer a.Close()
			flush := func() {
				fctx, cancel := context.WithTimeout(ctx, hangTimeout)
				defer cancel()
				require.NoError(t, a.Flush(fctx))
			}
			p := newTestPrimary(t, plog, PrimaryOptions{})
			defer p.Close()

			// A standby that followed the first 10 records, then stopped.
			slog := openLog(t, vfs.NewMem())
			for i := 0; i < 2; i++ {
				appendN(5)
				clock.Add(time.Second)
			}
			var sm testsm.Chain
			for _, r := range recs {
				r.Epoch = 0
				require.NoError(t, slog.Write(ctx, r))
				require.NoError(t, sm.Apply(r))
			}
			for i := 0; i < 40; i++ {
				appendN(250)
				clock.Add(time.Minute)
				if i == 20 {
					flush()
					_, err := a.SnapshotNow(ctx)
					require.NoError(t, err)
				}
			}
			flush()
			require.NoError(t, plog.TruncateFront(plog.Last()))
			require.Greater(t, plog.First(), wal.LSN(11), "the primary still holds LSN 11")
			if pruned {
				res, err := archive.ApplyRetention(ctx, repo, archive.RetentionPolicy{Window: 10 * time.Minute, Keep: snapshot.Policy{Last: 1}, Now: clock.Now}, false)
				require.NoError(t, err)
				require.GreaterOrEqual(t, res.CutLSN, wal.LSN(11), "retention: %+v", res)
			}

			s, err := NewStandby(slog, &sm, StandbyOptions{Transport: plaintext, Node: "standby", Primary: p.Addr().String(), Applied: 10, Archive: repo})
			require.NoError(t, err)
			defer s.Close()
			appendN(7) // streamed, not archived yet
			wctx, cancel := context.WithTimeout(ctx, hangTimeout)
			defer cancel()
			last := plog.Last()
			err = s.WaitFor(wctx, last)
			require.NoError(t, err, "standby did not catch up (state %+v)", s.State())
			got, _, sum := sm.State()
			require.Equal(t, last, got, "standby state's LSN")
			require.Equal(t, sums[last], sum, "standby state at LSN %d is not the primary's history", got)
			require.Equal(t, last, slog.Last(), "standby WAL's end")
			if pruned {
				require.Greater(t, slog.First(), wal.LSN(11), "standby WAL's start: it should restart after the base snapshot")
			}
			r := slog.NewReader(slog.First())
			defer r.Close()
			for l := slog.First(); l <= last; l++ {
				rec, err := r.Next(ctx)
				require.NoError(t, err, "standby WAL at %d", l)
				require.Equal(t, l, rec.LSN, "standby WAL at %d", l)
				require.Equal(t, string(recs[l-1].Data), string(rec.Data), "standby WAL at %d", l)
			}
		})
	}
}
