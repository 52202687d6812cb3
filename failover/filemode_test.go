package failover

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/wal"
)

// TestFileModes: the Raft store, the snapshots (whose store takes no
// mode) and the quarantine files are the owner's alone.
func TestFileModes(t *testing.T) {
	t.Run("raft", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "raft")
		if err := os.MkdirAll(dir, dirMode); err != nil {
			t.Fatal(err)
		}
		store, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		snaps, err := openSnapshots(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i := uint64(1); i <= 3; i++ { // one more than retained: reaping works too
			sink, err := snaps.Create(1, 10*i, 2, raft.Configuration{}, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fmt.Fprintf(sink, "state %d", i); err != nil {
				t.Fatal(err)
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if metas, err := snaps.List(); err != nil || len(metas) != 2 {
			t.Fatalf("List: %d snapshots, %v; want 2", len(metas), err)
		}
		// raft, raft.db, snapshots, two snapshot directories of two files.
		if n := testkit.AssertPrivate(t, dir); n < 9 {
			t.Fatalf("checked %d entries, want at least 9", n)
		}
	})
	t.Run("quarantine", func(t *testing.T) {
		ctx := context.Background()
		l, err := wal.Open(filepath.Join(t.TempDir(), "wal"), wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for i := 1; i <= 10; i++ {
			if _, _, err := l.Append(ctx, fmt.Appendf(nil, "event %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		dir := filepath.Join(t.TempDir(), "quarantine")
		if n, _, err := Rejoin(ctx, l, 5, dir); err != nil || n != 5 {
			t.Fatalf("Rejoin: %d cut, %v", n, err)
		}
		if n := testkit.AssertPrivate(t, dir); n != 2 {
			t.Fatalf("checked %d entries, want the directory and one file", n)
		}
	})
}
