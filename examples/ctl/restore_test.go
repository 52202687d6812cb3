package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/continuity-go/continuity"
)

// TestRestoreNeverDestroys: ctl restore writes its files whole or not
// at all, mode 0600; it refuses an existing target without --force and a
// symbolic link or a directory always; a restore that fails leaves
// nothing behind, and the file it would have replaced as it was.
func TestRestoreNeverDestroys(t *testing.T) {
	f := newFixture(t, []int{10}, -1)
	var c ctlCmd
	restore := func(args ...string) result { return c.run(t, f.args(append([]string{"restore"}, args...)...)...) }
	outDir := t.TempDir()
	keep := filepath.Join(outDir, "keep.txt")
	if err := os.WriteFile(keep, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	entries := func() []string {
		des, err := os.ReadDir(outDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range des {
			names = append(names, d.Name())
		}
		return names
	}
	unchanged := func(what string) {
		t.Helper()
		if b, err := os.ReadFile(keep); err != nil || string(b) != "precious" {
			t.Fatalf("%s: keep.txt is now %q, %v", what, b, err)
		}
		if names := entries(); len(names) != 1 || names[0] != "keep.txt" {
			t.Fatalf("%s: the directory holds %v", what, names)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--out", keep}, exitUsage, "give --force"},
		{[]string{"--out", keep, "--force", "--lsn", "500"}, exitNotFound, "outside the restorable window"},
		{[]string{"--out", keep, "--time", "yesterday"}, exitUsage, "RFC 3339"},
		{[]string{"--out", outDir}, exitUsage, "is a directory"},
	} {
		if r := restore(tc.args...); r.code != tc.code || !strings.Contains(r.err, tc.want) {
			t.Fatalf("restore %v: want exit %d and %q; got %s", tc.args, tc.code, tc.want, r)
		}
		unchanged(strings.Join(tc.args, " "))
	}
	link := filepath.Join(outDir, "link")
	if err := os.Symlink(keep, link); err != nil {
		t.Fatal(err)
	}
	if r := restore("--out", link, "--force"); r.code != exitUsage || !strings.Contains(r.err, "symbolic link") {
		t.Fatalf("restore onto a symbolic link: %s", r)
	}
	os.Remove(link)
	unchanged("refused a symbolic link")

	// A good restore, then one replacing it with --force.
	state := filepath.Join(outDir, "state")
	if r := restore("--out", state, "--lsn", "5"); r.code != 0 {
		t.Fatalf("restore: %s", r)
	}
	for _, p := range []string{state, state + ".events.jsonl"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
	if r := restore("--out", state, "--force"); r.code != 0 {
		t.Fatalf("restore --force: %s", r)
	}
	ev, err := os.ReadFile(state + ".events.jsonl")
	if err != nil || strings.Count(string(ev), "\n") != 10 {
		t.Fatalf("the replaced events file holds %d lines (%v), want 10", strings.Count(string(ev), "\n"), err)
	}
	if names := entries(); len(names) != 3 {
		t.Fatalf("temporary files left: %v", names)
	}
}

// TestKeysAndInit: init makes an archive (and its key file) a Node then
// opens; keys add, list, rotate and remove work and never print key
// material; the last slot cannot go.
func TestKeysAndInit(t *testing.T) {
	dir := t.TempDir()
	var c ctlCmd
	archiveDir := filepath.Join(dir, "node", "archive")
	url := "file://" + archiveDir
	key := filepath.Join(dir, "node", "archive.key")
	os.MkdirAll(filepath.Dir(key), 0o700)
	if out := c.must(t, "--archive", url, "--key-file", key, "init"); !strings.Contains(out, "new raw key written to") {
		t.Fatalf("init: %s", out)
	}
	if fi, err := os.Stat(key); err != nil || fi.Size() != 32 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new key file: %v %v", fi, err)
	}
	c.expect(t, exitUsage, "already holds an archive", "--archive", url, "--key-file", key, "init")
	// A Node opens what init made, with the key it wrote.
	n, err := continuity.Open(context.Background(), continuity.Config{Dir: filepath.Join(dir, "node"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &kv{})
	if err != nil {
		t.Fatalf("a Node on the archive ctl init made: %v", err)
	}
	if _, _, err := n.Append(context.Background(), []byte("a=1")); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	args := func(a ...string) []string { return append([]string{"--archive", url, "--key-file", key}, a...) }
	if out := c.must(t, args("window")...); !strings.Contains(out, "(LSN 1)") {
		t.Fatalf("window: %s", out)
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("correct horse\n"), 0o600)
	c.must(t, args("keys", "add", "--new-password-file", pw, "--label", "ops")...)
	second := filepath.Join(dir, "second.key")
	c.must(t, args("keys", "add", "--new-key-file", second)...)
	c.expect(t, exitUsage, "never replaces a key file", args("keys", "add", "--new-key-file", second)...)
	list := c.must(t, args("keys", "list", "--json")...)
	if strings.Contains(list, "wrapped") || strings.Contains(list, "salt") || strings.Count(list, `"id"`) != 3 {
		t.Fatalf("keys list --json: %s", list)
	}
	// Rotate the passphrase slot to a new key file: the old passphrase
	// stops opening, the new key opens.
	third := filepath.Join(dir, "third.key")
	pwArgs := []string{"--archive", url, "--password-file", pw}
	c.must(t, append(pwArgs, "keys", "rotate", "--new-key-file", third)...)
	c.expect(t, exitWrongKey, "no key slot opens", append(pwArgs, "window")...)
	c.must(t, "--archive", url, "--key-file", third, "window")
	// Remove the others one by one; the last refuses.
	var slots struct{ Keys []keyJSON }
	_ = jsonUnmarshal(c.must(t, "--archive", url, "--key-file", third, "keys", "list", "--json"), &slots)
	if len(slots.Keys) != 3 {
		t.Fatalf("after rotate: %+v", slots)
	}
	current := ""
	for _, k := range slots.Keys {
		if k.Current {
			current = k.ID
		} else {
			c.must(t, "--archive", url, "--key-file", third, "keys", "remove", k.ID[:8])
		}
	}
	c.expect(t, exitUsage, "last key slot", "--archive", url, "--key-file", third, "keys", "remove", current[:6])
	c.expect(t, exitNotFound, "no key slot", "--archive", url, "--key-file", third, "keys", "remove", "ffffffffffff")
}
