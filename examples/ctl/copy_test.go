package main

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
)

// TestCopy: ctl copy into an empty directory makes a copy that verifies
// and restores; a second copy moves nothing; a planted object in the
// archive is named, not copied, and exits 3; a missing --to is a usage
// error; a destination holding another archive is refused.
func TestCopy(t *testing.T) {
	f := newFixture(t, []int{5, 5}, 5)
	var c ctlCmd
	copyDir := filepath.Join(t.TempDir(), "offsite")
	to := "file://" + copyDir
	out := c.must(t, f.args("copy", "--to", to)...)
	if !strings.Contains(out, "copied") || !strings.Contains(out, "verify") {
		t.Fatalf("copy: %s", out)
	}
	onCopy := func(a ...string) []string { return append([]string{"--archive", to, "--key-file", f.key}, a...) }
	if out := c.must(t, onCopy("verify", "--read-data")...); !strings.Contains(out, "no problems") {
		t.Fatalf("verify the copy: %s", out)
	}
	c.must(t, onCopy("restore", "--lsn", "10", "--out", filepath.Join(t.TempDir(), "state"))...)
	if out := c.must(t, f.args("copy", "--to", to)...); !strings.Contains(out, "copied 0 of") {
		t.Fatalf("a second copy moved something: %s", out)
	}

	c.expect(t, exitUsage, "--to is required", f.args("copy")...)
	b, err := localblob.OpenBucket(f.archiveDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAll(context.Background(), "snapshots/00000000000000000000000000000000", []byte("planted"), nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	r := c.expect(t, exitIntegrity, "not copied", f.args("copy", "--to", to)...)
	if !strings.Contains(r.out, "snapshots/00000000000000000000000000000000 does not authenticate") {
		t.Fatalf("copy with a planted manifest: %s", r)
	}

	other := newFixture(t, []int{2}, 0)
	c.expect(t, 1, "another repository", f.args("copy", "--to", other.url)...)
}

// TestAddCopyStats: a later pass's findings replace the earlier ones';
// what the passes copied adds up and is not counted again as present.
func TestAddCopyStats(t *testing.T) {
	first := snapshot.CopyStats{Objects: 10, Copied: 4, Bytes: 400, Present: 5, Missing: []string{"wal/a"}, Unauthenticated: []string{"wal/planted"}}
	second := snapshot.CopyStats{Objects: 10, Copied: 1, Bytes: 100, Present: 8, Unauthenticated: []string{"wal/planted"}}
	got := addCopyStats(addCopyStats(snapshot.CopyStats{}, first), second)
	want := snapshot.CopyStats{Objects: 10, Copied: 5, Bytes: 500, Present: 4, Unauthenticated: []string{"wal/planted"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
