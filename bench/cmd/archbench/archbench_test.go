package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/bench/internal/charttest"
)

func TestParseFlags(t *testing.T) {
	s, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.runs != 3 || s.duration != time.Minute || s.rate != 10_000 || s.payload != 256 || s.state != 1<<30 || s.events != 1_000_000 ||
		!slices.Equal(s.stores, allStores) || !slices.Equal(s.suites, allSuites) {
		t.Errorf("defaults %+v", s)
	}
	s, err = parseFlags([]string{"-quick", "-runs", "2", "-stores", "s3, file", "-suites", "restore"})
	if err != nil {
		t.Fatal(err)
	}
	if s.runs != 2 || s.duration != quickDuration || s.state != 64<<20 || s.events != quickEvents ||
		!slices.Equal(s.stores, []string{storeFile, storeS3}) || s.suite(suiteLag) || !s.suite(suiteRestore) {
		t.Errorf("-quick -runs 2: %+v", s)
	}
	_, err = parseFlags([]string{"-runs", "0", "-duration", "1ms", "-rate", "0", "-payload", "0", "-state", "x", "-events", "0", "-stores", "gcs", "-suites", "wal", "-puts", "0"})
	for _, flag := range []string{"-runs", "-duration", "-rate", "-payload", "-state", "-events", "-stores", "-suites", "-puts"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("bad flags gave %v, want an error naming %s", err, flag)
		}
	}
}

func TestReplaceBlock(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            bool
	}{
		{"replace", "a\n" + beginMarker + "\nold\n" + endMarker + "\nb\n", "a\n" + beginMarker + "\nnew\n" + endMarker + "\nb\n", false},
		{"append", "# T\n", "# T\n\n" + sectionHeading + "\n\n" + beginMarker + "\nnew\n" + endMarker + "\n", false},
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

// TestReport renders a report from made-up results and checks the
// target's verdict and the skipped store's line.
func TestReport(t *testing.T) {
	s, err := parseFlags([]string{"-runs", "2"})
	if err != nil {
		t.Fatal(err)
	}
	file := &store{kind: storeFile, label: "file://", desc: "a directory"}
	s3 := &store{kind: storeS3, label: "S3", desc: "a server"}
	run := func(p99 time.Duration) lagRun {
		return lagRun{perSec: 10_000, lagP50: p99 / 2, lagP99: p99, lagMax: p99, restore: time.Second, restoreRecs: 1000,
			lagSample: benchkit.SampleMs([]time.Duration{0, p99 / 2, p99}, 3)}
	}
	res := &results{
		stores: []*store{file, s3},
		lag: []*lagJob{
			{store: file, runs: []lagRun{run(500 * time.Millisecond), run(600 * time.Millisecond)}},
			{store: s3, runs: []lagRun{run(900 * time.Millisecond), run(1200 * time.Millisecond)}},
		},
		restores: []*restoreJob{{store: file, runs: []restoreRun{{cold: true, open: time.Second, restore: 3 * time.Second, base: time.Second, records: 1e6, bytes: 256e6}}}},
	}
	out := renderReport(s, benchkit.System{}, res, "")
	checkCharts(t, s, res, "arch-lag.png", "arch-restore.png")
	for _, want := range []string{
		"| file://: p99 per-record lag ≤ 1 s in every run | 0.550 (0.500–0.600) s | yes |",
		"| S3: p99 per-record lag ≤ 1 s in every run | 1.05 (0.900–1.20) s | no (1 of 2 runs) |",
		"1 of 2 target checks met.",
		"#### Restore (RTO): 1 GiB state + 1,000,000 events of 256 B",
		"| file:// | from disk | 4.00 | 1.00 | 1.00 | 1,074 | 2.00 | 500,000 | 128 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Scaled down") {
		t.Errorf("full-size restore called scaled down:\n%s", out)
	}
	lag := res.lag
	res.lag = nil
	checkCharts(t, s, res, "arch-restore.png")
	res.lag, res.restores = lag, nil
	checkCharts(t, s, res, "arch-lag.png")
	res.skipped = []string{"S3: skipped: no server"}
	if out := renderReport(s, benchkit.System{}, res, ""); !strings.Contains(out, "\nS3: skipped: no server\n") || !strings.Contains(out, "| Store S3 | skipped: no server |") {
		t.Errorf("skipped store not reported:\n%s", out)
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

// TestArchbenchSmoke runs the command's logic end to end on file://
// only, with a one-second lag run and a tiny restore, writing into a
// copy of a README, so that the harness cannot rot between full runs.
// The numbers are not checked: timings never decide whether a test
// passes (the restores' correctness checks do).
func TestArchbenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an archiver against a log on disk")
	}
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# Benchmarks\n\n"+beginMarker+"\nold\n"+endMarker+"\n\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := parseFlags([]string{"-stores", "file", "-runs", "1", "-duration", "1s", "-state", "2MiB", "-events", "20000", "-puts", "3", "-dir", dir, "-readme", readme, "-charts", filepath.Join(dir, "charts")})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := execute(context.Background(), s, "-stores file", &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"#### Archive lag (RPO): 10,000 events/s of 256 B for 1s", "#### Archive uploads",
		"#### Restore (RTO): 2 MiB state + 20,000 events of 256 B", "Scaled down from the issue's 1 GiB + 1,000,000 events",
		"#### Limits of the restore", "#### Building the restore archive", "#### Target",
		"| file://: p99 per-record lag ≤ 1 s in every run |",
		"#### Charts", "](charts/arch-lag.png)", "](charts/arch-restore.png)",
		endMarker + "\n\nafter\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README lacks %q:\n%s", want, text)
		}
	}
	// One row per table for the store.
	if n := strings.Count(text, "\n| file:// |"); n != 5 {
		t.Errorf("%d rows for file://, want 5 (lag, uploads, restore, limits, build):\n%s", n, text)
	}
	for _, f := range []string{"arch-lag.png", "arch-restore.png"} {
		if _, err := os.Stat(filepath.Join(dir, "charts", f)); err != nil {
			t.Errorf("chart not drawn: %v", err)
		}
	}
	if strings.Contains(text, "\nold\n") || !strings.Contains(out.String(), "#### Archive lag") {
		t.Errorf("report not written in place:\n%s", text)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "archbench-") {
			t.Errorf("work directory %s left behind", e.Name())
		}
	}
}
