package failover

import (
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/handshake"
	"github.com/continuity-go/continuity/internal/testkit"
)

// raftTimeout is the Raft transport's timeout, as Open sets it: a peer's
// dial and TLS handshake must fit in it.
const raftTimeout = 2 * time.Second

// newRaftTransport listens as node with TLS and ho, and serves Raft on
// it; the transport is closed when the test ends.
func newRaftTransport(t *testing.T, ca *testkit.CA, node string, ho handshake.Options) (*raft.NetworkTransport, *muxStream) {
	t.Helper()
	tlsCfg := ca.NodeTLS(t, "orders", node, []string{"a", "b"}, testkit.CertOptions{})
	s, err := newTLSStream("127.0.0.1:0", "", tlsCfg, false, ho)
	require.NoError(t, err)
	m := newMux(s, func(string, []byte) (byte, string) { return forwardFailed, "no commands here" })
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: io.Discard, Level: hclog.Off})
	tr := raft.NewNetworkTransportWithLogger(m, 3, raftTimeout, hl)
	t.Cleanup(func() { tr.Close() })
	return tr, m
}

// TestSlowLorisRaft: 100 connections that never send a byte do not keep
// a legitimate Raft peer out: its RPC, dial and TLS handshake included,
// gets through within the Raft transport's timeout (a few attempts, for
// a busy machine: before handshakes ran off the accept loop, each idle
// connection held every later one for the whole handshake timeout). The
// idle connections are refused and counted: most at once (over the
// per-source cap), the rest at the handshake deadline.
func TestSlowLorisRaft(t *testing.T) {
	ca := testkit.NewCA(t, "cluster CA")
	srv, srvMux := newRaftTransport(t, ca, "a", handshake.Options{Timeout: 3 * time.Second})
	cli, _ := newRaftTransport(t, ca, "b", handshake.Options{})

	done := make(chan struct{})
	served := make(chan struct{})
	t.Cleanup(func() { close(done); <-served })
	go func() {
		defer close(served)
		for {
			select {
			case rpc := <-srv.Consumer():
				rpc.Respond(&raft.AppendEntriesResponse{Term: 7, Success: true}, nil)
			case <-done:
				return
			}
		}
	}()

	idle := testkit.SlowLoris(t, string(srv.LocalAddr()), 100)

	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("b"), Addr: []byte(cli.LocalAddr())}, Term: 7}
	var err error
	attempts := 0
	for attempt := range 3 {
		attempts++
		var resp raft.AppendEntriesResponse
		start := time.Now()
		err = cli.AppendEntries("a", srv.LocalAddr(), req, &resp)
		if err == nil {
			t.Logf("attempt %d: the RPC took %v", attempt+1, time.Since(start))
			assert.True(t, resp.Success)
			break
		}
		t.Logf("attempt %d failed after %v: %v", attempt+1, time.Since(start), err)
	}
	require.NoError(t, err, "the legitimate peer's RPC")

	testkit.Eventually(t, func() bool { return srvMux.refused() >= uint64(len(idle)) }, "the %d idle connections refused", len(idle))
	if attempts == 1 {
		assert.Equal(t, uint64(len(idle)), srvMux.refused(), "only the idle connections are refused")
	}
	for i, c := range idle {
		require.True(t, testkit.ClosedByPeer(c, testkit.EventuallyTimeout), "idle connection %d is closed", i)
	}
}
