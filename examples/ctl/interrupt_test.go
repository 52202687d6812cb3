package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestInterrupt: Ctrl-C (SIGINT) stops ctl where it waits, here on a
// --password-command, with exit status 130 and the command stopped too.
func TestInterrupt(t *testing.T) {
	f := newFixture(t, []int{3}, -1)
	marker := filepath.Join(t.TempDir(), "started")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBin, "--archive", f.url, "window")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CONTINUITY_PASSWORD_COMMAND=touch " + marker + "; exec sleep 600"}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, func() bool { _, err := os.Stat(marker); return err == nil }, "ctl to run its password command")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitInterrupted || !strings.Contains(errOut.String(), "interrupted") {
		t.Fatalf("ctl interrupted: %v, want exit %d\n%s", err, exitInterrupted, errOut.String())
	}
}
