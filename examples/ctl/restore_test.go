package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/continuity-go/continuity"
)

// TestRestoreNeverDestroys: ctl restore writes its files whole or not
// at all, mode 0600; it refuses an existing target without -force and a
// symbolic link always; a restore that fails leaves nothing behind, and
// the file it would have replaced as it was.
func TestRestoreNeverDestroys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, err := continuity.Open(ctx, continuity.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &kv{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, _, err := n.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i%3, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	archiveURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "archive"))}).String()
	ctl := func(args ...string) (string, int) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"-archive", archiveURL, "-key-file", filepath.Join(dir, "archive.key"), "restore"}, args...), &out, io.Discard)
		if err != nil {
			return out.String() + err.Error(), exitCode(err)
		}
		return out.String(), 0
	}
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

	if out, code := ctl("-out", keep); code != exitUsage || !strings.Contains(out, "give -force") {
		t.Fatalf("restore onto an existing file: exit %d: %s", code, out)
	}
	unchanged("refused without -force")
	if out, code := ctl("-out", keep, "-force", "-lsn", "500"); code != exitNotInRange {
		t.Fatalf("restore outside the window: exit %d: %s", code, out)
	}
	unchanged("a restore outside the window, with -force")
	if out, code := ctl("-out", keep, "-time", "yesterday"); code != exitUsage || !strings.Contains(out, "RFC 3339") {
		t.Fatalf("a bad -time: exit %d: %s", code, out)
	}
	if out, code := ctl("-out", keep, "-time", "2026-12-04T21:30:00Z", "-lsn", "3"); code != exitUsage || !strings.Contains(out, "not both") {
		t.Fatalf("-time and -lsn: exit %d: %s", code, out)
	}
	link := filepath.Join(outDir, "link")
	if err := os.Symlink(keep, link); err != nil {
		t.Fatal(err)
	}
	if out, code := ctl("-out", link, "-force"); code != exitUsage || !strings.Contains(out, "symbolic link") {
		t.Fatalf("restore onto a symbolic link: exit %d: %s", code, out)
	}
	os.Remove(link)
	unchanged("refused a symbolic link")

	// A good restore, then one replacing it with -force.
	state := filepath.Join(outDir, "state")
	if out, code := ctl("-out", state, "-lsn", "5"); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, out)
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
	if out, code := ctl("-out", state, "-force"); code != 0 {
		t.Fatalf("restore -force: exit %d: %s", code, out)
	}
	ev, err := os.ReadFile(state + ".events.jsonl")
	if err != nil || strings.Count(string(ev), "\n") != 10 {
		t.Fatalf("the replaced events file holds %d lines (%v), want 10", strings.Count(string(ev), "\n"), err)
	}
	if names := entries(); len(names) != 3 {
		t.Fatalf("temporary files left: %v", names)
	}
}

// TestWrongKeySaysWhatOpens: a wrong key names the slots that open the
// archive; an archive without readable key slots says so instead of
// "check the passphrase".
func TestWrongKeySaysWhatOpens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, err := continuity.Open(ctx, continuity.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &kv{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	arch := filepath.Join(dir, "archive")
	archiveURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(arch)}).String()
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	if err := os.WriteFile(wrong, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl := func(key string) string {
		err := run(ctx, []string{"-archive", archiveURL, "-key-file", key, "window"}, io.Discard, io.Discard)
		if err == nil {
			t.Fatal("window opened the archive")
		}
		return err.Error()
	}
	if msg := ctl(wrong); !strings.Contains(msg, "the archive opens with: raw key (slot ") {
		t.Fatalf("wrong key: %s", msg)
	}
	if err := os.Rename(filepath.Join(arch, "keys"), filepath.Join(dir, "keys.moved")); err != nil {
		t.Fatal(err)
	}
	if msg := ctl(filepath.Join(dir, "archive.key")); !strings.Contains(msg, "no readable key slot") || strings.Contains(msg, "passphrase") {
		t.Fatalf("no key slots: %s", msg)
	}
}
