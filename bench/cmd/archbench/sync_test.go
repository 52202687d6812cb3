package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

func TestParseSyncFlags(t *testing.T) {
	s, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.syncDuration != defaultSyncDuration || s.suite(suiteSync) {
		t.Errorf("defaults: -sync-duration %v, sync suite %v; want %v, not run", s.syncDuration, s.suite(suiteSync), defaultSyncDuration)
	}
	s, err = parseFlags([]string{"-quick", "-suites", "sync"})
	if err != nil {
		t.Fatal(err)
	}
	if s.syncDuration != quickSyncDuration || !s.suite(suiteSync) || s.suite(suiteLag) {
		t.Errorf("-quick -suites sync: %+v", s)
	}
	if _, err = parseFlags([]string{"-sync-duration", "1ms"}); err == nil || !strings.Contains(err.Error(), "-sync-duration") {
		t.Errorf("-sync-duration 1ms gave %v, want an error naming it", err)
	}
}

// TestSyncReport renders the sync suite's report from made-up results
// and checks the targets' verdicts and a few cells.
func TestSyncReport(t *testing.T) {
	s, err := parseFlags([]string{"-runs", "2", "-suites", "sync"})
	if err != nil {
		t.Fatal(err)
	}
	file := &store{kind: storeFile, label: "file://", desc: "a directory"}
	s3 := &store{kind: storeS3, label: "S3", desc: "a server"}
	run := func(syncP50 time.Duration, syncPerSec float64) syncRun {
		return syncRun{
			sync:   modeRun{calls: 40_000, perSec: syncPerSec, p50: syncP50, p99: 2 * syncP50, appendP50: syncP50 / 4, uploads: 1000, uploadPerSec: 100, uploadP50: time.Millisecond, medianObj: 4096, acked: 40_000, archived: 40_000, restored: 40_000},
			async:  modeRun{calls: 100_000, perSec: 10_000, p50: time.Millisecond, p99: 4 * time.Millisecond, uploads: 20, uploadPerSec: 2},
			putP50: time.Millisecond, putP99: 3 * time.Millisecond,
		}
	}
	res := &results{
		stores: []*store{file, s3},
		syncs: []*syncJob{
			{store: file, runs: []syncRun{run(time.Millisecond, 6000), run(time.Millisecond, 6000)}},
			{store: s3, runs: []syncRun{run(2*time.Millisecond, 4000), run(4*time.Millisecond, 4000)}},
		},
	}
	out := renderSync(s, benchkit.System{}, res, "-suites sync")
	for _, want := range []string{
		"with `go run ./cmd/archbench -suites sync`.",
		"#### 64 writers, one event of 256 B per Append: with Archiver.Sync, and without",
		"| file:// | 1.00 | 3.00 | 1.00 | 2.00 | 1.00 | 6,000 | 10,000 | 0.60 | 1.00 | 4.00 |",
		"| file:// | 100 | 40.0 | 4.00 | 1.00 | 0.250 | 2.00 | 5,000 | 40,000 |",
		"| file://: 64 writers, sync p50 ≤ 2× one PUT's p50 (median of runs) | 1.00× (1.00 ms against 1.00 ms) | yes | `go run ./cmd/archbench -suites sync -stores file` |",
		"| file://: 64 writers, sync events/s ≥ 0.5 × async events/s (median of runs) | 0.60 (6,000 against 10,000) | yes |",
		"| S3: 64 writers, sync p50 ≤ 2× one PUT's p50 (median of runs) | 3.00 (2.00–4.00)× (3.00 (2.00–4.00) ms against 1.00 ms) | no | `go run ./cmd/archbench -suites sync -stores s3` |",
		"| S3: 64 writers, sync events/s ≥ 0.5 × async events/s (median of runs) | 0.40 (4,000 against 10,000) | no |",
		"2 of 4 target checks met.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestSyncSuite runs the sync suite end to end on file:// with short
// loads, writing into a README that holds the other suites' sections:
// every run must find the acknowledged records in the archive (it fails
// otherwise), and only the sync section may change.
func TestSyncSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an archiver against a log on disk")
	}
	others := "# Benchmarks\n\n" + beginMarker + "\nlag, restore, verify\n" + endMarker + "\n\n" + copyBeginMarker + "\ncopy\n" + copyEndMarker + "\n"
	s, dir, readme := suiteReadme(t, others, syncBeginMarker, syncEndMarker, "-suites", "sync", "-stores", "file", "-runs", "2", "-sync-duration", "300ms")
	b := &bencher{settings: s, root: dir, progress: io.Discard}
	res, err := b.all(context.Background(), []*store{b.fileStore()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.syncs) != 1 || len(res.syncs[0].runs) != 2 {
		t.Fatalf("sync jobs %+v, want one of 2 runs", res.syncs)
	}
	for i, r := range res.syncs[0].runs {
		m := r.sync
		if r.syncFirst != (i == 0) || m.calls == 0 || r.async.calls == 0 || m.uploads == 0 || m.acked == 0 ||
			m.archived < m.acked || m.restored < m.acked || r.putP50 <= 0 || r.putP99 < r.putP50 || m.p50 <= 0 || m.p99 < m.p50 || m.appendP50 <= 0 || m.appendP50 > m.p99 {
			t.Errorf("run %d: %+v", i+1, r)
		}
	}

	text, out := runIntoReadme(t, s, readme, others, syncBeginMarker, syncEndMarker)
	for _, want := range []string{
		"#### 64 writers, one event of 256 B per Append", "#### Uploads: the group commit", "#### Targets",
		"| file://: 64 writers, sync p50 ≤ 2× one PUT's p50 (median of runs) |",
		"| file://: 64 writers, sync events/s ≥ 0.5 × async events/s (median of runs) |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\n| file:// |"); n != 2 {
		t.Errorf("%d rows for file://, want 2 (modes, uploads):\n%s", n, text)
	}
	if !strings.Contains(out, "#### Uploads: the group commit") {
		t.Errorf("report not printed:\n%s", out)
	}
}
