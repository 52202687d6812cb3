package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

func TestParseCopiesFlags(t *testing.T) {
	s, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.copiesDuration != defaultCopiesDuration || s.suite(suiteCopies) {
		t.Errorf("defaults: -copies-duration %v, copies suite %v; want %v, not run", s.copiesDuration, s.suite(suiteCopies), defaultCopiesDuration)
	}
	s, err = parseFlags([]string{"-quick", "-suites", "copies"})
	if err != nil {
		t.Fatal(err)
	}
	if s.copiesDuration != quickCopiesDuration || !s.suite(suiteCopies) || s.suite(suiteCopy) || s.suite(suiteLag) {
		t.Errorf("-quick -suites copies: %+v", s)
	}
	if _, err = parseFlags([]string{"-copies-duration", "1ms"}); err == nil || !strings.Contains(err.Error(), "-copies-duration") {
		t.Errorf("-copies-duration 1ms gave %v, want an error naming it", err)
	}
}

// TestCopiesReport renders the copies suite's report from made-up
// results and checks the target's verdicts and a few cells.
func TestCopiesReport(t *testing.T) {
	s, err := parseFlags([]string{"-runs", "2", "-suites", "copies"})
	if err != nil {
		t.Fatal(err)
	}
	file := &store{kind: storeFile, label: "file://", desc: "a directory"}
	s3 := &store{kind: storeS3, label: "S3", desc: "a server"}
	run := func(archiveP99, copyP99 time.Duration, perSec float64) copiesRun {
		return copiesRun{appended: 200_000, perSec: perSec,
			archiveP50: 250 * time.Millisecond, archiveP99: archiveP99, archiveMax: archiveP99 + 10*time.Millisecond,
			copyP50: 255 * time.Millisecond, copyP99: copyP99, copyMax: copyP99 + 10*time.Millisecond,
			extraP50: 5 * time.Millisecond, extraP99: 8 * time.Millisecond, extraMax: 9 * time.Millisecond, catchUp: 600 * time.Millisecond,
			uploads: 40, uploadP50: 2 * time.Millisecond, copy: archive.CopyStatus{Objects: 70, Bytes: 15e6},
			copyPuts: 70, gets: 72, walGets: 68, restore: 100 * time.Millisecond, restoreRecs: 200_000}
	}
	res := &results{
		stores: []*store{file, s3},
		withCopy: []*copiesJob{
			{store: file, runs: []copiesRun{run(500*time.Millisecond, 510*time.Millisecond, 10_000), run(500*time.Millisecond, 520*time.Millisecond, 9_999)}},
			{store: s3, runs: []copiesRun{run(500*time.Millisecond, 1200*time.Millisecond, 10_000), run(500*time.Millisecond, 510*time.Millisecond, 10_000)}},
		},
	}
	out := renderCopies(s, benchkit.System{}, res, "-suites copies")
	for _, want := range []string{
		"with `go run ./cmd/archbench -suites copies`.",
		"#### Archive and copy lag: 10,000 events/s of 256 B for 20s, one copy",
		"| file:// | 10,000 (9,999–10,000) | 250 | 500 | 510 | 255 | 515 (510–520) | 525 (520–530) | 5.00 | 8.00 | 9.00 | 600 |",
		"| S3 | 40 | 2.00 | 70 | 15.0 | 0 | 70 | 72 | 68 | 0.100 | 200,000 |",
		"| file://: with one copy, lag p99 ≤ 1 s on both destinations at 10,000 events/s, in every run | archive 0.500 s, copy 0.520 s, at 9,999 events/s (worst run) | yes | `go run ./cmd/archbench -suites copies -stores file` |",
		"| S3: with one copy, lag p99 ≤ 1 s on both destinations at 10,000 events/s, in every run | archive 0.500 s, copy 1.20 s, at 10,000 events/s (worst run) | no (1 of 2 runs) | `go run ./cmd/archbench -suites copies -stores s3` |",
		"1 of 2 target checks met.",
		"every 2ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestCopiesSuite runs the copies suite end to end on file:// with a
// short, slow load, then again into a README that holds the other
// suites' sections: every run must find the copy holding the last
// record and restoring to it (it fails otherwise), and only the copies
// section may change.
func TestCopiesSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an archiver against a log on disk")
	}
	others := "# Benchmarks\n\n" + beginMarker + "\nlag, restore, verify\n" + endMarker + "\n\n" + syncBeginMarker + "\nsync\n" + syncEndMarker + "\n"
	s, dir, readme := suiteReadme(t, others, copiesBeginMarker, copiesEndMarker, "-suites", "copies", "-stores", "file", "-runs", "1", "-copies-duration", "1s", "-rate", "2000")
	b := &bencher{settings: s, root: dir, progress: io.Discard}
	res, err := b.all(context.Background(), []*store{b.fileStore()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.withCopy) != 1 || len(res.withCopy[0].runs) != 1 {
		t.Fatalf("copies jobs %+v, want one of 1 run", res.withCopy)
	}
	r := res.withCopy[0].runs[0]
	if r.appended < 1000 || r.restoreRecs != int64(r.appended) || r.uploads == 0 || r.copy.Objects <= int64(r.uploads) || r.copy.Bytes <= 0 ||
		r.copyPuts < r.copy.Objects || r.gets < int64(r.uploads) || r.walGets > r.gets ||
		r.archiveP50 <= 0 || r.archiveP99 < r.archiveP50 || r.archiveMax < r.archiveP99 ||
		r.copyP50 < r.archiveP50 || r.copyP99 < r.copyP50 || r.copyMax < r.copyP99 || r.extraMax < r.extraP50 || r.catchUp <= 0 {
		t.Errorf("run: %+v", r)
	}

	text, out := runIntoReadme(t, s, readme, others, copiesBeginMarker, copiesEndMarker)
	for _, want := range []string{
		"#### Archive and copy lag: 2,000 events/s of 256 B for 1s, one copy", "#### What the copy wrote and read", "#### Targets",
		"| file://: with one copy, lag p99 ≤ 1 s on both destinations at 10,000 events/s, in every run |",
		"| no (0 of 1 runs) |", // 2,000 events/s is not the target's rate
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\n| file:// |"); n != 2 {
		t.Errorf("%d rows for file://, want 2 (lag, copy):\n%s", n, text)
	}
	if !strings.Contains(out, "#### What the copy wrote and read") {
		t.Errorf("report not printed:\n%s", out)
	}
}
