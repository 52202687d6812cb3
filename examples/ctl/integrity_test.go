package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
	"gocloud.dev/blob"
)

// TestIntegrityCases: for each damage an operator may meet (a deleted
// first, middle or last WAL object, a planted wide name, a planted head,
// a damaged manifest no restore needs), ctl verify exits 3 naming the
// object and what it costs, restores exit 0 where the records are there
// and 4 where they are not, and repair snapshots drops a damaged
// manifest.
func TestIntegrityCases(t *testing.T) {
	// LSN 1-4, 5-8 (then a base snapshot at LSN 8), 9-12.
	build := func(t *testing.T) (*fixture, []string) {
		f := newFixture(t, []int{4, 4, 4}, 1)
		objs := f.walObjects(t)
		if len(objs) != 3 {
			t.Fatalf("want 3 WAL objects, have %v", objs)
		}
		return f, objs
	}
	flip := func(t *testing.T, p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var c ctlCmd
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, f *fixture, objs []string) (object string)
		restore map[string]int // restore flags → exit status
	}{
		{"first object deleted", func(t *testing.T, f *fixture, objs []string) string {
			os.Remove(f.path(objs[0]))
			return objs[1]
		}, map[string]int{"--lsn 2": exitNotFound, "--lsn 10": 0, "": 0}},
		{"middle object deleted", func(t *testing.T, f *fixture, objs []string) string {
			os.Remove(f.path(objs[1]))
			return objs[2]
		}, map[string]int{"--lsn 2": 0, "--lsn 6": exitNotFound, "--lsn 10": 0, "": 0}},
		{"last object deleted", func(t *testing.T, f *fixture, objs []string) string {
			os.Remove(f.path(objs[2]))
			return "wal/head/"
		}, map[string]int{"--lsn 8": 0, "": exitNotFound}},
		{"planted wide name", func(t *testing.T, f *fixture, objs []string) string {
			name := strings.Replace(objs[0], "0000000000000004-", "000000000000000c-", 1)
			os.WriteFile(f.path(name), []byte("planted"), 0o644)
			return name
		}, map[string]int{"--lsn 2": 0, "": 0}},
		{"planted head", func(t *testing.T, f *fixture, _ []string) string {
			os.WriteFile(f.path("wal/head/00000000000000ff"), []byte("planted"), 0o644)
			return "wal/head/00000000000000ff"
		}, map[string]int{"": 0}},
		{"damaged manifest no restore needs", func(t *testing.T, f *fixture, _ []string) string {
			flip(t, f.path(f.snap))
			return f.snap
		}, map[string]int{"--lsn 10": 0, "": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, objs := build(t)
			object := tc.damage(t, f, objs)
			r := c.run(t, f.args("verify")...)
			if r.code != exitIntegrity || !strings.Contains(r.out, "PROBLEM "+object) || !strings.Contains(r.out, "costs: ") {
				t.Fatalf("verify: want exit 3 and a PROBLEM line naming %s with its cost; got %s", object, r)
			}
			for flags, want := range tc.restore {
				args := f.args("restore", "--out", filepath.Join(t.TempDir(), "s"))
				args = append(args, strings.Fields(flags)...)
				if r := c.run(t, args...); r.code != want {
					t.Errorf("restore %q: want exit %d; got %s", flags, want, r)
				}
			}
			if object != f.snap {
				return
			}
			// The damaged manifest: listed, asked about, dropped.
			if out := c.must(t, f.args("snapshots")...); !strings.Contains(out, "DAMAGED") {
				t.Fatalf("snapshots does not show the damaged manifest: %s", out)
			}
			c.expect(t, exitUsage, "give --yes", f.args("repair", "snapshots")...)
			if out := c.must(t, f.args("repair", "snapshots", "--dry-run")...); !strings.Contains(out, "would delete 1") {
				t.Fatalf("repair snapshots --dry-run: %s", out)
			}
			if out := c.must(t, f.args("repair", "snapshots", "--yes")...); !strings.Contains(out, "deleted 1 manifest") {
				t.Fatalf("repair snapshots --yes: %s", out)
			}
			if _, err := os.Stat(f.path(f.snap)); !os.IsNotExist(err) {
				t.Fatalf("the damaged manifest is still there: %v", err)
			}
			if out := c.must(t, f.args("verify")...); !strings.Contains(out, "no problems") {
				t.Fatalf("verify after repair: %s", out)
			}
		})
	}
}

// TestRepairIndex: with the index objects gone, verify fails; repair
// index rebuilds them from the packs and restores work again.
func TestRepairIndex(t *testing.T) {
	f := newFixture(t, []int{10}, 0)
	var c ctlCmd
	if err := os.RemoveAll(filepath.Join(f.archiveDir, "index")); err != nil {
		t.Fatal(err)
	}
	c.expect(t, exitIntegrity, "PROBLEM", f.args("verify")...)
	if out := c.must(t, f.args("repair", "index")...); !strings.Contains(out, "indexed again") {
		t.Fatalf("repair index: %s", out)
	}
	if out := c.must(t, f.args("verify", "--read-data")...); !strings.Contains(out, "no problems") {
		t.Fatalf("verify after repair index: %s", out)
	}
}

// TestLocks: unlock removes a stale lock a killed process left.
func TestLocks(t *testing.T) {
	f := newFixture(t, []int{3}, 0)
	var c ctlCmd
	if out := c.must(t, f.args("unlock")...); !strings.Contains(out, "removed 0 lock") {
		t.Fatalf("unlock: %s", out)
	}
	if err := os.MkdirAll(filepath.Join(f.archiveDir, "locks"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.archiveDir, "locks", "planted"), []byte("not a lock"), 0o600)
	if out := c.must(t, f.args("unlock", "--all")...); !strings.Contains(out, "removed 1 lock") {
		t.Fatalf("unlock --all: %s", out)
	}
}

// TestLockedArchive: a write command meeting another operation's lock
// (here a Save in progress in this process) fails at once with exit 6
// and names the holder, instead of waiting; --retry-lock waits, and
// goes through once the lock is released.
func TestLockedArchive(t *testing.T) {
	f := newFixture(t, []int{3}, 0)
	ctx := t.Context()
	raw, err := os.ReadFile(f.key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blob.OpenBucket(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	repo, err := snapshot.Open(ctx, b, snapshot.RawKey([32]byte(raw)), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	pr, pw := io.Pipe()
	saved := make(chan error, 1)
	go func() {
		_, _, err := repo.Save(ctx, pr, snapshot.Meta{}) // holds a shared lock until pw closes
		saved <- err
	}()
	var c ctlCmd
	var last result
	defer func() {
		if t.Failed() {
			t.Logf("last prune: %s", last)
		}
	}()
	testkit.Eventually(t, func() bool {
		res := c.run(t, f.args("prune")...)
		last = res
		return res.code == exitLocked && strings.Contains(res.err, "save") && strings.Contains(res.err, "'ctl unlock'")
	}, "prune to fail at once on the Save's lock, naming it")
	done := make(chan result, 1)
	go func() { done <- c.run(t, f.args("prune", "--retry-lock", "1m")...) }()
	pw.Write([]byte("state"))
	pw.Close()
	if err := <-saved; err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.code != 0 {
		t.Fatalf("prune --retry-lock after the lock went: %s", res)
	}
}

// TestRestoreOfATruncatedPack: a restore whose base snapshot's packs are
// cut short exits 3 naming the pack, keeps nothing, and does not blame
// the output it was writing.
func TestRestoreOfATruncatedPack(t *testing.T) {
	f := newFixture(t, []int{10, 5}, 0)
	var c ctlCmd
	var packs []string
	err := filepath.WalkDir(filepath.Join(f.archiveDir, "data"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			packs = append(packs, path)
			err = os.Truncate(path, 100)
		}
		return err
	})
	if err != nil || len(packs) == 0 {
		t.Fatalf("truncating the packs: %v (%d found)", err, len(packs))
	}
	out := filepath.Join(t.TempDir(), "state")
	r := c.expect(t, exitIntegrity, "object truncated", f.args("restore", "--out", out)...)
	if strings.Contains(r.err, "writing the output failed") || !strings.Contains(r.err, "data/") {
		t.Fatalf("restore of truncated packs blames the output or names no pack: %s", r)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("the restore kept %s: %v", out, err)
	}
}
