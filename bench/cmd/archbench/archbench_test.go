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
// targets' verdicts, a few cells, and the skipped store's line.
func TestReport(t *testing.T) {
	s, err := parseFlags([]string{"-runs", "2"})
	if err != nil {
		t.Fatal(err)
	}
	file := &store{kind: storeFile, label: "file://", desc: "a directory"}
	s3 := &store{kind: storeS3, label: "S3", desc: "a server"}
	run := func(p99 time.Duration, share float64, gap time.Duration) lagRun {
		return lagRun{perSec: 10_000, lagP50: p99 / 2, lagP99: p99, lagMax: p99, restore: time.Second, restoreRecs: 1000,
			lagSample: benchkit.SampleMs([]time.Duration{0, p99 / 2, p99}, 3),
			integrity: integrityCost{walObjects: 100, uploaded: 120, compacted: 2, headsWritten: 62, headsHeld: 3, headBytes: 138, headsInLoad: 60,
				headGapMin: gap, share: share, perInterval: 1}}
	}
	verify := func(read, verify time.Duration) verifyRun {
		return verifyRun{cold: true, objects: 40, bytes: 100e6, read: read, verify: verify, readWarm: read / 2, verifyWarm: verify,
			readCPU: read / 2, verifyCPU: 2 * verify, decode: decodeTimes{unseal: 100 * time.Millisecond, records: 200 * time.Millisecond, chain: 300 * time.Millisecond}, decodeRecs: 1e6}
	}
	res := &results{
		stores: []*store{file, s3},
		lag: []*lagJob{
			{store: file, runs: []lagRun{run(500*time.Millisecond, 0.0004, time.Second), run(600*time.Millisecond, 0.0005, 1100*time.Millisecond)}},
			{store: s3, runs: []lagRun{run(900*time.Millisecond, 0.06, time.Second), run(1200*time.Millisecond, 0.0004, 900*time.Millisecond)}},
		},
		archives: []*archiveJob{
			{store: file, objects: 32, walBytes: 72e6, build: buildTimes{save: 4 * time.Second, appends: 2 * time.Second, flush: time.Second}},
			{store: s3, objects: 32, walBytes: 72e6, build: buildTimes{save: 5 * time.Second, appends: 2 * time.Second, flush: time.Second}},
		},
		restores: []*restoreJob{{store: file, runs: []restoreRun{{cold: true, open: time.Second, restore: 3 * time.Second, base: time.Second, records: 1e6, bytes: 256e6}}}},
		verifies: []*verifyJob{
			{store: file, runs: []verifyRun{verify(100*time.Millisecond, 110*time.Millisecond), verify(100*time.Millisecond, 130*time.Millisecond)}},
			{store: s3, runs: []verifyRun{verify(100*time.Millisecond, 400*time.Millisecond)}},
		},
	}
	out := renderReport(s, benchkit.System{}, res, "")
	checkCharts(t, s, res, "arch-lag.png", "arch-restore.png", "arch-verify.png")
	for _, want := range []string{
		"| file://: p99 per-record lag ≤ 1 s in every run (unchanged by format 2) | 0.550 (0.500–0.600) s | yes | `go run ./cmd/archbench -suites lag -stores file` |",
		"| S3: p99 per-record lag ≤ 1 s in every run (unchanged by format 2) | 1.05 (0.900–1.20) s | no (1 of 2 runs) |",
		"| file://: chain + head bytes ≤ 5% of upload bytes in every run | 0.0450% (0.0400%–0.0500%) | yes |",
		"| S3: chain + head bytes ≤ 5% of upload bytes in every run | 3.02% (0.0400%–6.00%) | no (1 of 2 runs) |",
		"| file://: ≤ 1 head per ShipInterval (1s) during the load, i.e. no two closer, in every run | shortest gap 1.05 (1.00–1.10) s | yes |",
		"| S3: ≤ 1 head per ShipInterval (1s) during the load, i.e. no two closer, in every run | shortest gap 0.950 (0.900–1.00) s | no (1 of 2 runs) |",
		"| file://: Verify MB/s ÷ plain read MB/s ≥ 0.8, from disk (median of runs) | 0.84 (0.77–0.91) | yes | `go run ./cmd/archbench -suites verify -stores file` |",
		"| S3: Verify MB/s ÷ plain read MB/s ≥ 0.8, from disk (median of runs) | 0.25 | no |",
		"4 of 8 target checks met.",
		"| file:// | 100 | 0 | 120 | 2 | 62 | 60 |",
		"| file:// | from disk | 40 | 100 | 0.100 | 1,000 | 0.120 (0.110–0.130) | 839 (769–909) | 0.84 (0.77–0.91) | 0.5 | 2.0 | 2,000 | 839 (769–909) | 0.42 (0.38–0.45) |",
		"| S3 | 0.100 | 0.200 | 0.300 | 0.600 | 120 | 1,666,667 | 1.50 |",
		"#### Restore (RTO): 1 GiB state + 1,000,000 events of 256 B",
		"| file:// | from disk | 4.00 | 1.00 | 1.00 | 1,074 | 2.00 | 500,000 | 128 | 32 |",
		"| S3 | 5.00 | 0 | 2.00 | 500,000 | 1.00 | 32 | 72.0 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Scaled down") {
		t.Errorf("full-size restore called scaled down:\n%s", out)
	}
	lag, verifies := res.lag, res.verifies
	res.lag, res.verifies = nil, nil
	checkCharts(t, s, res, "arch-restore.png")
	res.lag, res.restores = lag, nil
	checkCharts(t, s, res, "arch-lag.png")
	res.lag, res.verifies = nil, verifies
	checkCharts(t, s, res, "arch-verify.png")
	res.lag = lag
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
// only, with a one-second lag run and a tiny restore and verify, writing into a
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
		"#### Integrity costs", "#### Limits of the restore", "#### Verify: VerifyWith(VerifyPITR) beside a plain read, 2 MiB state + 20,000 events",
		"#### Verify's work per object", "#### Building the restore and verify archive", "#### Targets",
		"| file://: p99 per-record lag ≤ 1 s in every run (unchanged by format 2) |", "| file://: chain + head bytes ≤ 5% of upload bytes in every run |",
		"| file://: ≤ 1 head per ShipInterval (1s) during the load, i.e. no two closer, in every run |", "| file://: Verify MB/s ÷ plain read MB/s ≥ 0.8,",
		"#### Charts", "](charts/arch-lag.png)", "](charts/arch-restore.png)", "](charts/arch-verify.png)",
		endMarker + "\n\nafter\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README lacks %q:\n%s", want, text)
		}
	}
	// One row per table for the store.
	if n := strings.Count(text, "\n| file:// |"); n != 8 {
		t.Errorf("%d rows for file://, want 8 (lag, uploads, integrity, restore, limits, verify, verify's work, build):\n%s", n, text)
	}
	for _, f := range []string{"arch-lag.png", "arch-restore.png", "arch-verify.png"} {
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
