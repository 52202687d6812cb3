package testkit

import (
	"net"
	"testing"
	"time"
)

// SlowLorisSource is the loopback address SlowLoris dials from: not the
// 127.0.0.1 that a test's legitimate peers use, so that the listener's
// per-source cap on handshakes keeps them apart.
const SlowLorisSource = "127.0.0.2"

// SlowLoris opens n TCP connections to addr from SlowLorisSource that
// never send a byte, as a slow-loris attack would, and closes them when
// the test ends. It skips the test where the loopback network has no
// 127.0.0.2 (macOS without an alias).
func SlowLoris(t testing.TB, addr string, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(SlowLorisSource)}, Timeout: EventuallyTimeout}
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		c, err := d.Dial("tcp", addr)
		if err != nil && i == 0 {
			t.Skipf("cannot dial from %s: %v", SlowLorisSource, err)
		}
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	return conns
}

// ClosedByPeer reports whether the other end closed c: a read returns an
// error other than a timeout within wait.
func ClosedByPeer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}
