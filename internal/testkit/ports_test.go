package testkit

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddrReserves: an address handed out is never handed out again,
// even while nothing listens on it.
func TestFreeAddrReserves(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		a := FreeAddr(t)
		if seen[a] {
			t.Fatalf("FreeAddr returned %s twice", a)
		}
		seen[a] = true
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if reservePort(port) {
			t.Fatalf("port %d reserved twice", port)
		}
	}
}
