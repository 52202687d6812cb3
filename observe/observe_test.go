package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/internal/testkit"
)

type counter struct {
	mu   sync.Mutex
	n    int
	fail bool
}

func (c *counter) Apply(rec continuity.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errors.New("the disk of the read model is full")
	}
	c.n++
	return nil
}

func (c *counter) Snapshot(w io.Writer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintf(w, "%d", c.n)
	return err
}

func (c *counter) Restore(r io.Reader) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fscan(r, &c.n)
	return err
}

// TestMetricsAndHealth: the collector passes Prometheus' own lint, the
// counters follow appends, /metrics serves them and /healthz turns 503
// with the reason when the state machine fails.
func TestMetricsAndHealth(t *testing.T) {
	ctx := context.Background()
	sm := &counter{}
	n, err := continuity.Open(ctx, continuity.Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sm)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var last continuity.LSN
	for i := 0; i < 25; i++ {
		if _, last, err = n.Append(ctx, []byte("event")); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := n.Verify(ctx, true); err != nil || !v.OK() {
		t.Fatalf("Verify: %+v, %v", v, err)
	}
	c := NewCollector(n, Options{})
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(Handler(n, reg, Options{}))
	defer srv.Close()
	body := get(t, srv.URL+"/metrics", http.StatusOK)
	for _, want := range []string{"continuity_appended_events_total 25", "continuity_appended_bytes_total 125", "continuity_wal_last_lsn 25",
		"continuity_primary 1", "continuity_append_duration_seconds_count 25", "continuity_snapshots 1", "continuity_healthy 1",
		"continuity_restorable_latest_timestamp_seconds", "continuity_restorable_gaps 0", "continuity_archive_tail_missing 0", "continuity_verify_last_ok 1", "continuity_snapshot_last_dedup_ratio"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The node has uploaded, listed and read: each counted, non-zero.
	for _, re := range []string{`continuity_archive_requests_total\{op="put"\} [1-9]`, `continuity_archive_requests_total\{op="list"\} [1-9]`,
		`continuity_archive_requests_total\{op="get"\} [1-9]`, `continuity_archive_transfer_bytes_total\{direction="up"\} [1-9]`} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
	var h struct {
		Healthy bool
		Reasons []string
	}
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/healthz", http.StatusOK)), &h); err != nil || !h.Healthy {
		t.Fatalf("healthz: %+v %v", h, err)
	}
	sm.mu.Lock()
	sm.fail = true
	sm.mu.Unlock()
	if _, _, err := n.Append(ctx, []byte("event")); err != nil {
		t.Fatal(err)
	}
	// The applier fails the event in its own goroutine; /healthz reports
	// it once it has.
	testkit.Eventually(t, func() bool {
		if err := json.Unmarshal([]byte(get(t, srv.URL+"/healthz", 0)), &h); err != nil {
			t.Fatal(err)
		}
		return !h.Healthy
	}, "/healthz to turn unhealthy after the state machine failed")
	// The host's error text stays in the log unless ShowErrors.
	if len(h.Reasons) != 1 || h.Reasons[0] != "the state machine stopped (details in the node's log)" {
		t.Fatalf("reasons %v", h.Reasons)
	}
	get(t, srv.URL+"/healthz", http.StatusServiceUnavailable)
	// A stopped state machine is a process to restart.
	if body := get(t, srv.URL+"/livez", http.StatusServiceUnavailable); strings.Contains(body, "read model is full") || !strings.Contains(body, "state machine stopped") {
		t.Fatalf("/livez: %s", body)
	}
	shown := httptest.NewServer(Handler(n, reg, Options{ShowErrors: true}))
	defer shown.Close()
	if body := get(t, shown.URL+"/livez", http.StatusServiceUnavailable); !strings.Contains(body, "read model is full") {
		t.Fatalf("/livez with ShowErrors: %s", body)
	}
	var r struct{ Reasons []string }
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/readyz", http.StatusServiceUnavailable)), &r); err != nil || len(r.Reasons) != 1 {
		t.Fatalf("/readyz: one reason, the stopped state machine (Live's and Ready's): %v %v", r.Reasons, err)
	}
}

// TestProbes: /livez and /readyz of a working single node are 200 with
// empty reasons; a cluster node that has not heard from a leader is live
// but not ready, and says why.
func TestProbes(t *testing.T) {
	ctx := t.Context()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := continuity.Open(ctx, continuity.Config{Dir: t.TempDir(), Logger: lg}, &counter{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	srv := httptest.NewServer(Handler(n, prometheus.NewRegistry(), Options{}))
	defer srv.Close()
	for _, p := range []string{"/livez", "/readyz"} {
		if body := get(t, srv.URL+p, http.StatusOK); !strings.Contains(body, `"reasons":[]`) {
			t.Fatalf("%s: %s", p, body)
		}
	}
	// The metrics alerts need exist before their first run.
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(n, Options{}))
	msrv := httptest.NewServer(Handler(n, reg, Options{}))
	defer msrv.Close()
	body := get(t, msrv.URL+"/metrics", http.StatusOK)
	for _, want := range []string{"continuity_verify_last_timestamp_seconds 0", "continuity_verify_last_ok NaN",
		"continuity_snapshot_last_timestamp_seconds 0", "continuity_snapshot_last_state_bytes NaN", "continuity_maintenance_paused 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics before any verify or snapshot lacks %q", want)
		}
	}

	// A cluster node nobody bootstrapped: no leader, no role.
	free := func() string { return testkit.FreeAddr(t) }
	c, err := continuity.Open(ctx, continuity.Config{Dir: t.TempDir(), Archive: "file://" + filepath.ToSlash(t.TempDir()), Logger: lg,
		Cluster: &continuity.ClusterConfig{Node: "n1", RaftBind: free(), ReplBind: free(), InsecurePlaintext: true}}, &counter{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	csrv := httptest.NewServer(Handler(c, prometheus.NewRegistry(), Options{}))
	defer csrv.Close()
	get(t, csrv.URL+"/livez", http.StatusOK)
	if body := get(t, csrv.URL+"/readyz", http.StatusServiceUnavailable); !strings.Contains(body, "Raft leader") {
		t.Fatalf("/readyz of a node without a leader: %s", body)
	}
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want != 0 && resp.StatusCode != want {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}
