package benchkit

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStatAndFormat(t *testing.T) {
	if s := StatOf([]float64{3, 1, 2}); s != (Stat{2, 1, 3}) {
		t.Errorf("odd: %+v", s)
	}
	type run struct{ secs float64 }
	if s := StatBy([]run{{3}, {1}, {2}}, func(r run) float64 { return 2 * r.secs }); s != (Stat{4, 2, 6}) {
		t.Errorf("by metric: %+v", s)
	}
	if s := StatOf([]float64{4, 1, 2, 3}); s != (Stat{2.5, 1, 4}) {
		t.Errorf("even: %+v", s)
	}
	if s := StatOf(nil); s != (Stat{}) {
		t.Errorf("none: %+v", s)
	}
	if got := RangeOf(Stat{2.5, 1, 4}, Sig3); got != "2.50 (1.00–4.00)" {
		t.Errorf("RangeOf = %q", got)
	}
	if got := RangeOf(Stat{2.5, 2.5, 2.5}, Sig3); got != "2.50" {
		t.Errorf("RangeOf of agreeing runs = %q", got)
	}
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0.0921, "0.0921"}, {0.5, "0.500"}, {12.34, "12.3"}, {312.4, "312"}, {197520.4, "197,520"}, {1234567, "1,234,567"},
	} {
		if got := Sig3(tc.v); got != tc.want {
			t.Errorf("Sig3(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	if got := Ratio(0.456); got != "0.46" {
		t.Errorf("Ratio = %q", got)
	}
	if got := Percent(59.4); got != "59%" {
		t.Errorf("Percent = %q", got)
	}
	var b strings.Builder
	Table(&b, []string{"a", "b"}, [][]string{{"1", "x|y"}})
	if want := "| a | b |\n| --- | --- |\n| 1 | x\\|y |\n"; b.String() != want {
		t.Errorf("Table:\n%s\nwant\n%s", b.String(), want)
	}
}

func TestSection(t *testing.T) {
	s := Section{Begin: "<!-- b -->", End: "<!-- e -->", Heading: "## R"}
	for _, tc := range []struct {
		name, in, want string
		err            bool
	}{
		{"replace", "a\n<!-- b -->\nold\n<!-- e -->\nb\n", "a\n<!-- b -->\nnew\n<!-- e -->\nb\n", false},
		{"append", "# T\n", "# T\n\n## R\n\n<!-- b -->\nnew\n<!-- e -->\n", false},
		{"reversed", "<!-- e --><!-- b -->", "", true},
		{"begin only", "<!-- b -->", "", true},
	} {
		got, err := s.Replace(tc.in, "new\n")
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q, error %v", tc.name, got, err, tc.want, tc.err)
		}
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "new.md")
	if err := s.Write(missing, "r\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(missing); string(b) != "# Benchmarks\n\n## R\n\n<!-- b -->\nr\n<!-- e -->\n" {
		t.Errorf("new file: %q", b)
	}
	s.Template, s.Token = "# Head\n\n{{x}}\n", "{{x}}"
	templ := filepath.Join(dir, "templ.md")
	if err := s.Write(templ, "r\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(templ); string(b) != "# Head\n\n<!-- b -->\nr\n<!-- e -->\n" {
		t.Errorf("from template: %q", b)
	}
}

func TestGather(t *testing.T) {
	s := Gather(t.TempDir(), "wal")
	if s.CPUs < 1 || s.GOMAXPROCS < 1 || s.Go == "" || s.CPU == "" || s.FS == "" || s.LoadStart == "" {
		t.Errorf("incomplete: %+v", s)
	}
}

func TestPercentileAndParseInts(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p50, p99 := Percentile(d, 0.5), Percentile(d, 0.99); p50 != 50 || p99 != 99 {
		t.Errorf("p50, p99 = %d, %d", p50, p99)
	}
	if p := Percentile(nil, 0.5); p != 0 {
		t.Errorf("p50 of nothing = %d, want 0", p)
	}
	if got, err := ParseInts("1, 8,64", 1, 64); err != nil || len(got) != 3 || got[2] != 64 {
		t.Errorf("ParseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "65", "x", ""} {
		if _, err := ParseInts(bad, 1, 64); err == nil {
			t.Errorf("ParseInts(%q) accepted", bad)
		}
	}
}

// TestCharts draws each kind of chart into a PNG, links it relative to
// the README under the charts heading, leaves out charts with nothing to
// draw, and refuses a series that does not fit its groups.
func TestCharts(t *testing.T) {
	dir := t.TempDir()
	cs, err := NewCharts(filepath.Join(dir, "charts"), filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	bars := Bars{Title: "throughput", YLabel: "records/s", Groups: []string{"1", "8"},
		Series: []BarSeries{{Name: "a", Values: []float64{10, 1000}}, {Name: "b", Values: []float64{0, math.NaN()}}}}
	curves := Curves{Title: "latency", XLabel: "ms", LogX: true,
		Series: []Samples{{Name: "x", Values: []float64{3, 1, 2, 0}}, {Name: "empty"}}}
	md, err := cs.Draw(Chart{"bars.png", bars}, Chart{"none.png", Curves{Title: "none"}},
		Chart{"zero.png", Bars{Title: "zero", Groups: []string{"1"}, Series: []BarSeries{{Name: "a", Values: []float64{0}}}}},
		Chart{"curves.png", curves})
	if err != nil {
		t.Fatal(err)
	}
	want := "\n#### Charts\n\n![throughput](charts/bars.png)\n\n![latency](charts/curves.png)\n\n"
	if md != want {
		t.Fatalf("markdown %q, want %q", md, want)
	}
	entries, err := os.ReadDir(cs.Dir)
	if err != nil || len(entries) != 2 {
		t.Fatalf("files drawn: %v, %v", entries, err)
	}
	for _, name := range []string{"bars.png", "curves.png"} {
		f, err := os.Open(filepath.Join(dir, "charts", name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 100 || cfg.Height < 50 {
			t.Fatalf("%s: %+v, %v", name, cfg, err)
		}
	}
	if md, err := cs.Draw(Chart{"none.png", Curves{Title: "none"}}); md != "" || err != nil {
		t.Fatalf("only empty charts: %q, %v", md, err)
	}
	if _, err := cs.Draw(Chart{"bad.png", Bars{Title: "bad", Groups: []string{"1"}, Series: []BarSeries{{Name: "a", Values: []float64{1, 2}}}}}); err == nil {
		t.Fatal("a series with more values than groups was drawn")
	}
	var none *Charts
	if md, err := none.Draw(Chart{"x.png", bars}); md != "" || err != nil {
		t.Fatalf("nil Charts: %q, %v", md, err)
	}
}

// TestSampleMs: a sample keeps the first and the last value and spreads
// evenly between them; a short input is kept whole.
func TestSampleMs(t *testing.T) {
	var d []time.Duration
	for i := range 101 {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if got := SampleMs(d, 5); !slices.Equal(got, []float64{0, 25, 50, 75, 100}) {
		t.Errorf("5 of 0..100 ms: %v", got)
	}
	if got := SampleMs(d[:3], 10); !slices.Equal(got, []float64{0, 1, 2}) {
		t.Errorf("10 of 0..2 ms: %v", got)
	}
	if got := SampleMs(nil, 10); len(got) != 0 {
		t.Errorf("10 of none: %v", got)
	}
	if n := SamplesPerRun(3); n != ChartSamples/3 {
		t.Errorf("3 runs keep %d each", n)
	}
}

func TestVCSVersion(t *testing.T) {
	set := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	if _, ok := vcsVersion(set("GOOS", "linux")); ok {
		t.Error("a binary without vcs.revision has no stamped version")
	}
	if v, _ := vcsVersion(set("vcs.revision", "0a6683e1234567", "vcs.time", "2026-12-01T22:25:00Z", "vcs.modified", "false")); v != "commit 0a6683e 2026-12-01" {
		t.Errorf("clean: %q", v)
	}
	if v, _ := vcsVersion(set("vcs.revision", "0a6683e1234567", "vcs.modified", "true")); v != "commit 0a6683e, built with uncommitted changes in the repository" {
		t.Errorf("modified: %q", v)
	}
}
