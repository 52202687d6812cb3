package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/peer"
	"github.com/continuity-go/continuity/wal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testNode is one node of an in-process cluster: a coordinator and a
// simulated log position the test moves.
type testNode struct {
	id      string
	c       *Coordinator
	flushed atomic.Uint64
	acked   atomic.Uint64
	healthy atomic.Bool
	mu      sync.Mutex
	roles   []RoleChange
	events  chan RoleChange
}

func (n *testNode) position() Position {
	f := wal.LSN(n.flushed.Load())
	return Position{Flushed: f, Applied: f, Acked: wal.LSN(n.acked.Load()), Healthy: n.healthy.Load()}
}

// testCluster runs n coordinators on loopback with mutual TLS.
type testCluster struct {
	t     *testing.T
	ca    *testkit.CA
	nodes []*testNode
	ids   []string
	dirs  map[string]string
	addrs map[string]string // fixed coordinator addresses, kept across restarts
	net   *faultNet
	clock map[string]func() time.Time
	cfg   func(*Config)
	mu    sync.Mutex // guards nodes' c fields for liveNodes and kill
}

func newTestCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	tc := &testCluster{t: t, ca: testkit.NewCA(t, "cluster CA"), dirs: map[string]string{}, addrs: map[string]string{},
		net: newFaultNet(), clock: map[string]func() time.Time{}, cfg: tweak}
	for i := 0; i < n; i++ {
		tc.ids = append(tc.ids, fmt.Sprintf("n%d", i+1))
	}
	for _, id := range tc.ids {
		tc.dirs[id] = filepath.Join(t.TempDir(), id)
		tc.addrs[id] = freeAddr(t)
		tc.net.name(tc.addrs[id], id)
	}
	for i, id := range tc.ids {
		tc.nodes = append(tc.nodes, tc.start(id, i == 0))
	}
	t.Cleanup(func() {
		for _, n := range tc.nodes {
			if n.c != nil {
				n.c.Close()
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader := tc.nodes[0]
	testkit.Eventually(t, func() bool { return leader.c.IsLeader() }, "the bootstrap leader")
	for _, n := range tc.nodes {
		if err := leader.c.Join(ctx, Member{ID: n.id, RaftAddr: n.c.Addr(), ReplAddr: "repl-" + n.id, Voter: true}); err != nil {
			t.Fatalf("join %s: %v", n.id, err)
		}
	}
	return tc
}

func (tc *testCluster) tls(id string) peer.TLS {
	return peer.TLS{
		Certificate:  tc.ca.NodeCert(tc.t, id, testkit.CertOptions{URIs: []string{peer.Identity{Cluster: "orders", Node: id}.URI().String()}}),
		CA:           tc.ca.Pool,
		Cluster:      "orders",
		AllowedNodes: []string{"n1", "n2", "n3", "n4", "n5", "n6"}, // room for members that join later
	}
}

// add starts a new node id, not yet a member, on its own directory and
// address.
func (tc *testCluster) add(id string) *testNode {
	tc.ids = append(tc.ids, id)
	tc.dirs[id] = filepath.Join(tc.t.TempDir(), id)
	tc.addrs[id] = freeAddr(tc.t)
	tc.net.name(tc.addrs[id], id)
	n := tc.start(id, false)
	tc.mu.Lock()
	tc.nodes = append(tc.nodes, n)
	tc.mu.Unlock()
	return n
}

func (tc *testCluster) start(id string, bootstrap bool) *testNode {
	n := &testNode{id: id, events: make(chan RoleChange, 100)}
	n.healthy.Store(true)
	return tc.open(n, bootstrap)
}

// restart opens a closed node's coordinator again on its directory and
// address.
func (tc *testCluster) restart(n *testNode) {
	tc.open(n, false)
}

func (tc *testCluster) open(n *testNode, bootstrap bool) *testNode {
	id := n.id
	cfg := Config{
		Node: id, Dir: tc.dirs[id], Bind: tc.addrs[id], ReplAddr: "repl-" + id, TLS: tc.tls(id),
		dial: tc.net.dialer(id), now: tc.clock[id],
		Bootstrap: bootstrap, Position: n.position,
		OnRole: func(rc RoleChange) {
			n.mu.Lock()
			n.roles = append(n.roles, rc)
			n.mu.Unlock()
			select {
			case n.events <- rc:
			default:
			}
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	var c *Coordinator
	logged := false
	testkit.Eventually(tc.t, func() bool {
		var err error
		c, err = Open(cfg)
		if err != nil && !logged { // the port may linger a moment after a close
			tc.t.Logf("open %s: %v; retrying", id, err)
			logged = true
		}
		return err == nil
	}, "the coordinator of %s to open", id)
	tc.mu.Lock()
	n.c = c
	tc.mu.Unlock()
	return n
}

// freeAddr is a port a restarted node can always listen on again.
func freeAddr(t *testing.T) string { return testkit.FreeAddr(t) }

func (tc *testCluster) node(id string) *testNode {
	for _, n := range tc.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// primary waits until the live nodes agree on a primary (other than
// not) and returns it.
func (tc *testCluster) primary(not string) (*testNode, State) {
	tc.t.Helper()
	var p *testNode
	var st State
	what := "the live nodes to agree on a primary"
	if not != "" {
		what += " other than " + not
	}
	testkit.Eventually(tc.t, func() bool {
		var agreed string
		var ep uint64
		for _, n := range tc.nodes {
			if n.c == nil {
				continue
			}
			s := n.c.State()
			if s.Primary == "" || s.Primary == not {
				return false
			}
			if agreed != "" && (s.Primary != agreed || s.Epoch != ep) {
				return false
			}
			agreed, ep, st = s.Primary, s.Epoch, s
		}
		p = tc.node(agreed)
		if p == nil || p.c == nil {
			return false
		}
		_, ok := p.c.CanWrite()
		return ok
	}, "%s", what)
	return p, st
}

// reported waits until every live node's State holds each live node's
// current flushed LSN (the positions the leader promotes by).
func (tc *testCluster) reported() {
	tc.t.Helper()
	testkit.Eventually(tc.t, func() bool {
		nodes := tc.liveNodes()
		for _, a := range nodes {
			st := a.c.State()
			for _, b := range nodes {
				if st.Reports[b.id].Flushed != wal.LSN(b.flushed.Load()) {
					return false
				}
			}
		}
		return true
	}, "the positions to reach the cluster state")
}

// TestFailoverKillPrimary: three nodes elect a primary; when it dies the
// leader promotes the standby with the highest flushed LSN, in a new
// epoch (the time it takes is logged; bench/cmd/failbench measures it).
func TestFailoverKillPrimary(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	p, st := tc.primary("")
	if st.Epoch != 1 {
		t.Fatalf("first primary in epoch %d", st.Epoch)
	}
	for _, n := range tc.nodes {
		n.flushed.Store(100)
	}
	// The most advanced standby must win.
	var want *testNode
	for _, n := range tc.nodes {
		if n != p {
			want = n
			n.flushed.Store(150)
			break
		}
	}
	tc.reported()
	start := time.Now()
	p.c.Close()
	p.c = nil
	np, st2 := tc.primary(p.id)
	took := time.Since(start)
	t.Logf("killed primary %s; %s is primary of epoch %d after %v", p.id, np.id, st2.Epoch, took)
	if np != want || st2.Epoch != 2 {
		t.Fatalf("new primary %s in epoch %d, want %s in epoch 2", np.id, st2.Epoch, want.id)
	}
	if f, _ := st2.Fork(2); f != 150 {
		t.Fatalf("fork of epoch 2 at %d, want 150", f)
	}
}

// TestSwitchover hands the role to a named standby: writes pause, the
// target catches up, it becomes primary in the next epoch at the old
// primary's last LSN, with no moment of two writers; a target that does
// not catch up leaves the old primary in place.
func TestSwitchover(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	p, st := tc.primary("")
	var target *testNode
	for _, n := range tc.nodes {
		n.flushed.Store(150)
		if n != p && target == nil {
			target = n
		}
	}
	p.flushed.Store(200)
	tc.reported()
	mon := startMonitor(tc)

	// A target that does not catch up: the switchover gives up and the
	// primary goes on.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := p.c.Switchover(ctx, target.id)
	cancel()
	if !errors.Is(err, ErrNotCaughtUp) {
		t.Fatalf("switchover to a lagging target = %v", err)
	}
	testkit.Eventually(t, func() bool { _, ok := p.c.CanWrite(); return ok }, "the old primary to write again")

	start := time.Now()
	// The scenario: the target catches up a moment after the switchover
	// began, so the switchover must wait for it. The sleep is that
	// moment, not a wait for anything.
	go func() { time.Sleep(50 * time.Millisecond); target.flushed.Store(200) }()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.c.Switchover(ctx, target.id); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, func() bool { _, ok := target.c.CanWrite(); return ok }, "the target to write")
	pause := time.Since(start)
	st2 := target.c.State()
	if st2.Primary != target.id || st2.Epoch != st.Epoch+1 {
		t.Fatalf("after switchover: %+v", st2)
	}
	if f, _ := st2.Fork(st2.Epoch); f != 200 {
		t.Fatalf("fork %d, want 200", f)
	}
	if v := mon.finish(); len(v) > 0 {
		t.Fatalf("two writers during switchover: %v", v)
	}
	t.Logf("write pause %v (50 ms of it waiting for the target to catch up)", pause)
}

// TestForceRecover: two of three nodes are gone for good, so the last
// cannot promote anyone (no quorum). The guarded override rewrites its
// configuration; opened again it forms a cluster of one and becomes
// primary in a new epoch.
func TestForceRecover(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	p, st := tc.primary("")
	var survivor *testNode
	for _, n := range tc.nodes {
		if n != p && survivor == nil {
			survivor = n
		}
	}
	for _, n := range tc.nodes {
		if n != survivor {
			tc.kill(n)
		}
	}
	// The scenario: the dead primary's lease runs out twice over, so that
	// a node that could promote itself without a quorum would have. The
	// sleep lets that time pass; it waits for nothing.
	time.Sleep(2 * LAN.Lease)
	testkit.Eventually(t, func() bool { addr, _ := survivor.c.raft.LeaderWithID(); return addr == "" },
		"the survivor to find itself without a leader")
	if _, ok := survivor.c.CanWrite(); ok || survivor.c.State().Primary == survivor.id {
		t.Fatal("a node without quorum became primary")
	}
	tc.kill(survivor)
	if err := ForceRecover(Config{Node: "nobody", Dir: tc.dirs[survivor.id]}, []Member{{ID: survivor.id, RaftAddr: tc.addrs[survivor.id]}}); err == nil {
		t.Fatal("ForceRecover accepted voters without this node")
	}
	if err := ForceRecover(Config{Node: survivor.id, Dir: tc.dirs[survivor.id], Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Member{{ID: survivor.id, RaftAddr: tc.addrs[survivor.id], Voter: true}}); err != nil {
		t.Fatal(err)
	}
	tc.restart(survivor)
	testkit.Eventually(t, func() bool { e, ok := survivor.c.CanWrite(); return ok && e > st.Epoch }, "the survivor to write")
}

// TestResign: a primary that resigns (its disk failed) stops writing at
// once and for good in its epoch, even with renewals in flight, and the
// leader promotes another node, even one tied with it.
func TestResign(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	for round := 0; round < 3; round++ {
		p, st := tc.primary("")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.c.Resign(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		// Watch p for three renewal periods, while renewals it sent
		// before resigning may still commit. This loop watches a window;
		// it waits for nothing, and a slow machine only makes it watch
		// less, never fail.
		resigned := time.Now()
		for time.Since(resigned) < 3*LAN.Renew {
			if e, ok := p.c.CanWrite(); ok && e == st.Epoch {
				t.Fatalf("%s writes in epoch %d after resigning", p.id, e)
			}
			time.Sleep(time.Millisecond)
		}
		np, st2 := tc.primary(p.id)
		if np == p || st2.Epoch <= st.Epoch { // a loaded machine may have failed over meanwhile too
			t.Fatalf("after %s resigned: %s primary in epoch %d", p.id, np.id, st2.Epoch)
		}
	}
}

// TestStalledDisk: a primary whose disk stalls (its host cannot even say
// where its log is) stops renewing, so its lease runs out and it cannot
// write; the leader promotes another node, and no two nodes ever write
// at once, also when the disk comes back.
func TestStalledDisk(t *testing.T) {
	var stalled sync.Map   // node → chan struct{}: its Position blocks until the channel is closed
	var positions sync.Map // node → *atomic.Int64: its Position calls that returned
	tc := newTestCluster(t, 3, func(cfg *Config) {
		pos := cfg.Position
		id := cfg.Node
		v, _ := positions.LoadOrStore(id, new(atomic.Int64))
		returned := v.(*atomic.Int64)
		cfg.Position = func() Position {
			if ch, ok := stalled.Load(id); ok {
				<-ch.(chan struct{})
			}
			defer returned.Add(1)
			return pos()
		}
	})
	p, st := tc.primary("")
	mon := startMonitor(tc)
	release := make(chan struct{})
	unstall := sync.OnceFunc(func() {
		stalled.Delete(p.id)
		close(release)
	})
	t.Cleanup(unstall) // before the coordinators close: Close waits for the stalled loop
	stalled.Store(p.id, release)
	start := time.Now()
	testkit.Eventually(t, func() bool { _, ok := p.c.CanWrite(); return !ok }, "the stalled primary to stop writing")
	t.Logf("stalled primary stopped writing after %v", time.Since(start))
	testkit.Eventually(t, func() bool {
		for _, n := range tc.liveNodes() {
			if e, ok := n.c.CanWrite(); ok && n.testNode != p && e > st.Epoch {
				return true
			}
		}
		return false
	}, "another primary")
	v, _ := positions.Load(p.id)
	returned := v.(*atomic.Int64)
	before := returned.Load()
	unstall()
	// The stalled call returns, p's loop renews (or reports) with that
	// position, and on its next tick asks again: by then a lease it got
	// back would show.
	testkit.Eventually(t, func() bool { return returned.Load() >= before+2 },
		"the primary whose disk stalled to finish a renewal after the disk came back")
	if e, ok := p.c.CanWrite(); ok {
		t.Fatalf("the primary whose disk stalled writes again in epoch %d", e)
	}
	if v := mon.finish(); len(v) > 0 {
		t.Fatalf("two writers: %v", v)
	}
}

// TestMembership: a non-voting member follows the cluster state and can
// be promoted; a removed member leaves the Raft configuration and the
// State.
func TestMembership(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	p, _ := tc.primary("")
	// A fourth node joins as a non-voter, the most advanced of all.
	n4 := tc.add("n4")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.c.Join(ctx, Member{ID: "n4", RaftAddr: n4.c.Addr(), ReplAddr: "repl-n4", Voter: false}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, func() bool { return n4.c.State().Primary == p.id }, "n4 to learn the state")
	for _, n := range tc.nodes {
		n.flushed.Store(10)
	}
	n4.flushed.Store(20)
	tc.reported()
	tc.kill(p)
	np, _ := tc.primary(p.id)
	if np != n4 {
		t.Fatalf("promoted %s, want the most advanced node n4 (a non-voter)", np.id)
	}
	// Remove the dead node, on the leader: a follower may remove only
	// itself.
	var remover *testNode
	testkit.Eventually(t, func() bool {
		for _, n := range tc.liveNodes() {
			if n.c.IsLeader() {
				remover = n.testNode
			}
		}
		return remover != nil
	}, "a leader")
	if err := remover.c.Remove(ctx, p.id); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, func() bool {
		_, ok := n4.c.State().Members[p.id]
		return !ok
	}, "the removal of %s", p.id)
	var leader *testNode
	for _, n := range tc.liveNodes() {
		if n.c.IsLeader() {
			leader = n.testNode
		}
	}
	if leader == nil {
		t.Fatal("no leader")
	}
	f := leader.c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == p.id {
			t.Fatalf("%s is still in the Raft configuration: %+v", p.id, f.Configuration())
		}
	}
}
