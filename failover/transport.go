package failover

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/continuity-go/continuity/internal/handshake"
	"github.com/continuity-go/continuity/peer"
)

// tlsStream is a raft.StreamLayer over mutual TLS 1.3: hashicorp/raft's
// own TCP layer is plaintext. Both ends present certificates of the
// cluster's CA whose identity (continuity://cluster/node) is on the
// allowlist, exactly as for replication. Handshakes run off the accept
// loop (package handshake), each under a deadline and within caps, so
// connections that never finish theirs do not delay a peer's.
type tlsStream struct {
	hl        *handshake.Listener[net.Conn]
	client    *tls.Config
	advertise net.Addr
	// dial, when set (tests), replaces net.Dialer to route connections
	// through a fault-injecting network.
	dial func(ctx context.Context, addr string) (net.Conn, error)
	// expect, when set, names the node that must answer at an address
	// (ok false: none known yet, as while a member joins): Dial refuses a
	// peer whose certificate names another node.
	expect func(addr string) (node string, ok bool)
}

func newTLSStream(bind string, advertise string, t peer.TLS, insecurePlaintext bool, ho handshake.Options) (*tlsStream, error) {
	s := &tlsStream{}
	var srv *tls.Config
	if !insecurePlaintext {
		var err error
		if srv, err = t.ServerConfig(); err != nil {
			return nil, err
		}
		if s.client, err = t.ClientConfig(); err != nil {
			return nil, err
		}
	}
	var adv net.Addr
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			return nil, err
		}
		adv = a
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	// A peer without a valid certificate never reaches Raft.
	hs := func(ctx context.Context, c net.Conn) (net.Conn, error) {
		if srv == nil {
			return c, nil
		}
		tc := tls.Server(c, srv)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err // unknown certificate, another cluster, plaintext
		}
		return tc, nil
	}
	if s.hl, err = handshake.New(ln, hs, ho); err != nil {
		ln.Close()
		return nil, err
	}
	s.advertise = s.hl.Addr()
	if adv != nil {
		s.advertise = adv
	}
	return s, nil
}

// Accept waits for the next connection whose TLS handshake is done.
func (s *tlsStream) Accept() (net.Conn, error) { return s.hl.Accept(context.Background()) }

// Close stops listening and interrupts the handshakes in progress.
func (s *tlsStream) Close() error   { return s.hl.Close() }
func (s *tlsStream) Addr() net.Addr { return s.advertise }

// refused is how many connections the listener refused.
func (s *tlsStream) refused() uint64 { return s.hl.Refused() }

// Dial connects to a peer's coordinator.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var c net.Conn
	var err error
	if s.dial != nil {
		c, err = s.dial(ctx, string(address))
	} else {
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", string(address))
	}
	if err != nil {
		return nil, err
	}
	if s.client == nil {
		return c, nil
	}
	tc := tls.Client(c, s.client)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, errors.Join(errors.New("failover: TLS handshake with "+string(address)), err)
	}
	if err := s.checkPeer(string(address), tc.ConnectionState()); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// checkPeer refuses a peer at addr whose certificate names another node
// than the member at that address: an allowlisted node that took over an
// address (or a stale one) must not receive another node's traffic.
func (s *tlsStream) checkPeer(addr string, cs tls.ConnectionState) error {
	if s.expect == nil {
		return nil
	}
	want, ok := s.expect(addr)
	if !ok {
		return nil
	}
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("failover: %s presented no certificate", addr)
	}
	id, err := peer.IdentityOf(cs.PeerCertificates[0])
	if err != nil {
		return fmt.Errorf("failover: %s: %w", addr, err)
	}
	if id.Node != want {
		return fmt.Errorf("%w: %s answered as node %q, but the member there is %q", ErrUnauthorized, addr, id.Node, want)
	}
	return nil
}
