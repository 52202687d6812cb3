package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// FreeAddr returns a loopback address ("127.0.0.1:port") that nothing
// listens on now, with a port outside the kernel's ephemeral range: a
// node restarted on its old address then never finds the port taken by
// another connection's local end (ports from ":0" are in that range, and
// any outgoing connection may be given one while the node is down).
//
// A test may hold an address for a while before it listens on it (a
// member's replication address before it is promoted), so FreeAddr
// also reserves the port: it never returns a port twice in a process,
// and it holds an exclusive lock on a file named after the port (in
// os.TempDir()) until the process exits, which other test processes
// (go test runs packages side by side) honour.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lo, hi := ephemeralRange()
	for range 1000 {
		port := 10000 + rand.IntN(50000)
		if port >= lo && port <= hi {
			continue
		}
		if !reservePort(port) {
			continue // another test holds it
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken by something else (the reservation stays: skip it for good)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatalf("no free loopback port outside the ephemeral range %d-%d", lo, hi)
	return ""
}

// reserved holds the ports FreeAddr handed out in this process and the
// lock files that reserve them across processes.
var reserved struct {
	sync.Mutex
	ports map[int]*os.File
}

// reservePort reports whether port was free to reserve: not handed out
// in this process and not locked by another. Without a lock directory
// (a read-only temp), only this process's reservations count.
func reservePort(port int) bool {
	reserved.Lock()
	defer reserved.Unlock()
	if _, ok := reserved.ports[port]; ok {
		return false
	}
	if reserved.ports == nil {
		reserved.ports = map[int]*os.File{}
	}
	dir := filepath.Join(os.TempDir(), "continuity-test-ports")
	var f *os.File
	if err := os.MkdirAll(dir, 0o777); err == nil {
		f, err = os.OpenFile(filepath.Join(dir, fmt.Sprint(port)), os.O_CREATE|os.O_RDWR, 0o666)
		if err == nil {
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				f.Close()
				return false // another process holds it
			}
		}
	}
	reserved.ports[port] = f // kept open: the lock lasts until the process exits
	return true
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
