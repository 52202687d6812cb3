package failover

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/continuity-go/continuity/internal/testkit"
)

// heldBackMsg is what the leader logs when the pause holds back a
// promotion that is due.
const heldBackMsg = "no promotion while the cluster is paused"

// newLoggedCluster is newTestCluster with every node's log in logs.
func newLoggedCluster(t *testing.T, n int, logs *testkit.SyncBuffer) *testCluster {
	return newTestCluster(t, n, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
}

// follower is a live node that is not the Raft leader (as of now).
func (tc *testCluster) follower() *testNode {
	tc.t.Helper()
	var f *testNode
	testkit.Eventually(tc.t, func() bool {
		leader := false
		f = nil
		for _, n := range tc.liveNodes() {
			if n.c.IsLeader() {
				leader = true
			} else if f == nil {
				f = n.testNode
			}
		}
		return leader && f != nil
	}, "a leader and a follower")
	return f
}

// pausedEverywhere waits until every live node's State says paused (or
// not) and returns the State of the last.
func (tc *testCluster) pausedEverywhere(paused bool) State {
	tc.t.Helper()
	var st State
	testkit.Eventually(tc.t, func() bool {
		for _, n := range tc.liveNodes() {
			if !n.c.IsSynced() {
				return false
			}
			if st = n.c.State(); st.Paused != paused {
				return false
			}
		}
		return true
	}, "every live node's state to say paused=%v", paused)
	return st
}

// heldBack waits until a leader logged one more held-back promotion than
// before (the count of heldBackMsg when the primary was killed).
func heldBack(t *testing.T, logs *testkit.SyncBuffer, before int) {
	t.Helper()
	testkit.Eventually(t, func() bool { return strings.Count(logs.String(), heldBackMsg) > before },
		"the leader to hold back the promotion the dead primary's lease calls for")
}

// TestPauseHoldsBackPromotion: a follower pauses the cluster (its command
// is forwarded to the leader); a switchover still hands the role over;
// when the primary then dies, its lease runs out and nobody is promoted;
// Resume lets the leader promote at once.
func TestPauseHoldsBackPromotion(t *testing.T) {
	var logs testkit.SyncBuffer
	tc := newLoggedCluster(t, 3, &logs)
	p, st := tc.primary("")
	for _, n := range tc.nodes {
		n.flushed.Store(100)
	}
	tc.reported()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	f := tc.follower()
	if err := f.c.Pause(ctx, 0, "kernel upgrade"); err != nil {
		t.Fatal(err)
	}
	ps := tc.pausedEverywhere(true)
	if ps.PausedBy != f.id || ps.PauseReason != "kernel upgrade" || !ps.PausedUntil.IsZero() {
		t.Fatalf("pause recorded as by %q for %q until %v; want by %s for \"kernel upgrade\", no end", ps.PausedBy, ps.PauseReason, ps.PausedUntil, f.id)
	}

	// An operator's switchover goes through the pause.
	var target *testNode
	for _, n := range tc.nodes {
		if n != p {
			target = n
			break
		}
	}
	if err := p.c.Switchover(ctx, target.id); err != nil {
		t.Fatalf("switchover while paused: %v", err)
	}
	np, st2 := tc.primary(p.id)
	if np != target || st2.Epoch != st.Epoch+1 || !st2.Paused {
		t.Fatalf("after the switchover: %s primary in epoch %d, paused %v; want %s in epoch %d, still paused", np.id, st2.Epoch, st2.Paused, target.id, st.Epoch+1)
	}

	// The primary dies: its lease runs out, and the leader holds back.
	held := strings.Count(logs.String(), heldBackMsg)
	tc.kill(np)
	heldBack(t, &logs, held)
	for _, n := range tc.liveNodes() {
		if s := n.c.State(); s.Primary != np.id || s.Epoch != st2.Epoch {
			t.Fatalf("%s sees %s primary in epoch %d while paused; want the dead %s in epoch %d", n.id, s.Primary, s.Epoch, np.id, st2.Epoch)
		}
	}

	if err := tc.liveNodes()[0].c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	_, st3 := tc.primary(np.id)
	if st3.Epoch != st2.Epoch+1 || st3.Paused || st3.PauseReason != "" || st3.PausedBy != "" {
		t.Fatalf("after Resume: epoch %d (want %d), pause %v %q %q", st3.Epoch, st2.Epoch+1, st3.Paused, st3.PauseReason, st3.PausedBy)
	}
	if !strings.Contains(logs.String(), "maintenance pause ended") {
		t.Fatal("Resume logged nothing")
	}
}

// TestPauseTTL: a pause with a TTL ends by itself on the leader's clock:
// the primary, killed at once, is replaced only after the pause's end.
func TestPauseTTL(t *testing.T) {
	var logs testkit.SyncBuffer
	tc := newLoggedCluster(t, 3, &logs)
	p, st := tc.primary("")
	for _, n := range tc.nodes {
		n.flushed.Store(100)
	}
	tc.reported()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const ttl = 3 * time.Second // well past a fail-over's ~1 s, so an early promotion shows
	before := time.Now()
	if err := p.c.Pause(ctx, ttl, "rack move"); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	ps := tc.pausedEverywhere(true)
	// The leader stamps the end from its clock (here, this process's)
	// while Pause runs, rounded up to the millisecond.
	if ps.PausedUntil.Before(before.Add(ttl)) || ps.PausedUntil.After(after.Add(ttl+time.Millisecond)) {
		t.Fatalf("the pause ends at %v, want between %v and %v", ps.PausedUntil, before.Add(ttl), after.Add(ttl))
	}
	tc.kill(p)
	np, st2 := tc.primary(p.id)
	if now := time.Now(); now.Before(ps.PausedUntil) {
		t.Fatalf("%s promoted by %v, before the pause ended at %v", np.id, now, ps.PausedUntil)
	}
	if st2.Epoch != st.Epoch+1 || st2.Paused {
		t.Fatalf("after the pause: epoch %d (want %d), paused %v", st2.Epoch, st.Epoch+1, st2.Paused)
	}
	if !strings.Contains(logs.String(), "maintenance pause expired") {
		t.Fatal("the leader did not log the pause's end")
	}
}

// TestPauseSurvivesRestart: every node stops and starts again on its
// directory (restoring a Raft snapshot taken while paused): the pause
// holds, and still holds back a promotion. A leader whose clock has
// passed a pause's end lifts it, although another leader applied it.
func TestPauseSurvivesRestart(t *testing.T) {
	var logs testkit.SyncBuffer
	tc := newLoggedCluster(t, 3, &logs)
	tc.primary("")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := tc.follower()
	if err := f.c.Pause(ctx, 0, "storage migration"); err != nil {
		t.Fatal(err)
	}
	tc.pausedEverywhere(true)
	for _, n := range tc.nodes { // the restart restores these snapshots
		if err := n.c.raft.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot of %s: %v", n.id, err)
		}
	}
	restartAll := func() {
		for _, n := range tc.nodes {
			tc.kill(n)
		}
		for _, n := range tc.nodes {
			tc.restart(n)
		}
	}
	restartAll()
	st := tc.pausedEverywhere(true)
	if st.PausedBy != f.id || st.PauseReason != "storage migration" {
		t.Fatalf("after the restart: paused by %q for %q", st.PausedBy, st.PauseReason)
	}
	p, st1 := tc.primary("")
	held := strings.Count(logs.String(), heldBackMsg)
	tc.kill(p)
	heldBack(t, &logs, held)
	for _, n := range tc.liveNodes() {
		if s := n.c.State(); s.Epoch != st1.Epoch || !s.Paused {
			t.Fatalf("%s: epoch %d, paused %v after the restart; want epoch %d, paused", n.id, s.Epoch, s.Paused, st1.Epoch)
		}
	}

	// A pause of an hour, and every node comes back two hours later by
	// its clock: whichever leads lifts it.
	if err := tc.liveNodes()[0].c.Pause(ctx, time.Hour, "long job"); err != nil {
		t.Fatal(err)
	}
	tc.testPausedFor(t, "long job")
	for _, id := range tc.ids {
		tc.clock[id] = func() time.Time { return time.Now().Add(2 * time.Hour) }
	}
	expired := strings.Count(logs.String(), "maintenance pause expired")
	restartAll()
	tc.pausedEverywhere(false)
	if strings.Count(logs.String(), "maintenance pause expired") <= expired {
		t.Fatal("the pause ended without the leader logging it")
	}
	tc.primary("")
}

// testPausedFor waits until every live node holds the pause for reason.
func (tc *testCluster) testPausedFor(t *testing.T, reason string) {
	t.Helper()
	testkit.Eventually(t, func() bool {
		for _, n := range tc.liveNodes() {
			if s := n.c.State(); !s.Paused || s.PauseReason != reason {
				return false
			}
		}
		return true
	}, "every live node to hold the pause for %q", reason)
}

// TestPauseApply: the pause and resume commands against the State.
func TestPauseApply(t *testing.T) {
	member := func() State {
		var s State
		for i, c := range []command{{Op: opJoin, Member: Member{ID: "n1"}}, {Op: opJoin, Member: Member{ID: "n2"}}} {
			if err := s.apply(c, uint64(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	end := time.Date(2027, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for _, tt := range []struct {
		name   string
		cmds   []command
		err    error // of the last command
		paused bool
	}{
		{"pause", []command{{Op: opPause, Node: "n1", Reason: "r"}}, nil, true},
		{"pause by a non-member", []command{{Op: opPause, Node: "n9"}}, ErrUnknownMember, false},
		{"automatic promotion while paused", []command{{Op: opPause, Node: "n1"}, {Op: opPromote, Node: "n2"}}, ErrPaused, true},
		{"switchover while paused", []command{{Op: opPause, Node: "n1"}, {Op: opPromote, Node: "n2", Force: true}}, nil, true},
		{"resume", []command{{Op: opPause, Node: "n1"}, {Op: opResume, Node: "n2"}}, nil, false},
		{"resume without a pause", []command{{Op: opResume, Node: "n2"}}, nil, false},
		{"expiry of this pause", []command{{Op: opPause, Node: "n1", Until: end.UnixMilli()}, {Op: opResume, Node: "n1", Until: end.UnixMilli()}}, nil, false},
		{"expiry of a replaced pause", []command{{Op: opPause, Node: "n1", Until: end.UnixMilli()}, {Op: opPause, Node: "n2", Until: end.UnixMilli() + 1},
			{Op: opResume, Node: "n1", Until: end.UnixMilli()}}, nil, true},
		{"expiry of a pause without end", []command{{Op: opPause, Node: "n1"}, {Op: opResume, Node: "n1", Until: end.UnixMilli()}}, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := member()
			var err error
			for i, c := range tt.cmds {
				// Through the log's encoding, as the FSM sees them.
				dc, derr := decodeCommand(encodeCommand(c))
				if derr != nil {
					t.Fatal(derr)
				}
				err = s.apply(dc, uint64(10+i))
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("last command: %v, want %v", err, tt.err)
			}
			if s.Paused != tt.paused {
				t.Fatalf("paused %v, want %v", s.Paused, tt.paused)
			}
			if !s.Paused && (s.PauseReason != "" || s.PausedBy != "" || !s.PausedUntil.IsZero()) {
				t.Fatalf("not paused, but %+v", s)
			}
		})
	}
	s := member()
	if err := s.apply(command{Op: opPause, Node: "n2", Reason: "r", Until: end.UnixMilli()}, 5); err != nil {
		t.Fatal(err)
	}
	if !s.PausedUntil.Equal(end.Truncate(time.Millisecond)) || s.PausedBy != "n2" || s.PauseReason != "r" {
		t.Fatalf("pause recorded as %+v", s)
	}
	if !s.PauseHolds(end.Add(-time.Millisecond)) || s.PauseHolds(end) {
		t.Fatal("PauseHolds does not end at PausedUntil")
	}
}

// TestPauseDecode: pause and resume commands with a bad end or TTL are
// malformed.
func TestPauseDecode(t *testing.T) {
	for _, b := range []string{
		`{"v":1,"op":"pause"}`,
		`{"v":1,"op":"pause","node":"n1","ttl":-1}`,
		`{"v":1,"op":"pause","node":"n1","until_ms":-5}`,
		`{"v":1,"op":"resume","node":"n1","until_ms":253402300800000}`,
	} {
		if _, err := decodeCommand([]byte(b)); !errors.Is(err, errBadCommand) {
			t.Errorf("%s: %v, want errBadCommand", b, err)
		}
	}
}

// TestPauseEnd: the leader's stamp is now+ttl rounded up to the
// millisecond, and none for ttl 0.
func TestPauseEnd(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 1500, time.UTC)
	if got := pauseEnd(now, 0); got != 0 {
		t.Fatalf("ttl 0: %d", got)
	}
	if got, want := pauseEnd(now, time.Minute), now.Add(time.Minute).UnixMilli()+1; got != want {
		t.Fatalf("ttl 1m: %d, want %d", got, want)
	}
	if got := pauseEnd(now, 1<<63-1); got > maxUntilMillis || time.UnixMilli(got).Before(now) {
		t.Fatalf("the longest ttl: %d", got)
	}
}

// TestPauseSnapshot: the FSM's snapshot keeps the pause, and a snapshot
// written before the pause existed (testdata/state) restores as not
// paused with everything else intact.
func TestPauseSnapshot(t *testing.T) {
	f := newFSM(time.Now)
	end := time.UnixMilli(1767225600123).UTC()
	for i, c := range []command{{Op: opJoin, Member: Member{ID: "n1"}}, {Op: opPause, Node: "n1", Reason: "upgrade", Until: end.UnixMilli()}} {
		if err := f.Apply(&raft.Log{Type: raft.LogCommand, Index: uint64(i + 1), Data: encodeCommand(c)}); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	g := newFSM(time.Now)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snap.(fsmSnapshot)))); err != nil {
		t.Fatal(err)
	}
	if st := g.state(); !st.Paused || st.PauseReason != "upgrade" || st.PausedBy != "n1" || !st.PausedUntil.Equal(end) {
		t.Fatalf("restored %+v", st)
	}

	old, err := os.ReadFile(filepath.Join("testdata", "state", "v1-before-pause.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	st := g.state()
	if st.Paused || st.PauseReason != "" || st.PausedBy != "" || !st.PausedUntil.IsZero() {
		t.Fatalf("a snapshot from before the pause restores paused: %+v", st)
	}
	if st.Primary != "n1" || st.Epoch != 1 || st.Acked != 9 || st.ArchiveID != "0f1e2d3c" || len(st.Members) != 2 || len(st.Timeline) != 1 || st.Index != 6 {
		t.Fatalf("a snapshot from before the pause restores as %+v", st)
	}
	// Written again, it has no pause fields: an older build reads it.
	b, err := encodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "Pause") {
		t.Fatalf("a State without a pause encodes pause fields: %s", b)
	}
}
