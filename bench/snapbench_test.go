package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSnapbenchSmoke builds cmd/snapbench and runs it end to end on a
// small state, one run, writing its report into a copy of a README, so
// that the harness cannot rot between full runs. The numbers are not
// checked: timings never decide whether a test passes. restic is left
// out if it is not installed.
func TestSnapbenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs cmd/snapbench")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build cmd/snapbench with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "snapbench")
	if out, err := exec.Command(goBin, "build", "-o", bin, "./cmd/snapbench").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# Benchmarks\n\n<!-- snapbench:begin -->\nold\n<!-- snapbench:end -->\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-runs", "1", "-size", "2MiB", "-edits", "10", "-dir", dir, "-readme", readme}
	resticInstalled := true
	if _, err := exec.LookPath("restic"); err != nil {
		resticInstalled = false
		t.Log("restic is not installed (apt-get install restic): the smoke test leaves it out")
		args = append(args, "-restic", "")
	}
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("snapbench %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	wants := []string{"#### Snapshots", "#### Physical limits", "#### Targets", "(1) events", "(2) events", "(3) random",
		"#### Chunkers", "| random | restic/chunker (Rabin) |", "(7) events", "(8) random", "(9) events",
		"#### Identity hash and AEAD", "| XChaCha20-Poly1305 seal |", "<!-- snapbench:end -->"}
	if resticInstalled {
		wants = append(wants, "(4) events", "(5) random", "(6) events", "| restic (zstd auto) |")
	}
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("README lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\nold\n") {
		t.Error("the old block between the markers is still there")
	}
	if !strings.Contains(string(out), "#### Targets") {
		t.Errorf("the report was not printed:\n%s", out)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "snapbench-*")); len(entries) > 0 {
		t.Errorf("work directories left behind: %v", entries)
	}
}
