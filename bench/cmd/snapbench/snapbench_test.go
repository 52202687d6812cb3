package main

import (
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/bench/internal/charttest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity/bench/internal/chunkers"
	"github.com/continuity-go/continuity/internal/gen"
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
	s, err := parseFlags([]string{"-runs", "2", "-size", "4MiB", "-workers", "1,4", "-data", "random", "-restic", "", "-charts", "out"})
	if err != nil {
		t.Fatal(err)
	}
	if s.runs != 2 || s.size != 4<<20 || len(s.workers) != 2 || s.workers[1] != 4 || len(s.data) != 1 || s.restic != "" || s.charts != "out" {
		t.Errorf("parsed %+v", s)
	}
	if !slices.Equal(s.suites, allSuites) {
		t.Errorf("default suites %q, want %q", s.suites, allSuites)
	}
	if s, err := parseFlags([]string{"-suites", "crypto, chunkers"}); err != nil || !slices.Equal(s.suites, []string{suiteCrypto, suiteChunkers}) ||
		s.suite(suiteSnapshots) || !s.suite(suiteCrypto) {
		t.Errorf("-suites crypto, chunkers: %q, %v", s.suites, err)
	}
	if _, err := parseFlags([]string{"-runs", "0", "-size", "1KiB", "-data", "text", "-suites", "wal"}); err == nil ||
		!strings.Contains(err.Error(), "-runs") || !strings.Contains(err.Error(), "-size") || !strings.Contains(err.Error(), "-data") ||
		!strings.Contains(err.Error(), "-suites") {
		t.Errorf("bad flags gave %v, want an error naming each", err)
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
		data, err := os.ReadFile(f.base)
		if err != nil {
			t.Fatal(err)
		}
		got, err := measureLimits(data)
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
	s := settings{runs: 1, size: 100e6, edits: 100, editLen: 64, workers: []int{1, 2}, data: []string{"events"}, suites: allSuites}
	res := &results{size: 100e6, procs: 2, edited: map[string]int{"events": 100e6}}
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
	res.limits = []*opJob{{data: "events", runs: []map[string]float64{{
		limMemmove: 5000, limChunk: 4000, limChunkHash: 1000, limCompress: 400, limOpenDecomp: 1000,
		limSaveWork: 300, limRestoreWork: 800, limRatio: 3.5,
	}}}}
	out := renderReport(s, system{}, res, "")
	// Save of new data with 1 worker: 200 MB/s ÷ 400 MB/s of lz4.
	if !strings.Contains(out, "lz4 compress alone ≥ 0.80 | 0.50 | no |") {
		t.Errorf("target (2) wrong or missing:\n%s", out)
	}
	// Its ceiling on 2 cores: 2 × 300 MB/s of all Save's work ÷ 400 of lz4.
	if !strings.Contains(out, "the most target (2) can reach on 2 cores: 2 × (chunk+hash+compress+seal alone ÷ lz4 compress alone) | 1.50 |") {
		t.Errorf("target (2)'s ceiling wrong or missing:\n%s", out)
	}
	if strings.Contains(out, "(4)") {
		t.Errorf("restic targets without restic:\n%s", out)
	}

	res.jobs = append(res.jobs, &job{data: "events", tool: toolRestic, steps: append(all, stepOpen),
		runs: []map[step]stepResult{{stepFirst: res1(2, 20e6), stepEdited: res1(1, 10e6), stepUnchanged: res1(1, 1e3), stepRestore: res1(1, 0), stepOpen: res1(0.5, 0)}}})
	out = renderReport(s, system{}, res, "")
	checkCharts(t, s, res, "snap-events.png")
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

// TestMeasureChunkers checks that every chunker is timed and counted, and
// that the reuse is measured in the first run only, on events and not on a
// kind without a shift case.
func TestMeasureChunkers(t *testing.T) {
	impls := chunkers.Compared()
	data := gen.Events(1, 2<<20)
	j := &chunkerJob{opJob: opJob{data: "events"}}
	for range 2 {
		if _, err := measureChunkers(j, impls, data); err != nil {
			t.Fatal(err)
		}
	}
	if len(j.runs) != 2 || j.size != len(data) || j.shiftBytes != len(data) {
		t.Fatalf("runs %d, size %d, shift bytes %d", len(j.runs), j.size, j.shiftBytes)
	}
	for _, impl := range impls {
		if j.runs[1][impl.Name] <= 0 || j.chunks[impl.Name] < 2 {
			t.Errorf("%s: %v GB/s, %d chunks", impl.Name, j.runs[1][impl.Name], j.chunks[impl.Name])
		}
		// 100 edits in 2 MiB leave some chunks alone, not most.
		if r := j.reuse[impl.Name]; r <= 0 || r >= 0.9 {
			t.Errorf("%s: reuse %.3f", impl.Name, r)
		}
	}
	other := &chunkerJob{opJob: opJob{data: "text"}}
	if _, err := measureChunkers(other, impls[:1], data); err != nil || other.reuse != nil {
		t.Errorf("reuse %v, %v for a kind without a shift case", other.reuse, err)
	}
}

// TestMeasureCrypto checks that every operation is timed and that the
// codecs compress events as they should.
func TestMeasureCrypto(t *testing.T) {
	got, err := measureCrypto(gen.Events(1, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range cryptoOps {
		if got[op] <= 0 {
			t.Errorf("%s: %v GB/s", op, got[op])
		}
	}
	if r := got[cryptoRatio(cryLZ4)]; r < 3 || r > 4.5 {
		t.Errorf("lz4 ratio %.2f", r)
	}
	if r := got[cryptoRatio(cryZstd)]; r < 4 || r > 7 {
		t.Errorf("zstd ratio %.2f", r)
	}
}

// TestReportChunkersCrypto renders the chunkers and crypto suites from
// made-up results and checks the targets and verdicts.
func TestReportChunkersCrypto(t *testing.T) {
	s := settings{runs: 1, size: 256 << 20, edits: 100, editLen: 64, data: []string{"events"}, suites: []string{suiteChunkers, suiteCrypto}}
	impls := chunkers.Compared()
	gbps := map[string]float64{chunkers.OursName: 4, "restic": 0.5, "jotfs": 1.6, "plakar-fastcdc": 2, "plakar-jc": 10}
	sc, _ := chunkers.ShiftCaseOf("events")
	c := &chunkerJob{opJob: opJob{data: "events", runs: []map[string]float64{gbps}}, size: 256 << 20, shift: sc, shiftBytes: chunkers.ShiftBytes,
		chunks: map[string]int{chunkers.OursName: 4096, "restic": 4096, "jotfs": 2048, "plakar-fastcdc": 4096, "plakar-jc": 4096},
		reuse:  map[string]float64{chunkers.OursName: 0.9, "restic": 0.84, "jotfs": 0.89, "plakar-fastcdc": 0.92, "plakar-jc": 0.80}}
	res := &results{size: s.size, chunkers: []*chunkerJob{c}, impls: impls,
		crypto: &opJob{data: "events", runs: []map[string]float64{{cryBLAKE3: 3, cryHMAC: 1.5, cryXXH: 18, cryGCM: 4, cryXChaCha: 1, cryLZ4: 0.7, cryZstd: 0.3,
			cryptoRatio(cryLZ4): 3.6, cryptoRatio(cryZstd): 5.4}}}}
	out := renderReport(s, system{System: benchkit.System{CPU: "X (aes)", CPUFlags: []string{"aes"}}}, res, "")
	for _, want := range []string{
		"| events | jotfs/fastcdc-go | 1.60 | 128 | 89.0% |",
		"continuity GB/s ÷ restic/chunker GB/s ≥ 5 | 8.00 | yes |",
		"the fastest other Go CDC (plakar-jc) GB/s ≥ 1 | 0.40 | no |",
		"the fastest other FastCDC implementation (plakar-fastcdc) GB/s ≥ 1 | 2.00 | yes |",
		"(9) events: bytes continuity reuses after the changes (64 MiB) ≥ 85% | 90.0% | yes |",
		"plakar-jc is faster than ours on events (10.0 GB/s against 4.00), and after the changes keeps 80.0% of the bytes of events (requirement 85%): it misses",
		"fastest of these that meets the shift-resistance requirement",
		"| keyed BLAKE3-256 | 3.00 | — |",
		"| zstd compress | 0.300 | 5.40 |",
		"this CPU lacks SHA-NI (no sha_ni in /proc/cpuinfo)",
		"at 2.00× the speed of HMAC-SHA-256 without SHA-NI;",
		"at 4.00× the speed of XChaCha20-Poly1305 here with AES-NI,",
		"| restic | not measured (-suites without snapshots) |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	checkCharts(t, s, res, "snap-chunkers.png", "snap-crypto.png")
	for _, unwanted := range []string{"#### Snapshots", "#### Targets", "#### Physical limits"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("report has %q without the snapshots suite", unwanted)
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
