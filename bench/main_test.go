package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// TestPlan: the flags pick the programs and their arguments; the hot-path
// and snapshot suites share one snapbench run; -short shrinks every
// program; bad flags are refused with the reason.
func TestPlan(t *testing.T) {
	s, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.suites, allSuites) {
		t.Fatalf("default suites %v", s.suites)
	}
	s.readme, s.charts, s.standbyDir = "README.md", "charts", "/mnt/other"
	var cmds []string
	for _, st := range plan(s) {
		cmds = append(cmds, st.cmd)
		args := strings.Join(st.args, " ")
		if strings.Contains(args, "-runs") || strings.Contains(args, "-quick") {
			t.Errorf("full %s run with %q: the program's own defaults are the full mode", st.cmd, args)
		}
		if !strings.Contains(args, "-readme README.md -charts charts") {
			t.Errorf("%s does not write the README and charts: %q", st.cmd, args)
		}
	}
	if want := []string{"snapbench", "walbench", "replbench", "replbench", "archbench", "tenantbench", "failbench"}; !slices.Equal(cmds, want) {
		t.Fatalf("programs %v, want %v", cmds, want)
	}
	if one, apart := strings.Join(plan(s)[2].args, " "), strings.Join(plan(s)[3].args, " "); strings.Contains(one, "-standby-dir") || !strings.HasSuffix(apart, "-standby-dir /mnt/other") {
		t.Errorf("replbench runs %q and %q: want one on one disk, then one with -standby-dir /mnt/other", one, apart)
	}
	s.standbyDir = ""
	if n := len(plan(s)); n != 6 {
		t.Errorf("-standby-dir \"\" gives %d programs, want 6 (no second replbench run)", n)
	}

	s, err = parseFlags([]string{"-short", "-suites", "snapshot,failover,snapshot", "-dir", "/d", "-size", "8MiB"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	steps := plan(s)
	if len(steps) != 2 || steps[0].cmd != "snapbench" || steps[1].cmd != "failbench" {
		t.Fatalf("plan %+v", steps)
	}
	snap := strings.Join(steps[0].args, " ")
	for _, want := range []string{"-runs 1", "-dir /d", "-suites snapshots", "-size 8MiB"} {
		if !strings.Contains(snap, want) {
			t.Errorf("snapbench args %q lack %q", snap, want)
		}
	}
	if fail := strings.Join(steps[1].args, " "); !strings.Contains(fail, "-quick") || strings.Contains(fail, "-runs") {
		t.Errorf("failbench args %q", fail)
	}

	s, _ = parseFlags([]string{"-short", "-suites", "hotpath,wal", "-runs", "3", "-duration", "1s"}, io.Discard)
	steps = plan(s)
	if got := strings.Join(steps[0].args, " "); !strings.Contains(got, "-suites chunkers,crypto") || !strings.Contains(got, "-runs 3") {
		t.Errorf("hotpath args %q", got)
	}
	if got := strings.Join(steps[1].args, " "); !strings.Contains(got, "-duration 1s") || strings.Contains(got, "250ms") {
		t.Errorf("wal args with -duration: %q", got)
	}

	for _, bad := range [][]string{{"-suites", "disk"}, {"-suites", ","}, {"-runs", "-1"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("flags %q accepted", bad)
		}
	}
	if _, err := parseFlags([]string{"-suites", "disk"}, io.Discard); err == nil || !strings.Contains(err.Error(), "known: hotpath") {
		t.Errorf("unknown suite: %v", err)
	}
}

// TestOverview: the overview names the machine, the command and each
// program's wall time and result, including a failure and the programs an
// interruption left out.
func TestOverview(t *testing.T) {
	s := settings{short: true, suites: []string{suiteWAL, suiteFailover}, readme: "r.md", charts: "c"}
	steps := plan(s)
	sys := benchkit.System{CPU: "a CPU", CPUs: 2, GOMAXPROCS: 2, Go: "go1.26"}
	md := renderOverview(s, sys, "-short", steps, nil)
	if !strings.Contains(md, "running or not run yet") || !strings.Contains(md, "`go run . -short`") || !strings.Contains(md, "a CPU, 2 logical CPUs") {
		t.Fatalf("overview before the runs:\n%s", md)
	}
	md = renderOverview(s, sys, "-short", steps, []outcome{{step: steps[0], took: 5 * time.Second, err: io.ErrUnexpectedEOF}})
	if !strings.Contains(md, "| 5s | failed (unexpected EOF) |") || !strings.Contains(md, "not run (interrupted)") {
		t.Fatalf("overview after a failure:\n%s", md)
	}
}
