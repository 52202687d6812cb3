package failover

import (
	"context"
	"errors"
	"net"
	"sync"
)

// faultNet routes the coordinators' connections and cuts them on demand:
// a partition from a to b fails every write from a to b and every read at
// a of what b sent, on connections old and new.
type faultNet struct {
	mu      sync.Mutex
	nodes   map[string]string // address → node
	blocked map[[2]string]bool
	conns   map[*faultConn]struct{}
}

func newFaultNet() *faultNet {
	return &faultNet{nodes: map[string]string{}, blocked: map[[2]string]bool{}, conns: map[*faultConn]struct{}{}}
}

func (f *faultNet) name(addr, node string) {
	f.mu.Lock()
	f.nodes[addr] = node
	f.mu.Unlock()
}

var errPartitioned = errors.New("faultnet: partitioned")

func (f *faultNet) dialer(from string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		f.mu.Lock()
		to := f.nodes[addr]
		cut := f.blocked[[2]string{from, to}]
		f.mu.Unlock()
		if cut {
			return nil, errPartitioned
		}
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		fc := &faultConn{Conn: c, f: f, from: from, to: to}
		f.mu.Lock()
		f.conns[fc] = struct{}{}
		f.mu.Unlock()
		return fc, nil
	}
}

// partition cuts a→b (and b→a if both).
func (f *faultNet) partition(a, b string, both bool) {
	f.mu.Lock()
	f.blocked[[2]string{a, b}] = true
	if both {
		f.blocked[[2]string{b, a}] = true
	}
	var cut []*faultConn
	for c := range f.conns {
		if f.blocked[[2]string{c.from, c.to}] || f.blocked[[2]string{c.to, c.from}] {
			cut = append(cut, c)
		}
	}
	f.mu.Unlock()
	for _, c := range cut {
		c.Conn.Close() // in-flight exchanges fail now, not at their timeouts
	}
}

// isolate cuts node off from every other node, both ways.
func (f *faultNet) isolate(node string, others []string) {
	for _, o := range others {
		if o != node {
			f.partition(node, o, true)
		}
	}
}

func (f *faultNet) heal() {
	f.mu.Lock()
	f.blocked = map[[2]string]bool{}
	f.mu.Unlock()
}

type faultConn struct {
	net.Conn
	f        *faultNet
	from, to string
}

func (c *faultConn) cut(a, b string) bool {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return c.f.blocked[[2]string{a, b}]
}

func (c *faultConn) Write(p []byte) (int, error) {
	if c.cut(c.from, c.to) {
		c.Conn.Close()
		return 0, errPartitioned
	}
	return c.Conn.Write(p)
}

func (c *faultConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.cut(c.to, c.from) {
		c.Conn.Close()
		return 0, errPartitioned
	}
	return n, err
}

func (c *faultConn) Close() error {
	c.f.mu.Lock()
	delete(c.f.conns, c)
	c.f.mu.Unlock()
	return c.Conn.Close()
}
