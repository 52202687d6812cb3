package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/snapshot"
)

type kv struct{ m map[string]string }

func (s *kv) Apply(rec continuity.Record) error {
	k, v, _ := strings.Cut(string(rec.Data), "=")
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[k] = v
	return nil
}
func (s *kv) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(s.m) }
func (s *kv) Restore(r io.Reader) error  { return json.NewDecoder(r).Decode(&s.m) }

// TestCtl runs every command against the archive a Node wrote.
func TestCtl(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, err := continuity.Open(ctx, continuity.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &kv{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		n.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i%4, i))
	}
	if err := n.WaitFor(ctx, 20); err != nil { // the base snapshot holds LSN 1-20
		t.Fatal(err)
	}
	if _, err := n.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	// mid must fall strictly between the snapshot's time and the next
	// events' times, so that restoring as of mid picks the snapshot and
	// no event after it. These sleeps only move the clock on; they wait
	// for nothing.
	time.Sleep(2 * time.Millisecond)
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	for i := 20; i < 30; i++ {
		n.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i%4, i))
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	archive := (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "archive"))}).String()
	ctl := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(ctx, append([]string{"-archive", archive, "-key-file", filepath.Join(dir, "archive.key")}, args...), &out, &errOut); err != nil {
			t.Fatalf("ctl %v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}
	if out := ctl("window"); !strings.Contains(out, "(LSN 30)") {
		t.Fatalf("window: %s", out)
	}
	if out := ctl("snapshots"); !strings.Contains(out, "base") {
		t.Fatalf("snapshots: %s", out)
	}
	if out := ctl("verify", "-read-data"); !strings.Contains(out, "no problems") {
		t.Fatalf("verify: %s", out)
	}
	var w map[string]any
	if err := json.Unmarshal([]byte(ctl("-json", "window")), &w); err != nil || w["latest_lsn"] != float64(30) {
		t.Fatalf("window -json: %v %v", w, err)
	}
	// Restore as of mid: the snapshot at LSN 20, no event after it.
	state := filepath.Join(t.TempDir(), "state")
	ctl("restore", "-time", mid.Format(time.RFC3339Nano), "-out", state)
	var s kv
	f, err := os.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if s.m["k3"] != "v19" {
		t.Fatalf("restored state %v", s.m)
	}
	// As of LSN 25: the same snapshot and five events.
	ctl("restore", "-lsn", "25", "-out", state, "-force")
	ef, err := os.Open(state + ".events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	lines := 0
	for sc := bufio.NewScanner(ef); sc.Scan(); lines++ {
	}
	if lines != 5 {
		t.Fatalf("%d events after the snapshot, want 5", lines)
	}
	if out := ctl("forget", "-dry-run"); !strings.Contains(out, "would remove 0") {
		t.Fatalf("forget: %s", out)
	}
	ctl("prune", "-dry-run")
	os.Setenv("CTL_TEST_PASS", "correct horse")
	if out := ctl("keys", "add", "-passphrase-env", "CTL_TEST_PASS", "-label", "ops"); !strings.Contains(out, "added slot") {
		t.Fatalf("keys add: %s", out)
	}
	// The new passphrase opens the archive too.
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"-archive", archive, "-passphrase-env", "CTL_TEST_PASS", "keys", "list"}, &out, &errOut); err != nil || strings.Count(out.String(), "\n") != 2 {
		t.Fatalf("keys list with the passphrase: %v\n%s", err, out.String())
	}
}

// TestMeter: on a terminal a bar that ends at 100% per operation; else a
// line as each operation ends and nothing in between.
func TestMeter(t *testing.T) {
	var buf bytes.Buffer
	m := &meter{w: &buf, tty: true}
	for _, b := range []int64{0, 512 << 10, 1 << 20} {
		m.snapshot(snapshot.Progress{Op: "verify", Bytes: b, Total: 1 << 20, Done: b == 1<<20})
	}
	m.restore(archive.RestoreProgress{LSN: 5, TargetLSN: 10, Records: 5, Objects: 1, Of: 2})
	m.restore(archive.RestoreProgress{LSN: 10, TargetLSN: 10, Records: 10, Objects: 2, Of: 2})
	m.finish()
	out := buf.String()
	for _, want := range []string{"verify", "100%", "1.0 MB", "restore: LSN 10 of 10, 10 events", "(2/2"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	buf.Reset()
	m = &meter{w: &buf}
	m.snapshot(snapshot.Progress{Op: "verify", Bytes: 10, Total: 20})
	m.restore(archive.RestoreProgress{Objects: 1, Of: 2})
	m.snapshot(snapshot.Progress{Op: "verify", Bytes: 20, Total: 20, Done: true})
	m.finish()
	if got := buf.String(); got != "verify: 20 B\n" {
		t.Errorf("output to a file %q, want one line", got)
	}
}

// TestCtlExitCodes: a damaged archive, wrong flags and keys give the
// documented exit status, and verify prints one line per problem with
// what it costs.
func TestCtlExitCodes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Three sessions, each closed (which ships its events as one
	// object): LSN 1-4, 5-7, 8-10.
	i := 0
	for _, events := range []int{4, 3, 3} {
		n, err := continuity.Open(ctx, continuity.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &kv{})
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < events; k++ {
			if _, _, err := n.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i%4, i)); err != nil {
				t.Fatal(err)
			}
			i++
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	archiveDir := filepath.Join(dir, "archive")
	url := (&url.URL{Scheme: "file", Path: filepath.ToSlash(archiveDir)}).String()
	key := filepath.Join(dir, "archive.key")
	ctl := func(args ...string) (string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(ctx, args, &out, &errOut)
		code, msg := 0, ""
		if err != nil {
			code, msg = exitCode(err), "ctl: "+err.Error()
		}
		return out.String() + errOut.String() + msg, code
	}
	if out, code := ctl("-archive", url, "-key-file", key, "verify"); code != 0 {
		t.Fatalf("verify of a whole archive: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"-archive", url, "-key-file", key, "frobnicate"}, exitUsage},
		{[]string{"-archive", url, "-key-file", key, "-no-such-flag", "window"}, exitUsage},
		{[]string{"-archive", url, "window"}, exitUsage},
		{[]string{"-archive", url, "-key-file", key, "verify", "-level", "deep"}, exitUsage},
		{[]string{"-archive", url, "-key-file", filepath.Join(dir, "no-such-key"), "window"}, exitFailed},
	} {
		if out, code := ctl(c.args...); code != c.want {
			t.Errorf("ctl %v: exit %d, want %d\n%s", c.args, code, c.want, out)
		}
	}
	// Delete the newest WAL object: verify names it by the head that
	// vouches for it, says what it costs, and exits 3; restoring the
	// latest state exits 4; an earlier LSN still restores.
	walDir := filepath.Join(archiveDir, "wal", "0000000000000000")
	names, err := os.ReadDir(walDir)
	if err != nil {
		t.Fatal(err)
	}
	var newest string
	for _, e := range names {
		if e.Name() != "timeline" {
			newest = e.Name() // names sort by LSN
		}
	}
	if err := os.Remove(filepath.Join(walDir, newest)); err != nil {
		t.Fatal(err)
	}
	out, code := ctl("-archive", url, "-key-file", key, "verify")
	if code != exitProblems || !strings.Contains(out, "PROBLEM wal/head/") || !strings.Contains(out, "costs: targets after LSN 7 cannot be restored") {
		t.Fatalf("verify after deleting the newest object: exit %d\n%s", code, out)
	}
	if out, code := ctl("-archive", url, "-key-file", key, "restore", "-out", filepath.Join(t.TempDir(), "s")); code != exitNotInRange {
		t.Fatalf("restore of the latest state with its records missing: exit %d\n%s", code, out)
	}
	if out, code := ctl("-archive", url, "-key-file", key, "restore", "-lsn", "7", "-out", filepath.Join(t.TempDir(), "s")); code != 0 {
		t.Fatalf("restore to LSN 7: exit %d\n%s", code, out)
	}
	if out, code := ctl("-archive", url, "-key-file", key, "restore", "-lsn", "500", "-out", filepath.Join(t.TempDir(), "s")); code != exitNotInRange || !strings.Contains(out, "outside the restorable window") {
		t.Fatalf("restore past the window: exit %d\n%s", code, out)
	}
}

// TestCtlIntegrityCases: for each damage an operator may meet (a deleted
// first, middle or last WAL object, a planted wide name, a planted head,
// a damaged manifest no restore needs), ctl verify exits 3 naming the
// object, and restores exit 0 where the records are there and 4 where
// they are not.
func TestCtlIntegrityCases(t *testing.T) {
	ctx := context.Background()
	// An archive a Node wrote in three sessions: LSN 1-4, 5-8 (then a
	// base snapshot at LSN 8), 9-12.
	build := func(t *testing.T) (dir string, objs []string, snap string) {
		dir = t.TempDir()
		i := 0
		for s := 0; s < 3; s++ {
			n, err := continuity.Open(ctx, continuity.Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &kv{})
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 4; k++ {
				if _, _, err := n.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i%4, i)); err != nil {
					t.Fatal(err)
				}
				i++
			}
			if s == 1 {
				if err := n.WaitFor(ctx, 8); err != nil {
					t.Fatal(err)
				}
				m, err := n.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				snap = "snapshots/" + m.ID.String()
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
		}
		entries, err := os.ReadDir(filepath.Join(dir, "archive", "wal", "0000000000000000"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "timeline" {
				objs = append(objs, "wal/0000000000000000/"+e.Name())
			}
		}
		if len(objs) != 3 {
			t.Fatalf("want 3 WAL objects, have %v", objs)
		}
		return dir, objs, snap
	}
	path := func(dir, object string) string { return filepath.Join(dir, "archive", filepath.FromSlash(object)) }
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
	for _, c := range []struct {
		name    string
		damage  func(t *testing.T, dir string, objs []string, snap string) (object string)
		restore map[string]int // restore flags → exit status
	}{
		{"first object deleted", func(t *testing.T, dir string, objs []string, _ string) string {
			os.Remove(path(dir, objs[0]))
			return objs[1]
		}, map[string]int{"-lsn 2": exitNotInRange, "-lsn 10": 0, "": 0}},
		{"middle object deleted", func(t *testing.T, dir string, objs []string, _ string) string {
			os.Remove(path(dir, objs[1]))
			return objs[2]
		}, map[string]int{"-lsn 2": 0, "-lsn 6": exitNotInRange, "-lsn 10": 0, "": 0}},
		{"last object deleted", func(t *testing.T, dir string, objs []string, _ string) string {
			os.Remove(path(dir, objs[2]))
			return "wal/head/"
		}, map[string]int{"-lsn 8": 0, "": exitNotInRange}},
		{"planted wide name", func(t *testing.T, dir string, objs []string, _ string) string {
			name := strings.Replace(objs[0], "0000000000000004-", "000000000000000c-", 1)
			os.WriteFile(path(dir, name), []byte("planted"), 0o644)
			return name
		}, map[string]int{"-lsn 2": 0, "": 0}},
		{"planted head", func(t *testing.T, dir string, _ []string, _ string) string {
			os.WriteFile(path(dir, "wal/head/00000000000000ff"), []byte("planted"), 0o644)
			return "wal/head/00000000000000ff"
		}, map[string]int{"": 0}},
		{"damaged manifest no restore needs", func(t *testing.T, dir string, _ []string, snap string) string {
			flip(t, path(dir, snap))
			return snap
		}, map[string]int{"-lsn 10": 0, "": 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, objs, snap := build(t)
			object := c.damage(t, dir, objs, snap)
			base := []string{"-archive", (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "archive"))}).String(), "-key-file", filepath.Join(dir, "archive.key")}
			var out, errOut bytes.Buffer
			err := run(ctx, append(base, "verify"), &out, &errOut)
			if err == nil || exitCode(err) != exitProblems || !strings.Contains(out.String(), "PROBLEM "+object) || !strings.Contains(out.String(), "costs: ") {
				t.Fatalf("verify: %v (exit %d), want exit 3 and a PROBLEM line naming %s with its cost\n%s", err, exitCode(err), object, out.String())
			}
			for flags, want := range c.restore {
				args := append(append([]string{}, base...), "restore", "-out", filepath.Join(t.TempDir(), "s"))
				if flags != "" {
					args = append(args, strings.Fields(flags)...)
				}
				out.Reset()
				err := run(ctx, args, &out, &errOut)
				got := 0
				if err != nil {
					got = exitCode(err)
				}
				if got != want {
					t.Errorf("restore %q: exit %d (%v), want %d\n%s", flags, got, err, want, out.String())
				}
			}
		})
	}
}
