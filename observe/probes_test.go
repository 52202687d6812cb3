package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
)

// slowed is a counter whose Apply takes a while when slow is set, so
// that a test can hold a standby's state behind its log. It does not
// block: Node.Live and Node.Healthy wait for a running Apply.
type slowed struct {
	counter
	slow atomic.Bool
}

func (s *slowed) Apply(rec continuity.Record) error {
	if s.slow.Load() {
		time.Sleep(20 * time.Millisecond) // a slow state machine, not a synchronization
	}
	return s.counter.Apply(rec)
}

// probe is one GET of a probe: its status and reasons.
type probe struct {
	code    int
	reasons []string
}

func (p probe) String() string { return fmt.Sprintf("%d %q", p.code, p.reasons) }

func getProbe(t *testing.T, url string) probe {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct{ Reasons []string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r), "%s", url)
	require.NotNil(t, r.Reasons, "%s: no reasons list", url)
	return probe{code: resp.StatusCode, reasons: r.Reasons}
}

// TestReadyzTransitions follows a standby's /readyz (and the
// continuity_ready gauge) through its states: not ready before it has
// heard from a Raft leader (no primary known), ready once the primary
// confirmed it, not ready while its state is more than ReadyMaxBehind
// records behind the primary's, and ready again once it caught up.
// /livez stays 200, and a /readyz without a bound stays 200 while the
// standby lags.
//
// Not covered here: a standby whose state diverged and is being rebuilt
// by a state transfer (Node.Ready false). Producing that takes a deposed
// primary with a cut history (rejoin_test.go TestRestartedDeposedPrimary
// in the root package), and the rebuild may end before any probe sees it;
// /readyz reports Node.Ready's reason as it does for the states here.
func TestReadyzTransitions(t *testing.T) {
	ctx := t.Context()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	archiveURL := "file://" + filepath.ToSlash(t.TempDir())
	var key [32]byte // one archive, one key for the cluster
	key[0] = 18
	type member struct {
		id, raft, repl string
		sm             *slowed
		n              *continuity.Node
	}
	ms := []*member{{id: "n1"}, {id: "n2"}}
	for i, m := range ms {
		m.raft, m.repl, m.sm = testkit.FreeAddr(t), testkit.FreeAddr(t), &slowed{}
		n, err := continuity.Open(ctx, continuity.Config{Dir: t.TempDir(), Archive: archiveURL, Keys: snapshot.RawKey(key), Logger: lg,
			Cluster: &continuity.ClusterConfig{Node: m.id, RaftBind: m.raft, ReplBind: m.repl, Bootstrap: i == 0, Sync: 1, InsecurePlaintext: true}}, m.sm)
		require.NoError(t, err, "open %s", m.id)
		m.n = n
		defer n.Close()
	}
	primary, standby := ms[0], ms[1]

	const limit = 5
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(standby.n, Options{}))
	srv := httptest.NewServer(Handler(standby.n, reg, Options{ReadyMaxBehind: limit}))
	defer srv.Close()
	unbounded := httptest.NewServer(Handler(standby.n, prometheus.NewRegistry(), Options{}))
	defer unbounded.Close()
	readyGauge := func() float64 {
		t.Helper()
		v, ok := gather(t, reg)["continuity_ready"]
		require.True(t, ok, "no continuity_ready")
		return v
	}

	// Not joined yet: it knows no leader, so no primary.
	p := getProbe(t, srv.URL+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, p.code, "/readyz of a node that knows no primary: %v", p)
	require.Len(t, p.reasons, 1, "%v", p)
	assert.Contains(t, p.reasons[0], "Raft leader")
	assert.Equal(t, 0.0, readyGauge(), "continuity_ready of a node that knows no primary")
	get(t, srv.URL+"/livez", http.StatusOK)

	require.NoError(t, primary.n.Join(ctx, standby.id, standby.raft, standby.repl, true))
	testkit.Eventually(t, func() bool { _, ok := primary.n.Coordinator().CanWrite(); return ok }, "%s to become primary", primary.id)
	var last continuity.LSN
	testkit.Eventually(t, func() bool {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second) // one attempt; a failed one is retried
		defer cancel()
		var err error
		_, last, err = primary.n.Append(actx, []byte("first"))
		return err == nil
	}, "a write acknowledged by %s", primary.id)
	require.NoError(t, standby.n.WaitFor(ctx, last))
	testkit.Eventually(t, func() bool { return getProbe(t, srv.URL+"/readyz").code == http.StatusOK },
		"/readyz of the standby to turn ready (%v)", getProbe(t, srv.URL+"/readyz"))
	assert.Equal(t, 1.0, readyGauge(), "continuity_ready of a ready standby")

	// The standby's state applies slowly; its log keeps up.
	standby.sm.slow.Store(true)
	for i := range 200 { // 4 s for the standby to apply
		_, _, err := primary.n.Append(ctx, fmt.Appendf(nil, "event %d", i))
		require.NoError(t, err)
	}
	testkit.Eventually(t, func() bool { return getProbe(t, srv.URL+"/readyz").code == http.StatusServiceUnavailable },
		"/readyz of a standby more than %d records behind to fail (Behind %d)", limit, standby.n.Behind())
	p = getProbe(t, srv.URL+"/readyz")
	require.Len(t, p.reasons, 1, "%v", p)
	assert.Contains(t, p.reasons[0], fmt.Sprintf("records behind the primary (limit %d)", limit))
	assert.Equal(t, http.StatusOK, getProbe(t, unbounded.URL+"/readyz").code, "/readyz without ReadyMaxBehind")
	assert.Equal(t, 1.0, readyGauge(), "continuity_ready follows Node.Ready, which has no bound")
	get(t, srv.URL+"/livez", http.StatusOK)

	// It catches up.
	standby.sm.slow.Store(false)
	testkit.Eventually(t, func() bool { return getProbe(t, srv.URL+"/readyz").code == http.StatusOK },
		"/readyz of the standby to turn ready once it caught up (Behind %d)", standby.n.Behind())
	assert.Empty(t, getProbe(t, srv.URL+"/readyz").reasons)
}
