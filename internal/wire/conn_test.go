package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/peer"
	"github.com/continuity-go/continuity/wal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type cluster struct {
	ca      *testkit.CA
	name    string
	allowed []string
}

func newCluster(t *testing.T) *cluster {
	return &cluster{ca: testkit.NewCA(t, "cluster CA"), name: "orders", allowed: []string{"primary", "standby-1", "standby-2"}}
}

// opts is node's options in the cluster, with a certificate o describes.
// Its HandshakeTimeout only bounds a hang (no test waits for it to run
// out), so it is generous: CI runs on a busy 2-core machine.
func (c *cluster) opts(t *testing.T, node string, o testkit.CertOptions) Options {
	return Options{TLS: c.ca.NodeTLS(t, c.name, node, c.allowed, o), HandshakeTimeout: time.Minute}
}

// serve listens with opts, accepts connections and welcomes each, and
// reports handshake results on the returned channel: nil for a welcomed
// standby, the cause for a refused connection. It stops when the test
// ends, and waits for the accepting goroutine.
func serve(t *testing.T, opts Options) (*Listener, <-chan error) {
	t.Helper()
	results := make(chan error, 16)
	l, err := ListenConfig{OnRefused: func(_ net.Addr, err error) { results <- err }}.Listen("127.0.0.1:0", opts)
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() {
		l.Close() // no OnRefused calls after it returns
		for {
			select {
			case <-results:
			case <-done:
				return
			}
		}
	})
	go func() {
		defer close(done)
		for {
			c, h, err := l.Accept(context.Background())
			if err != nil {
				return
			}
			err = c.Welcome(Welcome{Version: ProtocolVersion, Cluster: h.Cluster, Node: "primary", Epoch: 3})
			results <- err
			// Keep the connection until the client closes it.
			_, _ = c.ReadFrame()
			c.Close()
		}
	}()
	return l, results
}

func TestHandshake(t *testing.T) {
	c := newCluster(t)
	l, results := serve(t, c.opts(t, "primary", testkit.CertOptions{}))
	addr := l.Addr().String()
	ctx := context.Background()

	t.Run("accepted", func(t *testing.T) {
		conn, w, err := Dial(ctx, addr, c.opts(t, "standby-1", testkit.CertOptions{}), Hello{Node: "standby-1", Epoch: 3, LastLSN: 42})
		require.NoError(t, err)
		defer conn.Close()
		assert.Equal(t, peer.Identity{Cluster: "orders", Node: "primary"}, conn.Peer())
		assert.Equal(t, uint64(3), w.Epoch)
		require.NoError(t, <-results)
	})

	t.Run("the expected peer", func(t *testing.T) {
		o := c.opts(t, "standby-1", testkit.CertOptions{})
		o.Peer = "primary"
		conn, _, err := Dial(ctx, addr, o, Hello{Node: "standby-1", Epoch: 3})
		require.NoError(t, err)
		conn.Close()
		require.NoError(t, <-results)
	})
	t.Run("another allowlisted node than expected", func(t *testing.T) {
		// The node at addr is "primary", on the allowlist; the standby
		// was told its primary is standby-2.
		o := c.opts(t, "standby-1", testkit.CertOptions{})
		o.Peer = "standby-2"
		conn, _, err := Dial(ctx, addr, o, Hello{Node: "standby-1", Epoch: 3})
		require.ErrorIs(t, err, ErrWrongPeer)
		require.Nil(t, conn)
		<-results // the server saw the client hang up after the TLS handshake
	})

	refused := []struct {
		name   string
		opts   func(t *testing.T) Options
		hello  Hello
		server error // what the server's Accept reports
	}{
		{"unknown certificate", func(t *testing.T) Options {
			other := testkit.NewCA(t, "someone else's CA")
			o := c.opts(t, "standby-1", testkit.CertOptions{})
			o.TLS.Certificate = other.NodeCert(t, "standby-1", testkit.CertOptions{URIs: []string{"continuity://orders/standby-1"}})
			return o
		}, Hello{Node: "standby-1"}, nil},
		{"expired certificate", func(t *testing.T) Options {
			return c.opts(t, "standby-1", testkit.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
		}, Hello{Node: "standby-1"}, nil},
		{"other cluster", func(t *testing.T) Options {
			// A node certified for cluster "billing" by the same CA.
			return c.opts(t, "standby-1", testkit.CertOptions{URIs: []string{"continuity://billing/standby-1"}})
		}, Hello{Node: "standby-1"}, peer.ErrIdentity},
		{"node not allowed", func(t *testing.T) Options {
			return c.opts(t, "intruder", testkit.CertOptions{})
		}, Hello{Node: "intruder"}, peer.ErrIdentity},
		{"hello claims another node", func(t *testing.T) Options {
			return c.opts(t, "standby-1", testkit.CertOptions{})
		}, Hello{Node: "standby-2"}, &RejectError{}},
		{"hello of another cluster", func(t *testing.T) Options {
			return c.opts(t, "standby-1", testkit.CertOptions{})
		}, Hello{Cluster: "billing", Node: "standby-1"}, &RejectError{}},
		{"hello of an older protocol", func(t *testing.T) Options {
			return c.opts(t, "standby-1", testkit.CertOptions{})
		}, Hello{Version: ProtocolVersion - 1, Node: "standby-1"}, &RejectError{}},
		{"certificate without identity", func(t *testing.T) Options {
			return c.opts(t, "standby-1", testkit.CertOptions{URIs: []string{}})
		}, Hello{Node: "standby-1"}, peer.ErrIdentity},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			conn, _, err := Dial(ctx, addr, tc.opts(t), tc.hello)
			if conn != nil {
				// TLS 1.3 reports a client certificate refused by the
				// server only on the first read.
				_, err = conn.ReadFrame()
				conn.Close()
			}
			require.Error(t, err)
			serr := <-results
			require.Error(t, serr, "the server must refuse")
			var he *HandshakeError
			require.ErrorAs(t, serr, &he)
			switch want := tc.server.(type) {
			case nil:
			case *RejectError:
				var re *RejectError
				assert.ErrorAs(t, serr, &re)
				assert.ErrorAs(t, err, &re, "the client is told why")
				if tc.hello.Version != 0 {
					assert.Equal(t, RejectVersion, re.Code, "an older protocol is refused by its version: %v", err)
				}
			default:
				assert.ErrorIs(t, serr, want)
			}
		})
	}

	t.Run("plaintext client", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer nc.Close()
		_, err = nc.Write(AppendFrame(nil, FrameHello, 0, AppendHello(nil, Hello{Version: ProtocolVersion, Cluster: "orders", Node: "standby-1"})))
		require.NoError(t, err)
		require.Error(t, <-results)
	})

	t.Run("client refuses a primary of another cluster", func(t *testing.T) {
		other := newCluster(t)
		other.ca = c.ca // same CA, other cluster name
		other.name = "billing"
		l2, _ := serve(t, other.opts(t, "primary", testkit.CertOptions{}))
		_, _, err := Dial(ctx, l2.Addr().String(), c.opts(t, "standby-1", testkit.CertOptions{}), Hello{Node: "standby-1"})
		require.ErrorIs(t, err, peer.ErrIdentity)
	})
}

func TestTLSVersion(t *testing.T) {
	c := newCluster(t)
	l, results := serve(t, c.opts(t, "primary", testkit.CertOptions{}))
	o := c.opts(t, "standby-1", testkit.CertOptions{})
	cfg, err := o.TLS.ClientConfig()
	require.NoError(t, err)
	cfg.MaxVersion = tls.VersionTLS12
	cfg.MinVersion = tls.VersionTLS12
	_, err = tls.Dial("tcp", l.Addr().String(), cfg)
	require.Error(t, err, "TLS 1.2 is refused")
	require.Error(t, <-results)
}

func TestOptionsValidate(t *testing.T) {
	err := Options{}.Validate()
	require.Error(t, err)
	for _, f := range []string{"Certificate", "CA", "Cluster", "AllowedNodes"} {
		assert.Contains(t, err.Error(), f)
	}
	assert.NoError(t, Options{InsecurePlaintext: true, Cluster: "x"}.Validate())
}

func TestPlaintextForTests(t *testing.T) {
	opts := Options{InsecurePlaintext: true, Cluster: "orders"}
	l, results := serve(t, opts)
	conn, w, err := Dial(context.Background(), l.Addr().String(), opts, Hello{Node: "standby-1", LastLSN: wal.LSN(7)})
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, "primary", w.Node)
	require.NoError(t, <-results)
}

// countingConn counts the writes that reach the network.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestFrameIsOneWrite: TLS cuts a frame into records of at most 16 KiB;
// they reach the network in one write, and the peer reads the frame whole.
func TestFrameIsOneWrite(t *testing.T) {
	c := newCluster(t)
	l, err := Listen("127.0.0.1:0", c.opts(t, "primary", testkit.CertOptions{}))
	require.NoError(t, err)
	defer l.Close()
	payload := make([]byte, 200<<10)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	got := make(chan error, 1)
	go func() {
		sc, h, err := l.Accept(context.Background())
		if err != nil {
			got <- err
			return
		}
		defer sc.Close()
		if err := sc.Welcome(Welcome{Version: ProtocolVersion, Cluster: h.Cluster, Node: "primary", Epoch: 1}); err != nil {
			got <- err
			return
		}
		f, err := sc.ReadFrame()
		if err == nil && (f.Type != FrameRecords || !bytes.Equal(f.Payload, payload)) {
			err = fmt.Errorf("frame type %d, %d bytes: not the frame sent", f.Type, len(f.Payload))
		}
		if err == nil {
			// And back, through the listener's side.
			err = sc.WriteFrame(FrameRecords, 1, payload)
		}
		got <- err
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	cc := &countingConn{Conn: nc}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bounds a hang
	defer cancel()
	conn, _, err := dialHandshake(ctx, cc, c.opts(t, "standby-1", testkit.CertOptions{}).withDefaults(), Hello{Node: "standby-1"})
	require.NoError(t, err)
	defer conn.Close()
	before := cc.writes.Load()
	require.NoError(t, conn.WriteFrame(FrameRecords, 1, payload))
	assert.Equal(t, int64(1), cc.writes.Load()-before, "writes for one frame of %d bytes", len(payload))
	f, err := conn.ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, FrameRecords, f.Type)
	assert.True(t, bytes.Equal(f.Payload, payload), "frame read back differs")
	require.NoError(t, <-got)
}
