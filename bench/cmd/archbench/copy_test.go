package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/snapshot"
)

func TestParseCopyFlags(t *testing.T) {
	s, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.copyState != 256<<20 || s.copyEvents != defaultCopyEvents || s.suite(suiteCopy) {
		t.Errorf("defaults: -copy-state %d, -copy-events %d, copy suite %v; want 256 MiB, %d, not run", s.copyState, s.copyEvents, s.suite(suiteCopy), defaultCopyEvents)
	}
	s, err = parseFlags([]string{"-quick", "-suites", "copy"})
	if err != nil {
		t.Fatal(err)
	}
	if s.copyState != 16<<20 || s.copyEvents != quickCopyEvents || !s.suite(suiteCopy) || s.suite(suiteRestore) {
		t.Errorf("-quick -suites copy: %+v", s)
	}
	_, err = parseFlags([]string{"-copy-state", "0", "-copy-events", "0"})
	for _, flag := range []string{"-copy-state", "-copy-events"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("bad flags gave %v, want an error naming %s", err, flag)
		}
	}
}

// TestEditWriter checks that the changed state is writeState's with
// exactly the edits' bytes overwritten, whatever the Writes' boundaries.
func TestEditWriter(t *testing.T) {
	const n = 1 << 20
	var orig bytes.Buffer
	if err := writeState(&orig, n); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(orig.Bytes())
	edits := stateEdits(n)
	for _, e := range edits {
		copy(want[e.off:], e.data)
	}
	if len(edits) != copyEditPlaces || editedBytes(n) != copyEditPlaces*(n/100/copyEditPlaces) {
		t.Errorf("%d edits of %d bytes in all", len(edits), editedBytes(n))
	}
	for _, piece := range []int{7, 4096, n} {
		var got bytes.Buffer
		w := &editWriter{w: &got, edits: edits}
		src := orig.Bytes()
		for off := 0; off < n; off += piece {
			p := src[off:min(off+piece, n)]
			keep := bytes.Clone(p)
			if k, err := w.Write(p); err != nil || k != len(p) {
				t.Fatalf("Write: %d, %v", k, err)
			}
			if !bytes.Equal(p, keep) {
				t.Fatalf("Write changed the caller's bytes at %d", off)
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("writes of %d bytes: the edited state differs from the edits applied", piece)
		}
	}
	var got bytes.Buffer
	if err := writeEditedState(&got, n); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Errorf("writeEditedState: %v, or not the edits applied", err)
	}
	if d := diffBytes(orig.Bytes(), want); d < n/200 || d > editedBytes(n) {
		t.Errorf("%d bytes differ, want about %d", d, editedBytes(n))
	}
}

func diffBytes(a, b []byte) int {
	d := 0
	for i := range a {
		if a[i] != b[i] {
			d++
		}
	}
	return d
}

// TestCopyReport renders the copy suite's report from made-up results
// and checks the targets' verdicts and a few cells.
func TestCopyReport(t *testing.T) {
	s, err := parseFlags([]string{"-runs", "2", "-suites", "copy"})
	if err != nil {
		t.Fatal(err)
	}
	file := &store{kind: storeFile, label: "file://", desc: "a directory"}
	s3 := &store{kind: storeS3, label: "S3", desc: "a server"}
	run := func(again, changed int64) copyRun {
		return copyRun{cold: true, build: buildTimes{save: time.Second, appends: time.Second / 2, flush: time.Second / 4}, snapStored: 80e6,
			srcObjects: 25, srcBytes: 100e6,
			first: snapshot.CopyStats{Objects: 25, Copied: 25, Bytes: 100e6}, firstTime: time.Second, raw: time.Second / 2, rawBytes: 100e6,
			again: snapshot.CopyStats{Objects: 25, Present: 25 - int(min(again, 1)), Copied: int(min(again, 1)), Bytes: again}, againTime: 3 * time.Millisecond,
			change: buildTimes{save: time.Second}, saveStored: 2e6, newObjects: 9, newBytes: 3e6, newWAL: 1e6,
			changed: snapshot.CopyStats{Objects: 34, Copied: 9, Present: 25, Bytes: changed}, changeTime: 10 * time.Millisecond, restore: 200 * time.Millisecond}
	}
	res := &results{
		stores: []*store{file, s3},
		copies: []*copyJob{
			{store: file, runs: []copyRun{run(0, 3e6), run(0, 3e6)}},
			{store: s3, runs: []copyRun{run(0, 3e6), run(1000, 4e6)}},
		},
	}
	out := renderCopy(s, benchkit.System{}, res, "-suites copy")
	for _, want := range []string{
		"with `go run ./cmd/archbench -suites copy`.",
		"#### First copy: 256 MiB state + 250,000 events of 256 B, into an empty bucket",
		"| file:// | from disk | 25 | 100 | 1.00 | 100 | 0.500 | 200 | 0.50 |",
		"| file:// | 25 | 25 | 0 | 0 | 3.00 |",
		"| S3 | 25 | 24.5 (24–25) | 0.5 (0–1) | 500 (0–1,000) | 3.00 |",
		"#### Copy after a change: 2.68 MB of the state overwritten in 8 places, 25,000 more events, a new base snapshot",
		"| file:// | 2.00 | 1.00 | 9 | 3.00 | 9 | 3.00 | 1.00 | 0.0100 | 0.200 |",
		"| file://: `ctl copy` (CopyTo) of an unchanged archive moves 0 data bytes, in every run | 0 B in 0 objects | yes | `go run ./cmd/archbench -suites copy -stores file` |",
		"| file://: `ctl copy` (CopyTo) after a change moves ≤ 1.1× the new bytes, in every run | 1.00× | yes | `go run ./cmd/archbench -suites copy -stores file` |",
		"| S3: `ctl copy` (CopyTo) of an unchanged archive moves 0 data bytes, in every run | 500 (0–1,000) B in 0.5 (0–1) objects | no (1 of 2 runs) |",
		"| S3: `ctl copy` (CopyTo) after a change moves ≤ 1.1× the new bytes, in every run | 1.17 (1.00–1.33)× | no (1 of 2 runs) |",
		"2 of 4 target checks met.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestCopySuite runs the copy suite end to end on file:// with a small
// archive, writing into a README that holds the other suites' sections:
// a repeated copy of the unchanged archive must move 0 bytes, the copy
// after the change must restore (the run fails otherwise), and only the
// copy section may change.
func TestCopySuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an archiver against a log on disk")
	}
	others := "# Benchmarks\n\n" + beginMarker + "\nlag, restore, verify\n" + endMarker + "\n\n" + costBeginMarker + "\ncost\n" + costEndMarker + "\n"
	s, _, readme := suiteReadme(t, others, copyBeginMarker, copyEndMarker, "-suites", "copy", "-stores", "file", "-runs", "2", "-copy-state", "2MiB", "-copy-events", "5000")
	text, out := runIntoReadme(t, s, readme, others, copyBeginMarker, copyEndMarker)
	for _, want := range []string{
		"#### First copy: 2 MiB state + 5,000 events of 256 B, into an empty bucket", "#### Copy again, nothing changed",
		"#### Copy after a change:", "#### Building the archive", "#### Targets",
		"| file://: `ctl copy` (CopyTo) of an unchanged archive moves 0 data bytes, in every run | 0 B in 0 objects | yes |",
		"| file://: `ctl copy` (CopyTo) after a change moves ≤ 1.1× the new bytes, in every run |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\n| file:// |"); n != 4 {
		t.Errorf("%d rows for file://, want 4 (first, again, changed, build):\n%s", n, text)
	}
	if !strings.Contains(out, "#### First copy") {
		t.Errorf("report not printed:\n%s", out)
	}

	// A README without the copy markers gets a section of its own
	// appended; the others stay.
	if err := os.WriteFile(readme, []byte(others), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(s, copyReadme, suiteCopy, renderCopy(s, benchkit.System{}, &results{}, ""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	if text := string(b); !strings.HasPrefix(text, others+"\n"+copyReadme.Heading+"\n\n"+copyBeginMarker+"\n") {
		t.Errorf("copy section not appended:\n%s", text)
	}
}

// runIntoReadme runs the suite s names with -readme readme, which holds
// others and then the suite's section between begin and end followed by
// a line "after", and checks that only that section changed. It returns
// the README's text and what the run printed.
// suiteReadme starts a suite's end-to-end test: a README in a new
// directory holding others and the suite's section between begin and
// end (old text, then "after" below it), and the settings args give
// with -dir and -readme pointing there.
func suiteReadme(t *testing.T, others, begin, end string, args ...string) (s settings, dir, readme string) {
	t.Helper()
	dir = t.TempDir()
	readme = filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte(others+"\n"+begin+"\nold\n"+end+"\n\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := parseFlags(append(args, "-dir", dir, "-readme", readme))
	if err != nil {
		t.Fatal(err)
	}
	return s, dir, readme
}

func runIntoReadme(t *testing.T, s settings, readme, others, begin, end string) (text, out string) {
	t.Helper()
	var printed strings.Builder
	if err := execute(context.Background(), s, "-suites "+strings.Join(s.suites, ","), &printed, io.Discard); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text = string(raw)
	if !strings.HasPrefix(text, others+"\n"+begin+"\n") || !strings.HasSuffix(text, end+"\n\nafter\n") || strings.Contains(text, "\nold\n") {
		t.Errorf("not only the suite's section was written:\n%s", text)
	}
	return text, printed.String()
}
