package failover

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/hashicorp/raft"

	"github.com/continuity-go/continuity/peer"
)

// tlsStream is a raft.StreamLayer over mutual TLS 1.3: hashicorp/raft's
// own TCP layer is plaintext. Both ends present certificates of the
// cluster's CA whose identity (continuity://cluster/node) is on the
// allowlist, exactly as for replication.
type tlsStream struct {
	ln        net.Listener
	client    *tls.Config
	advertise net.Addr
	// dial, when set (tests), replaces net.Dialer to route connections
	// through a fault-injecting network.
	dial func(ctx context.Context, addr string) (net.Conn, error)
}

func newTLSStream(bind string, advertise string, t peer.TLS, insecurePlaintext bool) (*tlsStream, error) {
	var ln net.Listener
	var err error
	s := &tlsStream{}
	if insecurePlaintext {
		ln, err = net.Listen("tcp", bind)
	} else {
		srv, cerr := t.ServerConfig()
		if cerr != nil {
			return nil, cerr
		}
		if s.client, err = t.ClientConfig(); err != nil {
			return nil, err
		}
		ln, err = tls.Listen("tcp", bind, srv)
	}
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.advertise = ln.Addr()
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.advertise = a
	}
	return s, nil
}

// Accept waits for the next connection and completes its TLS handshake,
// so that a peer without a valid certificate never reaches Raft.
func (s *tlsStream) Accept() (net.Conn, error) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return nil, err
		}
		tc, ok := c.(*tls.Conn)
		if !ok {
			return c, nil
		}
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			tc.Close() // refused: unknown certificate, another cluster, plaintext
			continue
		}
		tc.SetDeadline(time.Time{})
		return tc, nil
	}
}

func (s *tlsStream) Close() error   { return s.ln.Close() }
func (s *tlsStream) Addr() net.Addr { return s.advertise }

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
	return tc, nil
}
