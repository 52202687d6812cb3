package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/snapshot"
)

// meter shows the progress of long operations on w: a progress bar when w
// is a terminal; otherwise (a log, a script) one line as each operation
// ends, so that captured output holds no redrawn bars. quiet shows
// nothing.
type meter struct {
	w     io.Writer
	tty   bool
	quiet bool
	bar   *progressbar.ProgressBar
	op    string // the operation the bar shows
	based bool   // restore: the base snapshot's line is printed
}

func newMeter(w io.Writer, quiet bool) *meter {
	f, ok := w.(*os.File)
	return &meter{w: w, tty: ok && term.IsTerminal(int(f.Fd())), quiet: quiet}
}

// newBar starts a bar of total units (-1: unknown, a spinner) for op.
func (m *meter) newBar(op string, total int64, bytes bool) {
	m.finish()
	m.op = op
	m.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(m.w),
		progressbar.OptionSetDescription(op),
		progressbar.OptionShowBytes(bytes),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(m.w) }),
	)
}

// snapshot reports a snapshot.Repo operation: save, restore, verify,
// prune.
func (m *meter) snapshot(p snapshot.Progress) {
	if m.quiet {
		return
	}
	if !m.tty {
		if p.Done {
			fmt.Fprintf(m.w, "%s: %s\n", p.Op, size(p.Bytes))
		}
		return
	}
	if m.bar == nil || m.op != p.Op {
		m.newBar(p.Op, p.Total, true)
	}
	m.bar.Set64(p.Bytes)
	if p.Done {
		m.finish()
	}
}

// restore reports a point-in-time restore: the base snapshot, then the
// archive objects replayed.
func (m *meter) restore(p archive.RestoreProgress) {
	if m.quiet {
		return
	}
	if !m.tty {
		if p.BaseRestored && !m.based && !p.Snapshot.IsZero() {
			m.based = true
			fmt.Fprintf(m.w, "restore: base snapshot %s restored; replaying the archive\n", p.Snapshot.Short())
		}
		return // the command prints what it reached
	}
	if m.bar == nil || m.op != "restore" {
		m.newBar("restore", int64(p.Of), false)
	}
	m.bar.Describe(fmt.Sprintf("restore: LSN %d of %d, %d events", p.LSN, p.TargetLSN, p.Records))
	m.bar.Set(p.Objects)
}

// verify reports the WAL archive's verify: objects read of how many.
func (m *meter) verify(read, of int) {
	if m.quiet {
		return
	}
	if !m.tty {
		if read == of {
			fmt.Fprintf(m.w, "verify WAL: %d of %d objects read\n", read, of)
		}
		return
	}
	if m.bar == nil || m.op != "verify WAL" {
		m.newBar("verify WAL", int64(of), false)
	}
	m.bar.Set(read)
}

// finish ends the bar on screen, if one is shown.
func (m *meter) finish() {
	if m.bar != nil {
		m.bar.Finish()
		m.bar = nil
	}
}
