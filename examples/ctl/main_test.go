package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/continuity-go/continuity"
)

// ctlBin is the ctl binary the tests run, built once by TestMain: the
// tests use ctl as an operator does, through its exit status and output.
var ctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ctl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// World-readable, so that the read-only test can run it as another
	// user.
	os.Chmod(dir, 0o755)
	ctlBin = filepath.Join(dir, "ctl")
	build := exec.Command("go", "build", "-o", ctlBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building ctl:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one ctl run printed and its exit status.
type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
}

// ctlCmd runs ctl with args and the environment env (nothing of the
// test's own environment but PATH and HOME, so that no CONTINUITY_
// variable leaks in).
type ctlCmd struct {
	env  []string
	dir  string              // working directory; "" for the test's
	cred *syscall.Credential // run as this user (nil: the test's)
}

func (c ctlCmd) run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TZ=UTC"}, c.env...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ctl %v: %v", args, err)
	}
	return result{out.String(), errOut.String(), code}
}

// must runs ctl and fails the test unless it exits 0.
func (c ctlCmd) must(t *testing.T, args ...string) string {
	t.Helper()
	r := c.run(t, args...)
	if r.code != 0 {
		t.Fatalf("ctl %v: %s", args, r)
	}
	return r.out
}

// expect runs ctl and fails the test unless it exits code with want in
// its output.
func (c ctlCmd) expect(t *testing.T, code int, want string, args ...string) result {
	t.Helper()
	r := c.run(t, args...)
	if r.code != code || !strings.Contains(r.out+r.err, want) {
		t.Fatalf("ctl %v: want exit %d and %q in the output; got %s", args, code, want, r)
	}
	return r
}

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

// fixture is an archive a Node wrote: sessions of events, each closed
// (which ships its events as one object), and a base snapshot after the
// session snapAfter (-1: none).
type fixture struct {
	dir, archiveDir, url, key string
	snap                      string    // the base snapshot's object name
	mid                       time.Time // after the snapshot, before the next session's events
}

func newFixture(t *testing.T, sessions []int, snapAfter int) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir()}
	f.archiveDir = filepath.Join(f.dir, "archive")
	f.url = (&url.URL{Scheme: "file", Path: filepath.ToSlash(f.archiveDir)}).String()
	f.key = filepath.Join(f.dir, "archive.key")
	i := 0
	for s, events := range sessions {
		n, err := continuity.Open(ctx, continuity.Config{Dir: f.dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &kv{})
		if err != nil {
			t.Fatal(err)
		}
		// One Append per session: its records commit together, so the
		// archiver ships them as one object however slow the machine.
		batch := make([][]byte, events)
		for k := range batch {
			batch[k] = fmt.Appendf(nil, "k%d=v%d", i%4, i)
			i++
		}
		if events > 0 {
			if _, _, err := n.Append(ctx, batch...); err != nil {
				t.Fatal(err)
			}
		}
		if s == snapAfter {
			if err := n.WaitFor(ctx, continuity.LSN(i)); err != nil {
				t.Fatal(err)
			}
			m, err := n.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f.snap = "snapshots/" + m.ID.String()
			// mid falls strictly between the snapshot's time and the
			// next events' times. These sleeps only move the clock on;
			// they wait for nothing.
			time.Sleep(2 * time.Millisecond)
			f.mid = time.Now()
			time.Sleep(2 * time.Millisecond)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// args prefixes args with the fixture's archive and key flags.
func (f *fixture) args(args ...string) []string {
	return append([]string{"--archive", f.url, "--key-file", f.key}, args...)
}

// walObjects lists the fixture's WAL objects, oldest first.
func (f *fixture) walObjects(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(f.archiveDir, "wal", "0000000000000000"))
	if err != nil {
		t.Fatal(err)
	}
	var objs []string
	for _, e := range entries {
		if e.Name() != "timeline" {
			objs = append(objs, "wal/0000000000000000/"+e.Name())
		}
	}
	return objs
}

// path is the file of an archive object.
func (f *fixture) path(object string) string {
	return filepath.Join(f.archiveDir, filepath.FromSlash(object))
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
