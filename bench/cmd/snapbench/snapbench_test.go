package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity/snapshot"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int{"4096": 4096, "64KiB": 64 << 10, "256MiB": 256 << 20, "1 GiB": 1 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1TB", "100GiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) did not fail", in)
		}
	}
}

func TestParseFlags(t *testing.T) {
	s, err := parseFlags([]string{"-runs", "2", "-size", "4MiB", "-workers", "1,4", "-data", "random", "-restic", ""})
	if err != nil {
		t.Fatal(err)
	}
	if s.runs != 2 || s.size != 4<<20 || len(s.workers) != 2 || s.workers[1] != 4 || len(s.data) != 1 || s.restic != "" {
		t.Errorf("parsed %+v", s)
	}
	if _, err := parseFlags([]string{"-runs", "0", "-size", "1KiB", "-data", "text"}); err == nil ||
		!strings.Contains(err.Error(), "-runs") || !strings.Contains(err.Error(), "-size") || !strings.Contains(err.Error(), "-data") {
		t.Errorf("bad flags gave %v, want an error naming each", err)
	}
}

func TestStat(t *testing.T) {
	if s := statOf([]float64{3, 1, 2}); s != (stat{2, 1, 3}) {
		t.Errorf("odd: %+v", s)
	}
	if s := statOf([]float64{4, 1, 2, 3}); s != (stat{2.5, 1, 4}) {
		t.Errorf("even: %+v", s)
	}
	if got := rangeOf(stat{2.5, 1, 4}, sig3); got != "2.50 (1.00–4.00)" {
		t.Errorf("rangeOf = %q", got)
	}
	if got := sig3(1234567); got != "1,234,567" {
		t.Errorf("sig3 = %q", got)
	}
}

func TestReplaceBlock(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            bool
	}{
		{"replace", "a\n" + beginMarker + "\nold\n" + endMarker + "\nb\n", "a\n" + beginMarker + "\nnew\n" + endMarker + "\nb\n", false},
		{"append", "# T\n", "# T\n\n## Snapshot results\n\n" + beginMarker + "\nnew\n" + endMarker + "\n", false},
		{"reversed", endMarker + beginMarker, "", true},
		{"end only", endMarker, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replaceBlock(tc.in, "new\n")
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestMeasureLimits checks that every limit is measured and that lz4
// compresses event lines and not random bytes.
func TestMeasureLimits(t *testing.T) {
	dir := t.TempDir()
	for kind, ratio := range map[string][2]float64{"events": {3, 4.5}, "random": {0.99, 1.01}} {
		f, err := writeData(dir, kind, 1<<20, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := measureLimits(f.base)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range limitOps {
			if got[op.name] <= 0 {
				t.Errorf("%s: %s = %v MB/s", kind, op.name, got[op.name])
			}
		}
		if r := got[limRatio]; r < ratio[0] || r > ratio[1] {
			t.Errorf("%s: lz4 ratio %.2f, want %v", kind, r, ratio)
		}
	}
}

// TestReport renders a report from made-up results, with and without
// restic, and checks that the targets are computed from the right cells.
func TestReport(t *testing.T) {
	s := settings{runs: 1, size: 100e6, edits: 100, editLen: 64, workers: []int{1, 2}, data: []string{"events"}}
	res := &results{size: 100e6, edited: map[string]int{"events": 100e6}}
	res1 := func(sec float64, stored int64) stepResult {
		return stepResult{dur: time.Duration(sec * float64(time.Second)), cpu: time.Second, stored: stored, newBytes: 1e6}
	}
	all := []step{stepFirst, stepEdited, stepUnchanged, stepRestore}
	for _, w := range s.workers {
		res.jobs = append(res.jobs, &job{data: "events", tool: toolOurs, codec: snapshot.LZ4, workers: w, steps: all,
			runs: []map[step]stepResult{{stepFirst: res1(0.5, 30e6), stepEdited: res1(0.1, 1e6), stepUnchanged: res1(0.1, 1e3), stepRestore: res1(0.2, 0)}}})
	}
	res.jobs = append(res.jobs, &job{data: "events", tool: toolOurs, codec: snapshot.Zstd, workers: 2, steps: []step{stepFirst},
		runs: []map[step]stepResult{{stepFirst: res1(1, 20e6)}}})
	res.limits = []*limitJob{{data: "events", runs: []map[string]float64{{
		limMemmove: 5000, limChunk: 4000, limChunkHash: 1000, limCompress: 400, limOpenDecomp: 1000,
		limSaveWork: 300, limRestoreWork: 800, limRatio: 3.5,
	}}}}
	out := renderReport(s, system{}, res, "")
	// Save of new data with 1 worker: 200 MB/s ÷ 400 MB/s of lz4.
	if !strings.Contains(out, "lz4 compress alone ≥ 0.80 | 0.50 | no |") {
		t.Errorf("target (2) wrong or missing:\n%s", out)
	}
	if strings.Contains(out, "(4)") {
		t.Errorf("restic targets without restic:\n%s", out)
	}

	res.jobs = append(res.jobs, &job{data: "events", tool: toolRestic, steps: append(all, stepOpen),
		runs: []map[step]stepResult{{stepFirst: res1(2, 20e6), stepEdited: res1(1, 10e6), stepUnchanged: res1(1, 1e3), stepRestore: res1(1, 0), stepOpen: res1(0.5, 0)}}})
	out = renderReport(s, system{}, res, "")
	for _, want := range []string{
		"restic backup seconds ÷ continuity Save seconds (2 workers) ≥ 3 | 4.00 | yes |", // first: 2 s ÷ 0.5 s
		"after 100 edits ÷ restic's ≤ 0.50 | 0.10 | yes |",                               // 1e6 ÷ 10e6
		"÷ restic's (zstd auto) ≤ 1.10 | 1.00 | yes |",                                   // 20e6 ÷ 20e6
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteReadme(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte("# B\n\n"+beginMarker+"\nold\n"+endMarker+"\n\nmore\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReadme(path, "new report\n"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "# B\n\n" + beginMarker + "\nnew report\n" + endMarker + "\n\nmore\n"; string(b) != want {
		t.Errorf("README is %q, want %q", b, want)
	}
}
