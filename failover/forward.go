package failover

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/continuity-go/continuity/peer"
)

// Commands reach the Raft leader from any node over the coordinator's
// own port: a connection whose first byte is forwardMagic carries one
// forwarded command; any other first byte is Raft's (its RPC types are
// small integers) and goes to the Raft transport with the byte put back.
const (
	forwardMagic    byte = 0xC7
	forwardOK       byte = 0
	forwardRefused  byte = 1 // the command was applied and refused (stale epoch ...)
	forwardNoLeader byte = 2 // the receiver is not the leader (any more)
	forwardFailed   byte = 3 // the command could not be applied
	maxForwardReply      = 8 << 10
)

// muxStream splits one listener between Raft and forwarded commands.
type muxStream struct {
	*tlsStream
	connMu    sync.Mutex
	conns     map[net.Conn]struct{} // open connections, accepted or dialed, closed by Close
	raftConns chan net.Conn
	handle    func(peer string, cmd []byte) (status byte, msg string)
	closeOnce sync.Once
	done      chan struct{}
}

func newMux(s *tlsStream, handle func(peer string, cmd []byte) (status byte, msg string)) *muxStream {
	m := &muxStream{tlsStream: s, raftConns: make(chan net.Conn), handle: handle, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	go m.loop()
	return m
}

func (m *muxStream) loop() {
	for {
		c, err := m.tlsStream.Accept()
		if err != nil {
			m.closeOnce.Do(func() { close(m.done) })
			return
		}
		if !m.track(c) {
			return
		}
		go m.route(c)
	}
}

// track registers an open connection; false if the stream is closed (and
// c with it).
func (m *muxStream) track(c net.Conn) bool {
	m.connMu.Lock()
	defer m.connMu.Unlock()
	if m.conns == nil {
		c.Close()
		return false
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *muxStream) untrack(c net.Conn) {
	m.connMu.Lock()
	defer m.connMu.Unlock()
	delete(m.conns, c)
}

// trackedConn untracks itself when closed.
type trackedConn struct {
	net.Conn
	m    *muxStream
	once sync.Once
}

func (t *trackedConn) Close() error {
	t.once.Do(func() { t.m.untrack(t.Conn) })
	return t.Conn.Close()
}

// Dial connects to a peer's coordinator; Close closes the connection
// along with the stream.
func (m *muxStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := m.tlsStream.Dial(address, timeout)
	if err != nil {
		return nil, err
	}
	if !m.track(c) {
		return nil, errors.New("failover: stream closed")
	}
	return &trackedConn{Conn: c, m: m}, nil
}

func (m *muxStream) route(c net.Conn) {
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	if first[0] == forwardMagic {
		m.serveForward(c, br)
		return
	}
	select {
	case m.raftConns <- &peekedConn{Conn: &trackedConn{Conn: c, m: m}, r: br}:
	case <-m.done:
		c.Close()
	}
}

// Accept returns the next Raft connection.
func (m *muxStream) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftConns:
		return c, nil
	case <-m.done:
		return nil, errors.New("failover: listener closed")
	}
}

// Close closes the listener.
func (m *muxStream) Close() error {
	err := m.tlsStream.Close()
	m.connMu.Lock()
	for c := range m.conns {
		c.Close()
	}
	m.conns = nil
	m.connMu.Unlock()
	m.closeOnce.Do(func() { close(m.done) })
	return err
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// serveForward reads one command (magic, u32 length, bytes), applies it
// and writes the outcome (status byte, u32 length, message).
func (m *muxStream) serveForward(c net.Conn, br *bufio.Reader) {
	defer m.untrack(c)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cmd, err := readForward(br)
	if errors.Is(err, errForwardTooLarge) {
		writeReply(c, forwardFailed, err.Error())
		return
	}
	if err != nil {
		return
	}
	who, err := m.peerOf(c)
	if err != nil {
		writeReply(c, forwardRefused, err.Error())
		return
	}
	status, msg := m.handle(who, cmd)
	writeReply(c, status, msg)
}

// peerOf is the node ID the connection's certificate names: who sent a
// forwarded command, which the leader authorizes by it. Without TLS
// (tests only) it is "" and nothing is authorized.
func (m *muxStream) peerOf(c net.Conn) (string, error) {
	if m.tlsStream.client == nil {
		return "", nil
	}
	tc, ok := c.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return "", fmt.Errorf("%w: the connection carries no TLS identity", ErrUnauthorized)
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", fmt.Errorf("%w: the peer presented no certificate", ErrUnauthorized)
	}
	id, err := peer.IdentityOf(certs[0])
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return id.Node, nil
}

func writeReply(w io.Writer, status byte, msg string) {
	if len(msg) > maxForwardReply {
		msg = msg[:maxForwardReply]
	}
	b := make([]byte, 5, 5+len(msg))
	b[0] = status
	binary.LittleEndian.PutUint32(b[1:], uint32(len(msg)))
	w.Write(append(b, msg...))
}

// forward sends cmd to the coordinator at addr and returns its outcome:
// the status byte and message of its reply, or err if no reply came.
func (m *muxStream) forward(addr raft.ServerAddress, cmd []byte, timeout time.Duration) (status byte, msg string, err error) {
	c, err := m.Dial(addr, timeout)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b := make([]byte, 5, 5+len(cmd))
	b[0] = forwardMagic
	binary.LittleEndian.PutUint32(b[1:], uint32(len(cmd)))
	if _, err := c.Write(append(b, cmd...)); err != nil {
		return 0, "", err
	}
	status, msg, err = readReply(c)
	if err != nil {
		return 0, "", fmt.Errorf("failover: reply from %s: %w", addr, err)
	}
	return status, msg, nil
}

// errForwardTooLarge: a forwarded command or reply longer than allowed.
var errForwardTooLarge = errors.New("failover: forwarded message too large")

// readForward reads a forwarded command (magic, u32 length, bytes),
// allocating only once the length is within maxCommandBytes.
func readForward(r io.Reader) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != forwardMagic {
		return nil, fmt.Errorf("failover: forwarded command starts with %#x", hdr[0])
	}
	n := binary.LittleEndian.Uint32(hdr[1:])
	if n > maxCommandBytes {
		return nil, fmt.Errorf("%w: command of %d bytes exceeds %d", errForwardTooLarge, n, maxCommandBytes)
	}
	cmd := make([]byte, n)
	if _, err := io.ReadFull(r, cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// readReply reads a reply (status byte, u32 length, message), allocating
// only once the length is within maxForwardReply.
func readReply(r io.Reader) (status byte, msg string, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, "", err
	}
	n := binary.LittleEndian.Uint32(hdr[1:])
	if n > maxForwardReply {
		return 0, "", fmt.Errorf("%w: reply of %d bytes", errForwardTooLarge, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, "", err
	}
	return hdr[0], string(buf), nil
}
