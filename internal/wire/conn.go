package wire

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/continuity-go/continuity/internal/handshake"
	"github.com/continuity-go/continuity/peer"
)

// Options configures a transport end.
type Options struct {
	// TLS is the node's mutual-TLS setup. Required unless
	// InsecurePlaintext is set.
	TLS peer.TLS
	// InsecurePlaintext disables TLS and identity checks. For tests of
	// the protocol only: never set it for a real cluster.
	InsecurePlaintext bool
	// Cluster is the cluster ID when InsecurePlaintext is set (with TLS
	// it is TLS.Cluster).
	Cluster string
	// HandshakeTimeout bounds the TLS handshake and the Hello/Welcome
	// exchange. Default 10 s.
	HandshakeTimeout time.Duration
	// MaxFrameBytes bounds received frames. Default MaxFrameBytes.
	MaxFrameBytes int
	// MaxHandshakes bounds the connections a listener holds in the
	// handshake at once; more are closed at once. Default 64.
	MaxHandshakes int
	// MaxHandshakesPerSource bounds them per source IP. Default 8.
	MaxHandshakesPerSource int
	// Peer, for Dial, is the node the server's certificate must name
	// (ErrWrongPeer otherwise); "" accepts any allowlisted node.
	Peer string
}

// ErrWrongPeer: Dial reached an allowlisted node other than Options.Peer.
var ErrWrongPeer = errors.New("wire: the peer is not the node expected")

// ClusterID is the cluster this end belongs to: TLS.Cluster, or Cluster
// in plaintext.
func (o Options) ClusterID() string {
	if o.InsecurePlaintext {
		return o.Cluster
	}
	return o.TLS.Cluster
}

func (o Options) withDefaults() Options {
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.MaxFrameBytes == 0 {
		o.MaxFrameBytes = MaxFrameBytes
	}
	return o
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	var errs []error
	if o.InsecurePlaintext {
		if o.Cluster == "" {
			errs = append(errs, errors.New("wire: Options.Cluster is empty"))
		}
	} else if err := o.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.HandshakeTimeout < 0 {
		errs = append(errs, errors.New("wire: Options.HandshakeTimeout is negative"))
	}
	if o.MaxHandshakes < 0 {
		errs = append(errs, errors.New("wire: Options.MaxHandshakes is negative"))
	}
	if o.MaxHandshakesPerSource < 0 {
		errs = append(errs, errors.New("wire: Options.MaxHandshakesPerSource is negative"))
	}
	if o.MaxFrameBytes < 0 || o.MaxFrameBytes > MaxFrameBytes {
		errs = append(errs, fmt.Errorf("wire: Options.MaxFrameBytes %d: want 0 (default) to %d", o.MaxFrameBytes, MaxFrameBytes))
	}
	return errors.Join(errs...)
}

// RejectError is returned by Dial when the primary refused the Hello, and
// by Accept when it refused a standby.
type RejectError struct{ Reject }

// Error says who refused and why.
func (e *RejectError) Error() string {
	return fmt.Sprintf("wire: refused (code %d): %s", e.Code, e.Reason)
}

// Conn is an authenticated connection after the handshake. ReadFrame may
// be called from one goroutine and WriteFrame from any.
type Conn struct {
	c    net.Conn
	fr   *FrameReader
	peer peer.Identity

	wmu  sync.Mutex
	wbuf []byte
	// held, with TLS, is the connection under it, which gathers the TLS
	// records of one frame into one write.
	held *heldConn
}

// Peer is the authenticated identity of the other end (with
// InsecurePlaintext, what its Hello or Welcome claimed).
func (c *Conn) Peer() peer.Identity { return c.peer }

// RemoteAddr is the other end's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.c.RemoteAddr() }

// ReadFrame reads the next frame; its payload is valid until the next
// call. A *FrameError means the connection must be closed.
func (c *Conn) ReadFrame() (Frame, error) { return c.fr.Next() }

// WriteFrame writes one frame.
func (c *Conn) WriteFrame(t FrameType, epoch uint64, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = AppendFrame(c.wbuf[:0], t, epoch, payload)
	if c.held == nil {
		_, err := c.c.Write(c.wbuf)
		return err
	}
	c.held.hold()
	_, err := c.c.Write(c.wbuf)
	return errors.Join(err, c.held.release())
}

// heldConn is the connection under a TLS connection. Between hold and
// release it keeps what TLS writes, and release writes it at once: TLS
// writes a frame as records of at most 16 KiB, each its own write, so a
// frame of 1 MiB would otherwise cost 64 system calls and wake-ups of the
// peer instead of one.
type heldConn struct {
	net.Conn
	mu      sync.Mutex // held across the write in release, so that order holds
	holding bool
	buf     []byte
}

// maxHeldBuf is the largest buffer a heldConn keeps between frames.
const maxHeldBuf = 4 << 20

func (h *heldConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.holding {
		h.buf = append(h.buf, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

func (h *heldConn) hold() {
	h.mu.Lock()
	h.holding = true
	h.mu.Unlock()
}

// release writes what was held since hold.
func (h *heldConn) release() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holding = false
	if len(h.buf) == 0 {
		return nil
	}
	_, err := h.Conn.Write(h.buf)
	if cap(h.buf) > maxHeldBuf {
		h.buf = nil
	} else {
		h.buf = h.buf[:0]
	}
	return err
}

// heldOf returns the heldConn under c, if c is TLS over one.
func heldOf(c net.Conn) *heldConn {
	if tc, ok := c.(*tls.Conn); ok {
		h, _ := tc.NetConn().(*heldConn)
		return h
	}
	return nil
}

// SetReadDeadline sets the deadline of the next reads.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// SetDeadline sets the read and write deadline of the connection.
func (c *Conn) SetDeadline(t time.Time) error { return c.c.SetDeadline(t) }

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// Listener accepts standbys. Handshakes run concurrently, off the
// accept loop (package handshake), so connections that never finish
// theirs do not delay the others.
type Listener struct {
	hl   *handshake.Listener[accepted]
	opts Options
	tls  *tls.Config // nil with InsecurePlaintext
}

// accepted is a connection past the handshake and the Hello it sent.
type accepted struct {
	*Conn
	hello Hello
}

// ListenConfig holds a listener's settings beyond Options, as
// net.ListenConfig does; the zero value is the default.
type ListenConfig struct {
	// Logger receives the rate-limited Warns about refused handshakes.
	// nil discards them.
	Logger *slog.Logger
	// OnRefused, if set, is called with each refused connection's
	// address and the cause (a *HandshakeError, or a cause wrapping
	// handshake.ErrOverLimit). It must not block.
	OnRefused func(remote net.Addr, err error)
}

// Listen listens on a TCP address (e.g. "127.0.0.1:0") with the zero
// ListenConfig.
func Listen(addr string, opts Options) (*Listener, error) {
	return ListenConfig{}.Listen(addr, opts)
}

// Listen listens on a TCP address (e.g. "127.0.0.1:0").
func (lc ListenConfig) Listen(addr string, opts Options) (*Listener, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	l := &Listener{opts: opts}
	if !opts.InsecurePlaintext {
		cfg, err := opts.TLS.ServerConfig()
		if err != nil {
			return nil, err
		}
		l.tls = cfg
	}
	nl, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l.hl, err = handshake.New(nl, l.handshake, handshake.Options{
		Timeout:             opts.HandshakeTimeout,
		MaxPending:          opts.MaxHandshakes,
		MaxPendingPerSource: opts.MaxHandshakesPerSource,
		Logger:              lc.Logger,
		OnRefused:           lc.OnRefused,
	})
	if err != nil {
		nl.Close()
		return nil, err
	}
	return l, nil
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.hl.Addr() }

// Close stops listening, interrupts the handshakes in progress and waits
// for them. Connections Accept returned are the caller's.
func (l *Listener) Close() error { return l.hl.Close() }

// Refused is how many connections the listener refused: their handshake
// failed (TLS, identity, Hello) or timed out, or they came over
// MaxHandshakes or MaxHandshakesPerSource.
func (l *Listener) Refused() uint64 { return l.hl.Refused() }

// Accept waits for a connection whose server side of the handshake is
// done up to the standby's Hello: the TLS handshake (mutual, identity
// checked), then the Hello, which must name the cluster and the
// certificate's node. It returns the connection and the Hello; the caller
// answers with Welcome or Reject. Connections that fail the handshake
// are closed, counted (Refused) and logged at a rate limit, never
// returned. An error (handshake.ErrClosed once the listener is closed,
// or ctx's) ends accepting.
func (l *Listener) Accept(ctx context.Context) (*Conn, Hello, error) {
	a, err := l.hl.Accept(ctx)
	if err != nil {
		return nil, Hello{}, err
	}
	return a.Conn, a.hello, nil
}

// HandshakeError is a connection refused during the handshake.
type HandshakeError struct {
	Remote string // the peer's address
	Err    error  // the cause: TLS, identity, frame or *RejectError
}

// Error names the peer and the cause.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("wire: handshake with %s: %v", e.Remote, e.Err)
}

// Unwrap returns the cause.
func (e *HandshakeError) Unwrap() error { return e.Err }

// handshake is the listener's handshake.Func: nc is a raw TCP
// connection, under the handshake's deadline.
func (l *Listener) handshake(ctx context.Context, nc net.Conn) (accepted, error) {
	c, h, err := l.serverHandshake(ctx, nc)
	if err != nil {
		return accepted{}, &HandshakeError{Remote: nc.RemoteAddr().String(), Err: err}
	}
	return accepted{Conn: c, hello: h}, nil
}

func (l *Listener) serverHandshake(ctx context.Context, nc net.Conn) (*Conn, Hello, error) {
	if l.tls != nil {
		nc = tls.Server(&heldConn{Conn: nc}, l.tls)
	}
	c := &Conn{c: nc, fr: NewFrameReader(nc, l.opts.MaxFrameBytes), held: heldOf(nc)}
	if tc, ok := nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, Hello{}, err
		}
		id, err := peer.IdentityOf(tc.ConnectionState().PeerCertificates[0])
		if err != nil {
			return nil, Hello{}, err
		}
		c.peer = id
	}
	f, err := c.ReadFrame()
	if err != nil {
		return nil, Hello{}, err
	}
	if f.Type != FrameHello {
		return nil, Hello{}, &FrameError{Type: f.Type, Err: ErrFrameMalformed, Detail: "want hello first"}
	}
	refuse := func(code RejectCode, format string, args ...any) (*Conn, Hello, error) {
		r := Reject{Code: code, Reason: fmt.Sprintf(format, args...)}
		_ = c.WriteFrame(FrameReject, 0, AppendReject(nil, r))
		return nil, Hello{}, &RejectError{r}
	}
	// The version leads every Hello: another version's layout is refused
	// by its number, not as a malformed frame.
	if len(f.Payload) >= 2 {
		if v := binary.LittleEndian.Uint16(f.Payload); v != ProtocolVersion {
			return refuse(RejectVersion, "protocol version %d; this node speaks %d: run one release on every node", v, ProtocolVersion)
		}
	}
	h, err := DecodeHello(f.Payload)
	if err != nil {
		return nil, Hello{}, err
	}
	if h.Cluster != l.opts.ClusterID() {
		return refuse(RejectCluster, "cluster %q; this is cluster %q", h.Cluster, l.opts.ClusterID())
	}
	if l.opts.InsecurePlaintext {
		c.peer = peer.Identity{Cluster: h.Cluster, Node: h.Node}
	} else if h.Node != c.peer.Node {
		return refuse(RejectIdentity, "hello names node %q but the certificate is %s", h.Node, c.peer)
	}
	return c, h, nil
}

// Welcome accepts a standby whose Hello Accept returned.
func (c *Conn) Welcome(w Welcome) error {
	return c.WriteFrame(FrameWelcome, w.Epoch, AppendWelcome(nil, w))
}

// RejectPeer refuses a standby and closes the connection.
func (c *Conn) RejectPeer(r Reject) error {
	err := c.WriteFrame(FrameReject, 0, AppendReject(nil, r))
	return errors.Join(err, c.Close())
}

// Dial connects to a primary and runs the client side of the handshake:
// TLS (mutual, the primary's identity checked), Hello, then Welcome or
// Reject (returned as *RejectError).
func Dial(ctx context.Context, addr string, opts Options, h Hello) (*Conn, Welcome, error) {
	if err := opts.Validate(); err != nil {
		return nil, Welcome{}, err
	}
	opts = opts.withDefaults()
	hctx, cancel := context.WithTimeout(ctx, opts.HandshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		return nil, Welcome{}, err
	}
	c, w, err := dialHandshake(hctx, nc, opts, h)
	if err != nil {
		nc.Close()
		return nil, Welcome{}, err
	}
	return c, w, nil
}

func dialHandshake(ctx context.Context, nc net.Conn, opts Options, h Hello) (*Conn, Welcome, error) {
	if d, ok := ctx.Deadline(); ok {
		nc.SetDeadline(d)
		defer nc.SetDeadline(time.Time{})
	}
	c := &Conn{c: nc}
	if !opts.InsecurePlaintext {
		cfg, err := opts.TLS.ClientConfig()
		if err != nil {
			return nil, Welcome{}, err
		}
		hc := &heldConn{Conn: nc}
		tc := tls.Client(hc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, Welcome{}, err
		}
		id, err := peer.IdentityOf(tc.ConnectionState().PeerCertificates[0])
		if err != nil {
			return nil, Welcome{}, err
		}
		if opts.Peer != "" && id.Node != opts.Peer {
			return nil, Welcome{}, fmt.Errorf("%w: %s answered as node %q, want %q", ErrWrongPeer, nc.RemoteAddr(), id.Node, opts.Peer)
		}
		c.c, c.peer, c.held = tc, id, hc
	}
	c.fr = NewFrameReader(c.c, opts.MaxFrameBytes)
	if h.Version == 0 {
		h.Version = ProtocolVersion
	}
	if h.Cluster == "" {
		h.Cluster = opts.ClusterID()
	}
	if err := c.WriteFrame(FrameHello, h.Epoch, AppendHello(nil, h)); err != nil {
		return nil, Welcome{}, err
	}
	f, err := c.ReadFrame()
	if err != nil {
		return nil, Welcome{}, err
	}
	switch f.Type {
	case FrameReject:
		r, err := DecodeReject(f.Payload)
		if err != nil {
			return nil, Welcome{}, err
		}
		return nil, Welcome{}, &RejectError{r}
	case FrameWelcome:
		w, err := DecodeWelcome(f.Payload)
		if err != nil {
			return nil, Welcome{}, err
		}
		if w.Cluster != h.Cluster {
			return nil, Welcome{}, fmt.Errorf("%w: primary answered for cluster %q", peer.ErrIdentity, w.Cluster)
		}
		if opts.InsecurePlaintext {
			c.peer = peer.Identity{Cluster: w.Cluster, Node: w.Node}
		} else if w.Node != c.peer.Node {
			return nil, Welcome{}, fmt.Errorf("%w: welcome names node %q but the certificate is %s", peer.ErrIdentity, w.Node, c.peer)
		}
		return c, w, nil
	}
	return nil, Welcome{}, &FrameError{Type: f.Type, Err: ErrFrameMalformed, Detail: "want welcome or reject"}
}
