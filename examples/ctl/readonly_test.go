package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadOnlyArchive: with an archive the user may only read (a
// read-only directory: as root, ctl runs as nobody over a copy owned by
// root), every read command works, a dry run too, and a write fails
// saying why, leaving the archive as it was.
func TestReadOnlyArchive(t *testing.T) {
	f := newFixture(t, []int{8, 4}, 0)
	var c ctlCmd
	if os.Geteuid() == 0 {
		// Run ctl as nobody: everything it must reach is readable by
		// all, nothing of the archive writable by it.
		c.cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		for p := f.dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
			os.Chmod(p, 0o755)
		}
		filepath.WalkDir(f.archiveDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return os.Chmod(p, 0o755)
			}
			return os.Chmod(p, 0o644)
		})
		os.Chmod(f.key, 0o644)
	} else {
		filepath.WalkDir(f.archiveDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o555)
			}
			return err
		})
		t.Cleanup(func() {
			filepath.WalkDir(f.archiveDir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					os.Chmod(p, 0o755)
				}
				return nil
			})
		})
	}
	before := tree(t, f.archiveDir)
	out := t.TempDir()
	os.Chmod(out, 0o777)
	for _, args := range [][]string{
		{"window"}, {"snapshots"}, {"stats"}, {"keys", "list"},
		{"verify", "--read-data"}, {"drill"},
		{"restore", "--lsn", "10", "--out", filepath.Join(out, "state")},
		{"forget", "--keep-window", "1ns", "--keep-last", "1", "--dry-run"},
		{"prune", "--dry-run"},
		{"repair", "snapshots", "--dry-run"},
	} {
		if r := c.run(t, f.args(args...)...); r.code != 0 {
			t.Errorf("ctl %v on a read-only archive: %s", args, r)
		}
	}
	if r := c.run(t, f.args("prune")...); r.code == 0 || !strings.Contains(r.err, "may not write to the archive") {
		t.Errorf("prune on a read-only archive: %s", r)
	}
	if after := tree(t, f.archiveDir); after != before {
		t.Fatalf("the read-only archive changed:\n%s\nbecame\n%s", before, after)
	}
}

// tree lists a directory's files with their sizes.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel)
		if !d.IsDir() {
			fmt.Fprintf(&b, " %v %d", fi.Mode(), fi.Size())
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
