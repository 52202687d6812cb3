package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/internal/testkit"
)

// TestMaintenanceEndpoint: /cluster/maintenance shows the pause, POST
// sets it with its ttl and reason, DELETE ends it; a bad ttl and a
// single node are refused.
func TestMaintenanceEndpoint(t *testing.T) {
	ctx := t.Context()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := continuity.Open(ctx, continuity.Config{Dir: t.TempDir(), Archive: "file://" + filepath.ToSlash(t.TempDir()), Logger: quiet,
		Cluster: &continuity.ClusterConfig{Node: "n1", RaftBind: free(t), ReplBind: free(t), Bootstrap: true, InsecurePlaintext: true}}, &store{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	testkit.Eventually(t, func() bool { return n.Status().Primary == "n1" }, "n1 to be primary")
	srv := httptest.NewServer(handler(n, &store{}, nil))
	defer srv.Close()
	url := srv.URL + "/cluster/maintenance"

	call := func(method, url string, want int) maintenance {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %s %s, want %d", method, url, resp.Status, b, want)
		}
		var m maintenance
		if want == http.StatusOK {
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s %s: %v in %s", method, url, err, b)
			}
		}
		return m
	}

	if m := call("GET", url, http.StatusOK); m != (maintenance{}) {
		t.Fatalf("before any pause: %+v", m)
	}
	start := time.Now()
	m := call("POST", url+"?ttl=30m&reason=kernel+upgrade", http.StatusOK)
	if !m.Paused || m.Reason != "kernel upgrade" || m.By != "n1" || m.Until.Before(start.Add(30*time.Minute)) || m.Until.After(time.Now().Add(31*time.Minute)) {
		t.Fatalf("POST replied %+v; want paused for \"kernel upgrade\" by n1 for 30m", m)
	}
	if got := call("GET", url, http.StatusOK); got.Paused != m.Paused || got.Reason != m.Reason || got.By != m.By || !got.Until.Equal(m.Until) {
		t.Fatalf("GET %+v after POST %+v", got, m)
	}
	call("POST", url+"?ttl=soon", http.StatusBadRequest)
	call("POST", url+"?ttl=-1m", http.StatusBadRequest)
	if m := call("POST", url+"?reason=until+done", http.StatusOK); !m.Paused || m.Reason != "until done" || !m.Until.IsZero() {
		t.Fatalf("a POST without ttl replied %+v; want a pause without end", m)
	}
	if m := call("DELETE", url, http.StatusOK); m.Paused {
		t.Fatalf("DELETE replied %+v", m)
	}
	if m := call("GET", url, http.StatusOK); m.Paused {
		t.Fatalf("GET after DELETE: %+v", m)
	}

	single, err := continuity.Open(ctx, continuity.Config{Dir: t.TempDir(), Logger: quiet}, &store{})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	ssrv := httptest.NewServer(handler(single, &store{}, nil))
	defer ssrv.Close()
	call("POST", ssrv.URL+"/cluster/maintenance", http.StatusBadRequest)
	if m := call("GET", ssrv.URL+"/cluster/maintenance", http.StatusOK); m.Paused {
		t.Fatalf("a single node: %+v", m)
	}
	if body := strings.TrimSpace(getBody(t, ssrv.URL+"/cluster/maintenance")); body != `{"paused":false}` {
		t.Fatalf("GET on a single node: %s", body)
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
