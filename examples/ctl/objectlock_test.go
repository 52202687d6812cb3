package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
)

// TestObjectLockS3: ctl on an archive a Node wrote under Object Lock
// (versitygw, a bucket with Object Lock): verify --locks reports every
// object in use locked; forget keeps the WAL objects the lock retains,
// lists them and exits 0; nothing locked is gone afterwards.
func TestObjectLockS3(t *testing.T) {
	ctx := context.Background()
	archive := testkit.LockedS3URL(t)
	dir := t.TempDir()
	cfg := continuity.Config{Dir: dir, Archive: archive, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ObjectLock: &continuity.ObjectLockConfig{Mode: snapshot.Governance, Window: time.Hour, Keep: 2 * time.Hour}}
	// Two runs: the first ends with a base snapshot at LSN 3, so the
	// WAL objects up to it are what retention would delete.
	i := 0
	for run := range 2 {
		n, err := continuity.Open(ctx, cfg, &kv{})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, _, err := n.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i%3, i)); err != nil {
				t.Fatal(err)
			}
			i++
		}
		if run == 0 {
			if err := n.WaitFor(ctx, 3); err != nil {
				t.Fatal(err)
			}
			if _, err := n.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}

	c := ctlCmd{env: []string{"AWS_ACCESS_KEY_ID=" + os.Getenv("AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY=" + os.Getenv("AWS_SECRET_ACCESS_KEY"), "AWS_EC2_METADATA_DISABLED=true"}}
	args := func(a ...string) []string {
		return append([]string{"--archive", archive, "--key-file", filepath.Join(dir, "archive.key")}, a...)
	}
	var v struct {
		Locks struct {
			Checked   bool
			Snapshots struct{ Checked, Locked int }
			WAL       struct{ Checked, Locked int }
		}
	}
	if err := json.Unmarshal([]byte(c.must(t, args("verify", "--locks", "--json")...)), &v); err != nil {
		t.Fatal(err)
	}
	l := v.Locks
	if !l.Checked || l.Snapshots.Checked == 0 || l.Snapshots.Locked != l.Snapshots.Checked || l.WAL.Checked == 0 || l.WAL.Locked != l.WAL.Checked {
		t.Fatalf("verify --locks: %+v, want every object checked and locked", l)
	}
	var f struct{ Retained, DeletedWALObjects []string }
	out := c.must(t, args("forget", "--keep-window", "1ns", "--keep-last", "1", "--json")...)
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Retained) == 0 {
		t.Fatalf("forget under Object Lock: nothing retained:\n%s", out)
	}
	if text := c.must(t, args("forget", "--keep-window", "1ns", "--keep-last", "1")...); !strings.Contains(text, "Object Lock retains") {
		t.Fatalf("forget does not say what the lock keeps:\n%s", text)
	}
	c.must(t, args("verify")...)
}

// TestCopyLockS3: ctl copy --lock writes a copy of a file archive into an
// S3 bucket with Object Lock: verify --locks on the copy finds every
// object in use locked. Wrong lock flags exit 2; --lock into a bucket
// without Object Lock fails and says why.
func TestCopyLockS3(t *testing.T) {
	to := testkit.LockedS3URL(t)
	f := newFixture(t, []int{5, 5}, 0) // a base snapshot after the first session
	c := ctlCmd{env: []string{"AWS_ACCESS_KEY_ID=" + os.Getenv("AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY=" + os.Getenv("AWS_SECRET_ACCESS_KEY"), "AWS_EC2_METADATA_DISABLED=true"}}
	c.expect(t, exitUsage, `--lock "forever": want governance or compliance`, f.args("copy", "--to", to, "--lock", "forever", "--lock-keep", "2h", "--lock-window", "1h")...)
	c.expect(t, exitUsage, "want 0 < window <= keep", f.args("copy", "--to", to, "--lock", "governance")...)
	r := c.run(t, f.args("copy", "--to", "file://"+t.TempDir(), "--lock", "governance", "--lock-keep", "2h", "--lock-window", "1h")...)
	if r.code == 0 || !strings.Contains(r.err, "needs an S3 bucket") {
		t.Fatalf("copy --lock into a directory: %s", r)
	}

	c.must(t, f.args("copy", "--to", to, "--lock", "governance", "--lock-keep", "2h", "--lock-window", "1h")...)
	var v struct {
		Locks struct {
			Checked   bool
			Snapshots struct{ Checked, Locked int }
			WAL       struct{ Checked, Locked int }
		}
	}
	out := c.must(t, "--archive", to, "--key-file", f.key, "verify", "--locks", "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	l := v.Locks
	if !l.Checked || l.Snapshots.Checked == 0 || l.Snapshots.Locked != l.Snapshots.Checked || l.WAL.Checked == 0 || l.WAL.Locked != l.WAL.Checked {
		t.Fatalf("verify --locks on the locked copy: %+v, want every object checked and locked", l)
	}
}
