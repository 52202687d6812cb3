package failover

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/continuity-go/continuity/wal"
)

func seedCommands() [][]byte {
	return [][]byte{
		encodeCommand(command{Op: opJoin, Member: Member{ID: "n1", RaftAddr: "127.0.0.1:1", ReplAddr: "127.0.0.1:2", Voter: true}}),
		encodeCommand(command{Op: opRenew, Node: "n1", Epoch: 3, Acked: 10, Flushed: 12, Applied: 11, Archived: 9}),
		encodeCommand(command{Op: opReport, Node: "n2", Epoch: 3, Flushed: 9, Healthy: true}),
		encodeCommand(command{Op: opPromote, Node: "n2", FromEpoch: 3, Fork: 9, Reason: "lease expired"}),
		encodeCommand(command{Op: opResign, Node: "n1", Epoch: 3}),
		[]byte(`{"v":1,"op":"nope","node":"x"}`),
		encodeCommand(command{Op: opPause, Node: "n2", TTL: 30 * time.Minute, Until: 1767225600000, Reason: "kernel upgrade"}),
		encodeCommand(command{Op: opResume, Node: "n1", Until: 1767225600000}),
		encodeCommand(command{Op: opPromote, Node: "n3", FromEpoch: 4, Fork: 20, Reason: "switchover from n2", Force: true}),
	}
}

// FuzzCommand decodes arbitrary Raft log entries: never a panic, only
// errBadCommand, and what decodes applies to a State without panicking
// and re-encodes to a command that decodes the same, leaving a State
// that encodes.
func FuzzCommand(f *testing.F) {
	for _, s := range seedCommands() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			if !errors.Is(err, errBadCommand) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		c2, err := decodeCommand(encodeCommand(c))
		if err != nil || c2 != c {
			t.Fatalf("round trip: %+v vs %+v, %v", c, c2, err)
		}
		var s State
		_ = s.apply(c, 1)
		if _, err := encodeState(s); err != nil { // a Raft snapshot must always encode
			t.Fatalf("state after %+v: %v", c, err)
		}
	})
}

// TestStateProperties: under any sequence of commands the epoch never
// decreases, every promotion raises it by one and is recorded in the
// timeline, a primary exists only in an epoch the timeline names, and a
// renewal or promotion for another epoch is refused.
func TestStateProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var s State
		nodes := []string{"a", "b", "c"}
		for i := 1; i <= rapid.IntRange(1, 60).Draw(rt, "n"); i++ {
			node := rapid.SampledFrom(nodes).Draw(rt, "node")
			epoch := uint64(rapid.IntRange(0, 6).Draw(rt, "epoch"))
			var c command
			switch rapid.IntRange(0, 7).Draw(rt, "op") {
			case 0:
				c = command{Op: opJoin, Member: Member{ID: node}}
			case 1:
				c = command{Op: opLeave, Node: node}
			case 2:
				c = command{Op: opRenew, Node: node, Epoch: epoch, Acked: wal.LSN(rapid.IntRange(0, 100).Draw(rt, "acked")),
					Archived: wal.LSN(rapid.IntRange(0, 100).Draw(rt, "archived"))}
			case 3:
				c = command{Op: opReport, Node: node, Flushed: wal.LSN(rapid.IntRange(0, 100).Draw(rt, "flushed")), Healthy: true}
			case 4:
				ri := s.RenewIndex
				if rapid.IntRange(0, 4).Draw(rt, "staleRenew") == 0 {
					ri = uint64(rapid.IntRange(0, 60).Draw(rt, "renewIndex"))
				}
				c = command{Op: opPromote, Node: node, FromEpoch: epoch, RenewIndex: ri, Fork: wal.LSN(rapid.IntRange(0, 100).Draw(rt, "fork")),
					Force: rapid.Bool().Draw(rt, "force")}
			case 5:
				c = command{Op: opResign, Node: node, Epoch: epoch}
			case 6:
				c = command{Op: opPause, Node: node, Until: int64(rapid.IntRange(0, 3).Draw(rt, "until")) * 1000, Reason: "maintenance"}
			case 7:
				c = command{Op: opResume, Node: node, Until: int64(rapid.IntRange(0, 3).Draw(rt, "until")) * 1000}
			}
			before := s.clone()
			err := s.apply(c, uint64(i))
			if s.Epoch < before.Epoch {
				rt.Fatalf("epoch went down: %+v → %+v", before, s)
			}
			if promoted := c.Op == opPromote && err == nil; promoted && s.Acked != min(before.Acked, c.Fork) || !promoted && s.Acked < before.Acked {
				rt.Fatalf("acked %d → %d after %s", before.Acked, s.Acked, c.Op)
			}
			// The archive's recorded reach only grows, except that a
			// promotion cuts it at the fork (the deposed primary's tail
			// is off the new history).
			if promoted := c.Op == opPromote && err == nil; promoted && s.Archived != min(before.Archived, c.Fork) ||
				c.Op == opRenew && err == nil && s.Archived != max(before.Archived, c.Archived) ||
				!promoted && s.Archived < before.Archived {
				rt.Fatalf("archived %d → %d after %+v", before.Archived, s.Archived, c)
			}
			if c.Op == opPromote && err == nil {
				if s.Epoch != before.Epoch+1 || s.Primary != c.Node || len(s.Timeline) != len(before.Timeline)+1 {
					rt.Fatalf("promotion did not bump the epoch once: %+v", s)
				}
			}
			if (c.Op == opRenew || c.Op == opPromote) && err == nil && c.Epoch != before.Epoch && c.FromEpoch != before.Epoch {
				rt.Fatalf("%s for epoch %d/%d accepted at epoch %d", c.Op, c.Epoch, c.FromEpoch, before.Epoch)
			}
			if c.Op == opPromote && err == nil && before.Primary != "" && c.RenewIndex != before.RenewIndex {
				rt.Fatalf("a promotion decided at renewal %d accepted after renewal %d", c.RenewIndex, before.RenewIndex)
			}
			if c.Op == opPromote && err == nil && before.Paused && !c.Force {
				rt.Fatalf("an automatic promotion accepted while paused: %+v", c)
			}
			if c.Op == opPause && err == nil && (!s.Paused || s.PausedBy != c.Node || s.PausedUntil.UnixMilli() != c.Until && c.Until != 0) {
				rt.Fatalf("pause %+v gave %+v", c, s)
			}
			if c.Op == opResume && (c.Until == 0 || before.Paused && before.PausedUntil.UnixMilli() == c.Until) && s.Paused {
				rt.Fatalf("resume %+v left the pause of %+v", c, before)
			}
			if c.Op == opResume && c.Until != 0 && before.Paused && before.PausedUntil.UnixMilli() != c.Until && !s.Paused {
				rt.Fatalf("the expiry of another pause (%+v) lifted %+v", c, before)
			}
			if c.Op == opRenew && err == nil && c.Node != before.Primary {
				rt.Fatalf("renewal from %s accepted, primary %q", c.Node, before.Primary)
			}
			if s.Primary != "" {
				if _, ok := s.Fork(s.Epoch); !ok {
					rt.Fatalf("primary %s in epoch %d that the timeline does not name", s.Primary, s.Epoch)
				}
			}
			b, err := encodeState(s)
			if err != nil {
				rt.Fatal(err)
			}
			back, err := decodeState(b)
			if err != nil || back.Epoch != s.Epoch || back.Primary != s.Primary || len(back.Timeline) != len(s.Timeline) || back.Index != s.Index || back.Archived != s.Archived ||
				back.Paused != s.Paused || back.PauseReason != s.PauseReason || back.PausedBy != s.PausedBy || !back.PausedUntil.Equal(s.PausedUntil) {
				rt.Fatalf("state snapshot round trip: %v", err)
			}
		}
	})
}

// TestWriteFuzzCorpus writes the seeds into testdata/fuzz (run with
// CONTINUITY_WRITE_CORPUS=1 after changing them).
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CONTINUITY_WRITE_CORPUS") != "1" {
		t.Skip("set CONTINUITY_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzCommand")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seedCommands() {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
