package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/bench/internal/charttest"
	"github.com/continuity-go/continuity/bench/internal/peers"
)

func TestRoundBatch(t *testing.T) {
	for _, tc := range []struct {
		bytes float64
		want  int
	}{
		{0, 4096}, {176, 4096}, {4096, 4096}, {4144, 8192}, {5400, 8192}, {122000, 122880}, {1e12, 64 << 20},
	} {
		if got := roundBatch(tc.bytes); got != tc.want {
			t.Errorf("roundBatch(%v) = %d, want %d", tc.bytes, got, tc.want)
		}
	}
}

func TestSizeName(t *testing.T) {
	for n, want := range map[int]string{128: "128 B", 4096: "4 KiB", 122880: "120 KiB", 1 << 20: "1 MiB", 4144: "4144 B"} {
		if got := sizeName(n); got != want {
			t.Errorf("sizeName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestReplaceBlock(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            bool
	}{
		{"replace", "a\n" + beginMarker + "\nold\n" + endMarker + "\nb\n", "a\n" + beginMarker + "\nnew\n" + endMarker + "\nb\n", false},
		{"append", "# T\n", "# T\n\n## WAL: cmd/walbench\n\n" + beginMarker + "\nnew\n" + endMarker + "\n", false},
		{"reversed", endMarker + beginMarker, "", true},
		{"begin only", beginMarker, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replaceBlock(tc.in, "new\n")
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// countingAppender succeeds, after a short sleep, until fail is set.
type countingAppender struct {
	n    atomic.Int64
	fail atomic.Bool
}

var errInjected = errors.New("injected")

func (c *countingAppender) Append(p []byte) error {
	time.Sleep(100 * time.Microsecond)
	if c.fail.Load() {
		return errInjected
	}
	c.n.Add(1)
	return nil
}

func (c *countingAppender) Close() error { return nil }

func TestMeasure(t *testing.T) {
	a := &countingAppender{}
	payloads := [][]byte{make([]byte, 100), make([]byte, 100), make([]byte, 100)}
	r, err := measure(context.Background(), a, payloads, 20*time.Millisecond, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.opsPerSec <= 0 || r.p50 < 100*time.Microsecond || r.p99 < r.p50 {
		t.Errorf("implausible result %+v", r)
	}
	if got, want := r.mbPerSec, r.opsPerSec*100/1e6; got < want*0.99 || got > want*1.01 {
		t.Errorf("MB/s %v, want %v", got, want)
	}

	a.fail.Store(true)
	if _, err := measure(context.Background(), a, payloads, 20*time.Millisecond, time.Second); !errors.Is(err, errInjected) {
		t.Errorf("measure returned %v, want the append error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := measure(ctx, &countingAppender{}, payloads, time.Second, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("measure returned %v, want context.Canceled", err)
	}
}

func TestRenderReportWithoutTargets(t *testing.T) {
	// A report with no 64-writer or peer configuration must still render.
	s := settings{runs: 1, writers: []int{1}, sizes: []int{128}}
	res := &results{rawSize: map[*job]int{}}
	out := renderReport(s, benchkit.System{}, res, "")
	if !strings.Contains(out, "#### Targets") {
		t.Errorf("report lacks the targets table:\n%s", out)
	}
}

// TestCharts: throughput and p99 bars of the logs measured, a missing
// configuration (no group-commit peer with one writer) left as a gap;
// nothing without logs.
func TestCharts(t *testing.T) {
	s := settings{runs: 1, writers: []int{1, 8}, sizes: []int{128}}
	run := []runResult{{opsPerSec: 1000, p99: time.Millisecond}}
	res := &results{logs: []*job{
		{impl: peers.Continuity, writers: 1, size: 128, runs: run},
		{impl: peers.Continuity, writers: 8, size: 128, runs: run},
		{impl: peers.TidwallGroup, writers: 8, size: 128, runs: run},
	}}
	charttest.Check(t, func(cs *benchkit.Charts) (string, error) { return drawCharts(cs, s, res) }, "wal-p99.png", "wal-throughput.png")
	charttest.Check(t, func(cs *benchkit.Charts) (string, error) { return drawCharts(cs, s, &results{}) })
}
