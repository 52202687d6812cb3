package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestFileModes: what ctl writes (a new archive, key files, restore
// output and its events file) and what the fixture's Node wrote beside
// it, in its Dir, is open to neither the group nor others.
func TestFileModes(t *testing.T) {
	f := newFixture(t, []int{10}, -1)
	var c ctlCmd
	c.must(t, f.args("restore", "--out", filepath.Join(f.dir, "state"), "--lsn", "5")...)
	c.must(t, f.args("keys", "add", "--new-key-file", filepath.Join(f.dir, "second.key"))...)
	c.must(t, "--archive", "file://"+filepath.ToSlash(filepath.Join(f.dir, "new", "archive")),
		"--key-file", filepath.Join(f.dir, "new.key"), "init")
	for _, p := range []string{"state", "state.events.jsonl", "second.key", "new.key", "new/archive", "wal", "archive.key"} {
		if _, err := os.Stat(filepath.Join(f.dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	// f.dir itself is t.TempDir's, which testing makes 0755.
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		testkit.AssertPrivate(t, filepath.Join(f.dir, e.Name()))
	}
}

// TestOutFileSymlinkSwapped: a symbolic link put at the output path after
// createOut checked it is replaced by the output; the file it points to
// is not written.
func TestOutFileSymlinkSwapped(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "out")
	o, err := createOut(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path); err != nil { // the swap, after the Lstat
		t.Fatal(err)
	}
	if _, err := o.WriteString("restored"); err != nil {
		t.Fatal(err)
	}
	if err := o.commit(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
		t.Fatalf("the link's target is now %q, %v", b, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s is %v, want a regular file of mode 0600", path, fi.Mode())
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "restored" {
		t.Fatalf("%s holds %q, %v", path, b, err)
	}
}

// TestNewKeyFileRefusesSymlink: a key is never written through a
// symbolic link, dangling or not.
func TestNewKeyFileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	for _, target := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "existing")} {
		if filepath.Base(target) == "existing" {
			if err := os.WriteFile(target, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		link := filepath.Join(dir, "link-to-"+filepath.Base(target))
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := newKeyFile(link, [32]byte{1}); err == nil {
			t.Fatalf("newKeyFile through a link to %s succeeded", target)
		}
		if fi, err := os.Stat(target); err == nil && fi.Size() != 0 {
			t.Fatalf("%s was written through the link", target)
		}
	}
}
