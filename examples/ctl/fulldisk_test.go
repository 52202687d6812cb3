package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreOntoFullDisk: a restore that runs out of space fails with
// the cause, exits 1 and leaves nothing in the directory, not even the
// file it would have replaced changed. It needs root to mount a small
// tmpfs.
func TestRestoreOntoFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	f := newFixture(t, []int{2000}, -1) // about 100 KiB of events
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	keep := filepath.Join(dir, "state")
	os.WriteFile(keep, []byte("precious"), 0o600)
	var c ctlCmd
	r := c.run(t, f.args("restore", "--out", keep, "--force")...)
	if r.code != exitFailed || !strings.Contains(r.err, "no space left on device") || !strings.Contains(r.err, "nothing was kept") {
		t.Fatalf("restore onto a full disk: %s", r)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	if b, _ := os.ReadFile(keep); string(b) != "precious" {
		t.Fatalf("the file it would have replaced is now %q", b)
	}
}
