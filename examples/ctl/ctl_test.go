package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCtl runs the read commands and a point-in-time restore against an
// archive a Node wrote.
func TestCtl(t *testing.T) {
	f := newFixture(t, []int{20, 10}, 0) // snapshot at LSN 20, then LSN 21-30
	var c ctlCmd
	if out := c.must(t, f.args("window")...); !strings.Contains(out, "(LSN 30)") {
		t.Fatalf("window: %s", out)
	}
	if out := c.must(t, f.args("snapshots")...); !strings.Contains(out, "base") || !strings.Contains(out, "1 snapshots") {
		t.Fatalf("snapshots: %s", out)
	}
	if out := c.must(t, f.args("verify", "--read-data")...); !strings.Contains(out, "no problems") {
		t.Fatalf("verify: %s", out)
	}
	var w windowJSON
	if err := json.Unmarshal([]byte(c.must(t, f.args("window", "--json")...)), &w); err != nil || w.LatestLSN != 30 {
		t.Fatalf("window --json: %+v %v", w, err)
	}
	// As of mid: the snapshot at LSN 20, no event after it; mid given
	// in each form ctl reads.
	out := t.TempDir()
	for i, at := range []string{f.mid.UTC().Format(time.RFC3339Nano), f.mid.UTC().Format("2006-01-02 15:04:05.000000000")} {
		state := filepath.Join(out, "state"+string(rune('a'+i)))
		r := c.must(t, f.args("restore", "--time", at, "--out", state)...)
		var s kv
		b, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &s.m); err != nil || s.m["k3"] != "v19" {
			t.Fatalf("restored state %v %v (%s)", s.m, err, r)
		}
		if i == 1 && !strings.Contains(r, "local time") {
			t.Fatalf("a time without a zone: the output does not say it was read as local time: %s", r)
		}
	}
	// As of LSN 25: the same snapshot and five events, flags before the
	// command.
	state := filepath.Join(out, "state")
	c.must(t, append([]string{"--archive", f.url, "restore", "--key-file", f.key}, "--lsn", "25", "--out", state, "--force")...)
	ef, err := os.Open(state + ".events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	lines := 0
	for sc := bufio.NewScanner(ef); sc.Scan(); lines++ {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e["lsn"] != float64(21+lines) {
			t.Fatalf("event line %d: %s (%v)", lines, sc.Text(), err)
		}
	}
	if lines != 5 {
		t.Fatalf("%d events after the snapshot, want 5", lines)
	}
	// A relative time before the window: outside it, and nothing written.
	c.expect(t, exitNotFound, "outside the restorable window", f.args("restore", "--time", "2h ago", "--out", filepath.Join(out, "old"))...)
	if _, err := os.Stat(filepath.Join(out, "old")); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left its file: %v", err)
	}
	// One snapshot alone, to stdout.
	id := strings.TrimPrefix(f.snap, "snapshots/")
	r := c.run(t, f.args("restore", "--snapshot", id[:8], "--out", "-")...)
	if r.code != 0 || !strings.Contains(r.out, `"k3":"v19"`) || !strings.Contains(r.err, "restored base snapshot") {
		t.Fatalf("restore --snapshot --out -: %s", r)
	}
	c.expect(t, exitNotFound, "no such snapshot", f.args("restore", "--snapshot", "ffffffff", "--out", "-")...)
	if out := c.must(t, f.args("drill")...); !strings.Contains(out, "drill passed") {
		t.Fatalf("drill: %s", out)
	}
	if out := c.must(t, f.args("drill", "--lsn", "25")...); !strings.Contains(out, "5 events up to LSN 25") {
		t.Fatalf("drill --lsn 25: %s", out)
	}
	if out := c.must(t, f.args("stats")...); !strings.Contains(out, "1 snapshots") || !strings.Contains(out, "wal/") {
		t.Fatalf("stats: %s", out)
	}
}

// TestForgetAndPrune: forget needs a policy, explains each decision and
// only says with --dry-run; prune frees what forget left.
func TestForgetAndPrune(t *testing.T) {
	f := newFixture(t, []int{5, 5, 5}, 0)
	var c ctlCmd
	c.expect(t, exitUsage, "--keep-window is required", f.args("forget", "--dry-run")...)
	c.expect(t, exitUsage, "want a duration", f.args("forget", "--keep-window", "soon")...)
	out := c.must(t, f.args("forget", "--keep-window", "35d", "--keep-daily", "7", "--dry-run")...)
	for _, want := range []string{"ACTION", "keep", "point-in-time window", "would remove 0"} {
		if !strings.Contains(out, want) {
			t.Fatalf("forget --dry-run lacks %q:\n%s", want, out)
		}
	}
	// A window of 1ns: the snapshot is beyond it, kept as the window's
	// base; the WAL before it goes.
	out = c.must(t, f.args("forget", "--keep-window", "1ns", "--keep-last", "1")...)
	if !strings.Contains(out, "base of the point-in-time window") || !regexp.MustCompile(`removed [1-9]\d* WAL objects`).MatchString(out) {
		t.Fatalf("forget: %s", out)
	}
	if out := c.must(t, f.args("prune", "--dry-run")...); !strings.Contains(out, "would free") {
		t.Fatalf("prune --dry-run: %s", out)
	}
	c.expect(t, exitUsage, "at least 64 (KiB/s)", f.args("--limit-upload", "10", "prune")...)
	c.expect(t, exitUsage, "at least 64 (KiB/s)", f.args("--limit-download", "-1", "verify")...)
	if out := c.must(t, f.args("--limit-upload", "64", "--limit-download", "1024", "prune")...); !strings.Contains(out, "freed") {
		t.Fatalf("prune: %s", out)
	}
	if out := c.must(t, f.args("--limit-download", "1024", "verify", "--read-data")...); !strings.Contains(out, "no problems") {
		t.Fatalf("verify after forget and prune: %s", out)
	}
}

// TestNewArchive: a new archive (ctl init, nothing written yet) shows its
// stats; window says there is nothing to restore and exits 4.
func TestNewArchive(t *testing.T) {
	dir := t.TempDir()
	var c ctlCmd
	args := func(a ...string) []string {
		return append([]string{"--archive", "file://" + filepath.Join(dir, "a"), "--key-file", filepath.Join(dir, "k")}, a...)
	}
	c.must(t, args("init")...)
	if out := c.must(t, args("stats")...); !strings.Contains(out, "0 snapshots") || !strings.Contains(out, "nothing restorable") {
		t.Fatalf("stats of a new archive: %s", out)
	}
	c.expect(t, exitNotFound, "nothing to restore", args("window")...)
}
