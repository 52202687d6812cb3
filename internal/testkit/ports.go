package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// FreeAddr returns a loopback address ("127.0.0.1:port") that nothing
// listens on now, with a port outside the kernel's ephemeral range: a
// node restarted on its old address then never finds the port taken by
// another connection's local end (ports from ":0" are in that range, and
// any outgoing connection may be given one while the node is down).
func FreeAddr(t testing.TB) string {
	t.Helper()
	lo, hi := ephemeralRange()
	for range 1000 {
		port := 10000 + rand.IntN(50000)
		if port >= lo && port <= hi {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatalf("no free loopback port outside the ephemeral range %d-%d", lo, hi)
	return ""
}

// ephemeralRange is the kernel's range of local ports for outgoing
// connections (Linux; elsewhere a range that covers the usual ones).
func ephemeralRange() (lo, hi int) {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if _, err := fmt.Sscan(string(b), &lo, &hi); err == nil && lo > 0 && hi >= lo {
			return lo, hi
		}
	}
	return 32768, 65535
}
