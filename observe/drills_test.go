package observe

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/archive"
)

// drills is a DrillSource a test sets.
type drills struct {
	mu          sync.Mutex
	last        archive.DrillResult
	runs, fails int
}

func (d *drills) Last() (archive.DrillResult, int, int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last, d.runs, d.fails, d.runs > 0
}

func (d *drills) ran(r archive.DrillResult) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = r
	d.runs++
	if r.Err != nil {
		d.fails++
	}
}

// gather returns the registry's unlabelled series by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) > 0 {
				continue
			}
			switch {
			case m.GetGauge() != nil:
				got[mf.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[mf.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}

// TestDrillMetrics: the drill metrics exist only when Options.Drills is
// set, from the start (a time of 0 and NaN until the first drill, so
// that alerts see them), then follow the last drill; continuity_ready is
// 1 on a single node.
func TestDrillMetrics(t *testing.T) {
	n, err := continuity.Open(t.Context(), continuity.Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &counter{})
	require.NoError(t, err)
	defer n.Close()

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(n, Options{}))
	got := gather(t, reg)
	assert.Equal(t, 1.0, got["continuity_ready"], "continuity_ready of a single node")
	for name := range got {
		assert.NotContains(t, name, "drill", "a drill metric without Options.Drills")
	}

	d := &drills{}
	c := NewCollector(n, Options{Drills: d})
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	reg = prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	got = gather(t, reg)
	assert.Equal(t, 0.0, got["continuity_drill_last_timestamp_seconds"], "before the first drill")
	assert.True(t, math.IsNaN(got["continuity_drill_last_ok"]), "continuity_drill_last_ok before the first drill: %v", got["continuity_drill_last_ok"])
	assert.True(t, math.IsNaN(got["continuity_drill_last_rto_seconds"]), "continuity_drill_last_rto_seconds before the first drill: %v", got["continuity_drill_last_rto_seconds"])
	assert.Equal(t, 0.0, got["continuity_drills_total"])
	assert.Equal(t, 0.0, got["continuity_drill_failures_total"])

	at := time.Unix(1_700_000_000, 0)
	d.ran(archive.DrillResult{At: at, RTO: 1500 * time.Millisecond})
	got = gather(t, reg)
	assert.Equal(t, 1.0, got["continuity_drill_last_ok"])
	assert.Equal(t, 1.5, got["continuity_drill_last_rto_seconds"])
	assert.Equal(t, float64(at.Unix()), got["continuity_drill_last_timestamp_seconds"])

	d.ran(archive.DrillResult{At: at.Add(time.Hour), RTO: time.Second, Err: errors.New("archive: drill: check failed")})
	got = gather(t, reg)
	assert.Equal(t, 0.0, got["continuity_drill_last_ok"], "after a failed drill")
	assert.Equal(t, float64(at.Add(time.Hour).Unix()), got["continuity_drill_last_timestamp_seconds"])
	assert.Equal(t, 2.0, got["continuity_drills_total"])
	assert.Equal(t, 1.0, got["continuity_drill_failures_total"])
}
