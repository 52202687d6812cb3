package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestChangesOnlyFromLoopback: the endpoints that change the cluster
// answer requests from this machine and refuse others with 403.
func TestChangesOnlyFromLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:5555": true, "[::1]:5555": true, "10.1.2.3:5555": false, "[2001:db8::1]:80": false, "garbage": false} {
		r := httptest.NewRequest(http.MethodPost, "/cluster/maintenance", nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		if got := fromLoopback(w, r); got != want || !got && w.Code != http.StatusForbidden {
			t.Errorf("from %s: allowed %v (status %d), want %v", addr, got, w.Code, want)
		}
	}
}
