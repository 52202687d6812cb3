package replication

import (
	"context"
	"testing"
	"time"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/snapshot"
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
			rig := newArchiveRig(t, memBucket(t))
			a := rig.archiver(ArchiverOptions{ShipInterval: 10 * time.Millisecond, NoCompaction: true})
			p := newTestPrimary(t, rig.log, PrimaryOptions{})
			defer p.Close()

			// A standby that followed the first 10 records, then stopped.
			slog := openLog(t, vfs.NewMem())
			for i := 0; i < 2; i++ {
				rig.append(5)
				rig.clock.Add(time.Second)
			}
			var sm chainState
			for _, r := range rig.recs {
				r.Epoch = 0
				if err := slog.Write(ctx, r); err != nil {
					t.Fatal(err)
				}
				if err := sm.Apply(r); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 40; i++ {
				rig.append(250)
				rig.clock.Add(time.Minute)
				if i == 20 {
					flush(t, a)
					if _, err := a.SnapshotNow(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			flush(t, a)
			if err := rig.log.TruncateFront(rig.log.Last()); err != nil {
				t.Fatal(err)
			}
			if rig.log.First() <= 11 {
				t.Fatalf("the primary still holds LSN 11 (first %d)", rig.log.First())
			}
			if pruned {
				res, err := ApplyRetention(ctx, rig.repo, RetentionPolicy{Window: 10 * time.Minute, Keep: snapshot.Policy{Last: 1}, Now: rig.clock.Now}, false)
				if err != nil || res.CutLSN < 11 {
					t.Fatalf("retention: %+v, %v", res, err)
				}
			}

			s, err := NewStandby(slog, &sm, StandbyOptions{Transport: plaintext, Node: "standby", Primary: p.Addr().String(), Applied: 10, Archive: rig.repo})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rig.append(7) // streamed, not archived yet
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			last := rig.log.Last()
			if err := s.WaitFor(wctx, last); err != nil {
				t.Fatalf("standby did not catch up: %v (state %+v)", err, s.State())
			}
			sm.mu.Lock()
			got, sum := sm.lsn, sm.sum
			sm.mu.Unlock()
			if got != last || sum != rig.sums[last] {
				t.Fatalf("standby state at LSN %d, want %d with the primary's history", got, last)
			}
			if slog.Last() != last {
				t.Fatalf("standby WAL ends at %d, want %d", slog.Last(), last)
			}
			if pruned && slog.First() <= 11 {
				t.Fatalf("standby WAL starts at %d: it should restart after the base snapshot", slog.First())
			}
			r := slog.NewReader(slog.First())
			defer r.Close()
			for l := slog.First(); l <= last; l++ {
				rec, err := r.Next(ctx)
				if err != nil || rec.LSN != l || string(rec.Data) != string(rig.recs[l-1].Data) {
					t.Fatalf("standby WAL at %d: %v %v", l, rec.LSN, err)
				}
			}
		})
	}
}
