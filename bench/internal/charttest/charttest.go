// Package charttest checks a benchmark program's charts in its tests.
package charttest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// Check calls draw without charts, which must draw nothing, then with
// charts in a temporary directory, and checks that exactly the files
// named are drawn, that each is a PNG, and that the Markdown draw returns
// links each under its "#### Charts" heading (and is empty when no file
// is named).
func Check(t testing.TB, draw func(*benchkit.Charts) (string, error), files ...string) {
	t.Helper()
	if md, err := draw(nil); md != "" || err != nil {
		t.Errorf("without charts: %q, %v", md, err)
	}
	dir := t.TempDir()
	cs, err := benchkit.NewCharts(filepath.Join(dir, "charts"), filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	md, err := draw(cs)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case len(files) == 0 && md != "":
		t.Errorf("nothing to draw, yet Markdown %q", md)
	case len(files) > 0 && !strings.HasPrefix(md, "\n#### Charts\n\n"):
		t.Errorf("charts Markdown lacks its heading: %q", md)
	}
	entries, err := os.ReadDir(cs.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, slices.Sorted(slices.Values(files))) {
		t.Errorf("charts drawn: %q, want %q", got, files)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(cs.Dir, f))
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s: not a PNG (%v)", f, err)
		}
		if !strings.Contains(md, "](charts/"+f+")") {
			t.Errorf("Markdown does not link %s:\n%s", f, md)
		}
	}
}
