package testkit

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Fault is what a Proxy does to the bytes it forwards.
type Fault struct {
	// Delay is added before each chunk is forwarded.
	Delay time.Duration
	// Blackhole stops forwarding in both directions; connections stay
	// open (a partition that TCP does not notice).
	Blackhole bool
	// DropEvery, if > 0, drops every DropEvery-th chunk (damaging the
	// stream: the receiver must notice).
	DropEvery int
	// Refuse closes new connections at once.
	Refuse bool
}

// Proxy forwards TCP connections on loopback to a target, with faults
// injected on demand: the fault proxy of the replication tests.
type Proxy struct {
	l      net.Listener
	target string

	mu     sync.Mutex
	fault  Fault
	conns  map[net.Conn]struct{}
	wake   chan struct{} // closed when the fault changes
	closed bool
	wg     sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to target. It is
// closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: target, conns: make(map[net.Conn]struct{}), wake: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.accept()
	}()
	t.Cleanup(p.Close)
	return p
}

// Addr is the address to dial instead of the target.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// SetFault changes the fault for current and new connections.
func (p *Proxy) SetFault(f Fault) {
	p.mu.Lock()
	p.fault = f
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
}

// Cut closes every connection now (both sides see a reset or EOF).
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	close(p.wake) // pipes holding blackholed bytes notice the close
	p.wake = make(chan struct{})
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
	p.l.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.fault.Refuse || p.closed
		p.mu.Unlock()
		if refuse {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.pipe(in, out) }()
		go func() { defer p.wg.Done(); p.pipe(out, in) }()
	}
}

// pipe copies src to dst chunk by chunk, applying the fault.
func (p *Proxy) pipe(src, dst net.Conn) {
	defer func() {
		src.Close()
		dst.Close()
		p.mu.Lock()
		delete(p.conns, src)
		delete(p.conns, dst)
		p.mu.Unlock()
	}()
	buf := make([]byte, 16<<10)
	n := 0
	for {
		m, err := src.Read(buf)
		if m > 0 {
			n++
			for {
				p.mu.Lock()
				f, wake, closed := p.fault, p.wake, p.closed
				p.mu.Unlock()
				if closed {
					return
				}
				if !f.Blackhole {
					if f.Delay > 0 {
						time.Sleep(f.Delay)
					}
					if f.DropEvery > 0 && n%f.DropEvery == 0 {
						break
					}
					if _, err := dst.Write(buf[:m]); err != nil {
						return
					}
					break
				}
				<-wake // blackholed: hold the bytes until the fault changes or a cut
				if _, err := dst.Write(nil); err != nil {
					return
				}
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}
