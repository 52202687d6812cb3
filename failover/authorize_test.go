package failover

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/continuity-go/continuity/internal/handshake"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/peer"
)

// TestAuthorize: a node speaks only for itself; a promotion comes only
// from the leader itself or the primary's Switchover; without TLS
// nothing is checked.
func TestAuthorize(t *testing.T) {
	st := State{Primary: "n1", Members: map[string]Member{"n1": {ID: "n1"}, "n2": {ID: "n2"}, "n3": {ID: "n3"}}}
	for _, c := range []struct {
		peer string
		cmd  command
		ok   bool
	}{
		{"n2", command{Op: opRenew, Node: "n2"}, true},
		{"n2", command{Op: opRenew, Node: "n1"}, false},
		{"n2", command{Op: opReport, Node: "n3"}, false},
		{"n2", command{Op: opResign, Node: "n1"}, false},
		{"n1", command{Op: opResign, Node: "n1"}, true},
		{"n2", command{Op: opStarted, Node: "n1"}, false},
		{"n2", command{Op: opArchive, Node: "n1"}, false},
		{"n2", command{Op: opSync, Node: "n3"}, false},
		{"n2", command{Op: opLeave, Node: "n3"}, false},
		{"n2", command{Op: opLeave, Node: "n2"}, true},
		{"n2", command{Op: opJoin, Member: Member{ID: "n4"}}, true}, // a member adds a node
		{"n9", command{Op: opJoin, Member: Member{ID: "n4"}}, false},
		{"n4", command{Op: opJoin, Member: Member{ID: "n4"}}, true}, // a node joins as itself
		{"n2", command{Op: opPromote, Node: "n2", Force: false}, false},
		{"n2", command{Op: opPromote, Node: "n2", Force: true}, false}, // only the primary switches over
		{"n1", command{Op: opPromote, Node: "n2", Force: true}, true},
		{"n1", command{Op: opPromote, Node: "n2"}, false}, // an automatic promotion is the leader's own
		{"n2", command{Op: opPause, Node: "n2"}, true},
		{"n2", command{Op: opPause, Node: "n3"}, false},
		{"n9", command{Op: opPause, Node: "n9"}, false},
		{"n2", command{Op: opResume, Node: "n1"}, false},
		{"n2", command{Op: "frobnicate", Node: "n2"}, false},
		{"", command{Op: opRenew, Node: "n1"}, true}, // InsecurePlaintext: no identity
	} {
		err := authorize(c.peer, c.cmd, st)
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrUnauthorized) {
			t.Errorf("authorize(%q, %s about %q%s): %v, want allowed %v", c.peer, c.cmd.Op, c.cmd.Node, c.cmd.Member.ID, err, c.ok)
		}
	}
}

// TestForgedCommandsRefused: over the cluster's mutual TLS, a member
// that forwards a command about another node (renew the primary's lease,
// resign for it, report for a standby, promote itself, ...) is refused by
// the leader, which knows the sender from its certificate; a join of a
// node off the allowlist is refused before it reaches Raft.
func TestForgedCommandsRefused(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	p, st := tc.primary("")
	var leader, forger *testNode
	testkit.Eventually(t, func() bool {
		leader, forger = nil, nil
		for _, n := range tc.nodes {
			switch {
			case n.c.IsLeader():
				leader = n
			case n != p && forger == nil:
				forger = n
			}
		}
		return leader != nil && forger != nil && forger != leader
	}, "a leader and a follower that is not the primary")
	var other string
	for _, id := range tc.ids {
		if id != forger.id && id != p.id {
			other = id
		}
	}
	if other == "" {
		other = p.id
	}
	addr, _ := forger.c.raft.LeaderWithID()
	for _, cmd := range []command{
		{Op: opRenew, Node: p.id, Epoch: st.Epoch},
		{Op: opResign, Node: p.id, Epoch: st.Epoch},
		{Op: opReport, Node: other, Epoch: st.Epoch, Flushed: 1 << 40, Healthy: true},
		{Op: opStarted, Node: p.id, Epoch: st.Epoch},
		{Op: opArchive, Node: p.id, Epoch: st.Epoch, ArchiveID: "planted"},
		{Op: opSync, Node: other, Nonce: 7},
		{Op: opLeave, Node: other},
		{Op: opPromote, Node: forger.id, FromEpoch: st.Epoch, RenewIndex: st.RenewIndex},
		{Op: opPromote, Node: forger.id, FromEpoch: st.Epoch, RenewIndex: st.RenewIndex, Force: true},
		{Op: opPause, Node: other, Reason: "not mine to say"},
		{Op: opResume, Node: other},
	} {
		status, msg, err := forger.c.mux.forward(raft.ServerAddress(addr), encodeCommand(cmd), 10*time.Second)
		if err != nil || status != forwardRefused || !strings.Contains(msg, ErrUnauthorized.Error()) {
			t.Errorf("%s from %s about %s%s: status %d %q %v, want refused as unauthorized", cmd.Op, forger.id, cmd.Node, cmd.Member.ID, status, msg, err)
		}
	}
	after := leader.c.State()
	if after.Primary != st.Primary || after.Epoch != st.Epoch || after.Paused {
		t.Fatalf("the forged commands changed the state: %+v, before %+v", after, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := forger.c.Join(ctx, Member{ID: "evil", RaftAddr: "127.0.0.1:9", Voter: true})
	if !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("join of a node off the allowlist: %v", err)
	}
	if _, ok := leader.c.State().Members["evil"]; ok {
		t.Fatal("evil joined")
	}
	// The same commands, sent by the node they name, are accepted.
	if err := forger.c.Pause(ctx, time.Minute, "mine to say"); err != nil {
		t.Fatalf("a member pausing as itself: %v", err)
	}
	if err := forger.c.Resume(ctx); err != nil {
		t.Fatalf("a member resuming as itself: %v", err)
	}
}

// TestDialerChecksPeer: Raft's dialer refuses a peer whose certificate
// names another node than the member at the address it dials.
func TestDialerChecksPeer(t *testing.T) {
	ca := testkit.NewCA(t, "cluster CA")
	tlsOf := func(id string) peer.TLS {
		return peer.TLS{
			Certificate:  ca.NodeCert(t, id, testkit.CertOptions{URIs: []string{peer.Identity{Cluster: "orders", Node: id}.URI().String()}}),
			CA:           ca.Pool,
			Cluster:      "orders",
			AllowedNodes: []string{"n1", "n2", "n3"},
		}
	}
	srv, err := newTLSStream("127.0.0.1:0", "", tlsOf("n2"), false, handshake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			c.Close() // the handshake is done: all the test dials for
		}
	}()
	cli, err := newTLSStream("127.0.0.1:0", "", tlsOf("n1"), false, handshake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	addr := srv.Addr().String()
	cli.expect = func(string) (string, bool) { return "n3", true } // the member at addr is n3; n2 answers
	if _, err := cli.Dial(raft.ServerAddress(addr), 10*time.Second); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("dial of %s, where n2 answers for n3: %v", addr, err)
	}
	cli.expect = func(string) (string, bool) { return "n2", true }
	c, err := cli.Dial(raft.ServerAddress(addr), 10*time.Second)
	if err != nil {
		t.Fatalf("dial of the right peer: %v", err)
	}
	c.Close()
	cli.expect = func(string) (string, bool) { return "", false } // an address no member has yet
	c, err = cli.Dial(raft.ServerAddress(addr), 10*time.Second)
	if err != nil {
		t.Fatalf("dial of an address no member has: %v", err)
	}
	c.Close()
}

// TestJoinVia: a new node asks a follower (not the leader) to add it,
// over mutual TLS; the follower passes the join on to the leader and the
// node becomes a member. A new node cannot have another node added.
func TestJoinVia(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	p, _ := tc.primary("")
	var follower *testNode
	for _, n := range tc.nodes {
		if !n.c.IsLeader() {
			follower = n
			break
		}
	}
	n4 := tc.add("n4")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	forged := command{Op: opJoin, Member: Member{ID: "n5", RaftAddr: "127.0.0.1:9", Voter: true}}
	status, msg, err := n4.c.mux.forward(raft.ServerAddress(follower.c.Addr()), encodeCommand(forged), 10*time.Second)
	if err != nil || status != forwardRefused || !strings.Contains(msg, ErrUnauthorized.Error()) {
		t.Fatalf("a non-member adding n5: %d %q %v", status, msg, err)
	}
	if err := n4.c.JoinVia(ctx, follower.c.Addr(), true); err != nil {
		t.Fatalf("join via %s: %v", follower.id, err)
	}
	testkit.Eventually(t, func() bool {
		st := n4.c.State()
		_, member := st.Members["n4"]
		return member && st.Primary == p.id
	}, "n4 to be a member that knows the primary")
}
