package main

import (
	"context"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/bench/internal/charttest"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity/wal"
)

func TestParseFlags(t *testing.T) {
	s, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.runs != 5 || s.duration != 2*time.Second || !slices.Equal(s.writers, []int{1, 8, 64}) ||
		!slices.Equal(s.sizes, []int{128, 1024}) || !slices.Equal(s.modes, allModes) || !s.limits {
		t.Errorf("defaults %+v", s)
	}
	if s, err := parseFlags([]string{"-modes", "sync2, baseline", "-limits=false"}); err != nil || !slices.Equal(s.modes, []mode{modeBaseline, modeSync2}) || s.limits {
		t.Errorf("-modes sync2, baseline: %v, %v", s.modes, err)
	}
	_, err = parseFlags([]string{"-runs", "0", "-duration", "0s", "-writers", "0", "-sizes", "x", "-modes", "sync3"})
	for _, flag := range []string{"-runs", "-duration", "-writers", "-sizes", "-modes"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("bad flags gave %v, want an error naming %s", err, flag)
		}
	}
}

func TestModes(t *testing.T) {
	for m, want := range map[mode][2]int{modeBaseline: {0, 0}, modeAsync: {1, 0}, modeSync1: {1, 1}, modeSync2: {2, 2}} {
		if got := [2]int{m.standbys(), m.sync()}; got != want {
			t.Errorf("%s: standbys, sync = %v, want %v", m, got, want)
		}
	}
}

func TestReplaceBlock(t *testing.T) {
	for _, sec := range []struct {
		s settings
		benchkit.Section
	}{{settings{}, sectionOneDisk}, {settings{standbyDir: "/dev/shm"}, sectionApart}} {
		for _, tc := range []struct {
			name, in, want string
			err            bool
		}{
			{"replace", "a\n" + sec.Begin + "\nold\n" + sec.End + "\nb\n", "a\n" + sec.Begin + "\nnew\n" + sec.End + "\nb\n", false},
			{"append", "# T\n", "# T\n\n" + sec.Heading + "\n\n" + sec.Begin + "\nnew\n" + sec.End + "\n", false},
			{"reversed", sec.End + sec.Begin, "", true},
			{"begin only", sec.Begin, "", true},
		} {
			t.Run(sec.Begin+" "+tc.name, func(t *testing.T) {
				got, err := replaceBlock(sec.s, tc.in, "new\n")
				if (err != nil) != tc.err || got != tc.want {
					t.Errorf("got %q, %v; want %q, error %v", got, err, tc.want, tc.err)
				}
			})
		}
	}
	if sectionOneDisk.Begin == sectionApart.Begin || chartPrefix(settings{}) == chartPrefix(settings{standbyDir: "x"}) {
		t.Error("a run with -standby-dir would overwrite the one-disk run's section or charts")
	}
}

func TestSchedQuantiles(t *testing.T) {
	buckets := []float64{0, 1e-6, 1e-5, 1e-4, math.Inf(1)}
	h0 := &metrics.Float64Histogram{Counts: []uint64{5, 5, 5, 5}, Buckets: buckets}
	h1 := &metrics.Float64Histogram{Counts: []uint64{5, 55, 53, 7}, Buckets: buckets} // 50, 48, 2 new
	if p50, p99 := schedQuantiles(h0, h1); p50 != 10*time.Microsecond || p99 != 100*time.Microsecond {
		t.Errorf("p50, p99 = %v, %v; want 10µs, 100µs", p50, p99)
	}
	if p50, p99 := schedQuantiles(h1, h1); p50 != 0 || p99 != 0 {
		t.Errorf("no waits gave %v, %v", p50, p99)
	}
}

func TestApplyClock(t *testing.T) {
	c := &applyClock{base: time.Now()}
	for lsn := wal.LSN(1); lsn <= 3; lsn++ {
		if err := c.Apply(wal.Record{LSN: lsn}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Apply(wal.Record{LSN: 5}); err == nil {
		t.Error("a gap was applied")
	}
	if _, ok := c.appliedAt(3); !ok {
		t.Error("LSN 3 not applied")
	}
	if _, ok := c.appliedAt(4); ok {
		t.Error("LSN 4 applied")
	}
	if n := c.appliedBetween(0, time.Hour); n != 3 {
		t.Errorf("%d applied, want 3", n)
	}
}

// TestReport renders a report from made-up results and checks that the
// targets are computed from the right cells.
func TestReport(t *testing.T) {
	s := settings{runs: 1, writers: []int{1}, sizes: []int{128}, modes: allModes, limits: true}
	res := &results{}
	add := func(m mode, ops float64, p50 time.Duration) {
		var lats []time.Duration
		for i := range 100 {
			lats = append(lats, p50/2+time.Duration(i)*p50/50)
		}
		r := runResult{opsPerSec: ops, p50: p50, p99: 2 * p50, cpuPerOp: time.Microsecond, latSample: benchkit.SampleMs(lats, 10)}
		if m == modeAsync {
			r.lagSample = benchkit.SampleMs(lats, 10)
		}
		res.repl = append(res.repl, &job{mode: m, writers: 1, size: 128, runs: []runResult{r}})
	}
	add(modeBaseline, 10000, 100*time.Microsecond)
	add(modeAsync, 9600, 110*time.Microsecond)
	add(modeSync1, 4000, 250*time.Microsecond)
	add(modeSync2, 3000, 300*time.Microsecond)
	for _, l := range allLimits {
		res.limits = append(res.limits, &job{limit: l, writers: 1, size: 128, runs: []runResult{{opsPerSec: 1000, p50: 100 * time.Microsecond}}})
	}
	out := renderReport(s, benchkit.System{}, res, "")
	checkCharts(t, s, res, "repl-lag.png", "repl-latency.png", "repl-throughput.png")
	for _, want := range []string{
		"async records/s ÷ baseline records/s ≥ 0.95 | 0.96 | yes |",
		"sync(1) p50 ÷ async p50 ≤ 2 | 2.27 | no |",
		"1 of 2 target checks met.",
		"#### Asynchronous standby", "#### Physical limits",
		"| 128 B | 1.00 | 2.00 | 2.00 | 2.00 |", // every limit at 0.1 ms: side ÷ one, (pair + rtt) ÷ one, (one + rtt) ÷ one, (serial + rtt) ÷ one
		"| 128 B | 1 | 0.96 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// checkCharts draws the charts of res into a temporary directory and
// checks that exactly the files named are drawn, PNGs, and linked from
// the Markdown under the charts heading; and that without -charts
// nothing is drawn.
func checkCharts(t *testing.T, s settings, res *results, files ...string) {
	t.Helper()
	charttest.Check(t, func(cs *benchkit.Charts) (string, error) { return drawCharts(cs, s, res) }, files...)
}

// TestReplbenchSmoke runs the command's logic end to end, briefly and
// once, with every mode and physical limit, writing into a copy of a
// README, so that the harness cannot rot between full runs. The numbers
// are not checked: timings never decide whether a test passes.
func TestReplbenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs replicated logs on disk")
	}
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# Benchmarks\n\n"+sectionOneDisk.Begin+"\nold\n"+sectionOneDisk.End+"\n\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := parseFlags([]string{"-runs", "1", "-duration", "150ms", "-warmup", "50ms", "-writers", "1,8", "-sizes", "128", "-dir", dir, "-readme", readme, "-charts", filepath.Join(dir, "charts")})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := execute(context.Background(), s, "-runs 1", &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"| 128 B | 8 | sync(2), 2 standbys |", "| 128 B | 1 | async, 1 standby |",
		"#### Asynchronous standby", "| 128 B | TLS round trip", "#### Targets", "8 writers, 128 B: sync(1) p50 ÷ async p50",
		"#### Charts", "](charts/repl-throughput.png)", "](charts/repl-latency.png)", "](charts/repl-lag.png)",
		sectionOneDisk.End + "\n\nafter\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README lacks %q:\n%s", want, text)
		}
	}
	for _, f := range []string{"repl-throughput.png", "repl-latency.png", "repl-lag.png"} {
		if _, err := os.Stat(filepath.Join(dir, "charts", f)); err != nil {
			t.Errorf("chart not drawn: %v", err)
		}
	}
	if strings.Contains(text, "\nold\n") || !strings.Contains(out.String(), "#### Appends") {
		t.Errorf("report not written in place:\n%s", text)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "replbench-") {
			t.Errorf("work directory %s left behind", e.Name())
		}
	}
}
