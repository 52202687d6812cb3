package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestProgress: on a terminal long operations draw a bar; piped, each
// operation prints one line when it ends and nothing in between; --quiet
// prints nothing.
func TestProgress(t *testing.T) {
	f := newFixture(t, []int{30, 10}, 0)
	var c ctlCmd
	piped := c.run(t, f.args("verify", "--read-data")...)
	if piped.code != 0 || strings.Contains(piped.err, "\r") || !strings.Contains(piped.err, "verify WAL: ") || strings.Count(piped.err, "verify WAL: ") != 1 {
		t.Fatalf("verify piped: want one line per operation, no bars: %s", piped)
	}
	restore := c.run(t, f.args("restore", "--lsn", "35", "--out", t.TempDir()+"/s")...)
	if restore.code != 0 || strings.Count(restore.err, "\n") != 2 || !strings.Contains(restore.err, "base snapshot") {
		t.Fatalf("restore piped: want a line for the base snapshot and one for its bytes: %s", restore)
	}
	if quiet := c.run(t, f.args("verify", "--read-data", "--quiet")...); quiet.code != 0 || quiet.err != "" {
		t.Fatalf("verify --quiet: %s", quiet)
	}

	// On a pseudo-terminal: stderr is the terminal, stdout a pipe.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBin, f.args("verify", "--read-data")...)
	cmd.Env = []string{"TERM=xterm", "TZ=UTC"}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&screen, ptmx); close(done) }() // ends when ctl exits (EIO)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("verify on a terminal: %v\n%s", err, screen.String())
	}
	<-done
	s := screen.String()
	if !strings.Contains(s, "\r") || !strings.Contains(s, "100%") || !strings.Contains(s, "verify WAL") {
		t.Fatalf("verify on a terminal drew no bar:\n%q", s)
	}
	if !strings.Contains(stdout.String(), "no problems") {
		t.Fatalf("verify's result: %s", stdout.String())
	}
}
