package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

func main() { benchkit.Exit("bench", run(os.Args[1:])) }

// The suites, in the order they run.
const (
	suiteHotPath     = "hotpath"     // chunkers, hashes, lz4 vs zstd, AEADs (snapbench -suites chunkers,crypto); memmove comes with the snapshot suite's limits
	suiteWAL         = "wal"         // walbench
	suiteSnapshot    = "snapshot"    // Save and Restore vs restic (snapbench -suites snapshots)
	suiteReplication = "replication" // replbench
	suiteArchive     = "archive"     // archive RPO, integrity costs, restore and verify speed (archbench)
	suiteTenants     = "tenants"     // Append vs AppendTenant, many tenants: restarts, memory, snapshot bytes (tenantbench)
	suiteFailover    = "failover"    // failbench
)

var allSuites = []string{suiteHotPath, suiteWAL, suiteSnapshot, suiteReplication, suiteArchive, suiteTenants, suiteFailover}

// settings are the flags.
type settings struct {
	short    bool
	suites   []string
	runs     int           // 0: each command's own default
	duration time.Duration // 0: each command's own default
	size     string        // "": each command's own default
	trials   int           // 0: failbench's default
	dir      string
	readme   string
	charts   string
	// standbyDir, if set, is where a second replbench run keeps its
	// standbys' logs (off the primary's disk); "" skips that run.
	standbyDir string
}

func parseFlags(args []string, stderr io.Writer) (settings, error) {
	var s settings
	var suites string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage, from the bench directory: go run . [flags]\n\n"+
			"Runs the benchmark suites (%s) one after the other, each in a process\n"+
			"of its own, and writes their reports and charts into a README.\n\n", strings.Join(allSuites, ", "))
		fs.PrintDefaults()
	}
	fs.BoolVar(&s.short, "short", false, "a smoke run of every suite in under 3 minutes: one short run per configuration, fewer configurations; writes into a temporary directory unless -readme is given")
	fs.StringVar(&suites, "suites", strings.Join(allSuites, ","), "comma-separated suites to run")
	fs.IntVar(&s.runs, "runs", 0, "timed runs per configuration (0: each suite's default, 1 with -short)")
	fs.DurationVar(&s.duration, "duration", 0, "length of one timed run of the wal and replication suites (0: their default)")
	fs.StringVar(&s.size, "size", "", `state size of the snapshot suite and of the archive suite's restore, e.g. "256MiB" (default: theirs)`)
	fs.IntVar(&s.trials, "trials", 0, "fail-over trials of each kind (0: failbench's default)")
	fs.StringVar(&s.dir, "dir", "", "directory for the suites' logs, repositories and buckets (on the disk to measure); default $TMPDIR")
	fs.StringVar(&s.readme, "readme", "", "Markdown file to write the reports into (default README.md; with -short a new file in a temporary directory)")
	fs.StringVar(&s.charts, "charts", "", "directory for the PNG charts (default: charts beside the README)")
	fs.StringVar(&s.standbyDir, "standby-dir", defaultStandbyDir(), `the replication suite runs replbench a second time with its standbys' logs in this directory, off the primary's disk (default /dev/shm, tmpfs, where it exists; "" skips that run)`)
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var errs []error
	for f := range strings.SplitSeq(suites, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case !slices.Contains(allSuites, f):
			errs = append(errs, fmt.Errorf("-suites: unknown suite %q; known: %s", f, strings.Join(allSuites, ",")))
		case !slices.Contains(s.suites, f):
			s.suites = append(s.suites, f)
		}
	}
	if len(s.suites) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("-suites: none given"))
	}
	if s.runs < 0 || s.trials < 0 || s.duration < 0 {
		errs = append(errs, errors.New("-runs, -trials and -duration must not be negative"))
	}
	return s, errors.Join(errs...)
}

// defaultStandbyDir is /dev/shm where it is a directory: tmpfs stands in
// for standbys' own disks on a one-disk machine.
func defaultStandbyDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return ""
}

// step is one command of the plan: a suite's program and its arguments.
type step struct {
	suites []string // the suites it measures
	cmd    string   // the directory under cmd/
	args   []string
}

// plan returns the commands that measure s.suites, in order. The
// hot-path and snapshot suites share one snapbench run (one README
// section).
func plan(s settings) []step {
	has := func(name string) bool { return slices.Contains(s.suites, name) }
	// common are the arguments every program takes; failbench counts
	// trials, not runs.
	common := func(runs bool) []string {
		var a []string
		if n := s.runs; runs && (n > 0 || s.short) {
			a = append(a, "-runs", strconv.Itoa(max(n, 1)))
		}
		if s.dir != "" {
			a = append(a, "-dir", s.dir)
		}
		return append(a, "-readme", s.readme, "-charts", s.charts)
	}
	dur := func(short string) []string {
		switch {
		case s.duration > 0:
			return []string{"-duration", s.duration.String()}
		case s.short:
			return []string{"-duration", short, "-warmup", "100ms"}
		}
		return nil
	}
	var out []step
	if has(suiteHotPath) || has(suiteSnapshot) {
		var which, suites []string
		if has(suiteHotPath) {
			which, suites = append(which, "chunkers", "crypto"), append(suites, suiteHotPath)
		}
		if has(suiteSnapshot) {
			which, suites = append(which, "snapshots"), append(suites, suiteSnapshot)
		}
		a := append(common(true), "-suites", strings.Join(which, ","))
		switch {
		case s.size != "":
			a = append(a, "-size", s.size)
		case s.short:
			a = append(a, "-size", "32MiB")
		}
		out = append(out, step{suites: suites, cmd: "snapbench", args: a})
	}
	if has(suiteWAL) {
		a := append(common(true), dur("250ms")...)
		if s.short {
			a = append(a, "-writers", "1,64", "-sizes", "128")
		}
		out = append(out, step{suites: []string{suiteWAL}, cmd: "walbench", args: a})
	}
	if has(suiteReplication) {
		a := append(common(true), dur("300ms")...)
		if s.short {
			a = append(a, "-writers", "1,8", "-sizes", "128")
		}
		out = append(out, step{suites: []string{suiteReplication}, cmd: "replbench", args: a})
		if s.standbyDir != "" {
			apart := append(slices.Clone(a), "-standby-dir", s.standbyDir)
			out = append(out, step{suites: []string{suiteReplication}, cmd: "replbench", args: apart})
		}
	}
	if has(suiteArchive) {
		a := common(true)
		if s.short {
			a = append(a, "-quick", "-duration", "3s", "-events", "50000")
		}
		switch {
		case s.size != "":
			a = append(a, "-state", s.size)
		case s.short:
			a = append(a, "-state", "32MiB")
		}
		out = append(out, step{suites: []string{suiteArchive}, cmd: "archbench", args: a})
	}
	if has(suiteTenants) {
		a := common(true)
		if s.short {
			a = append(a, "-quick")
		}
		out = append(out, step{suites: []string{suiteTenants}, cmd: "tenantbench", args: a})
	}
	if has(suiteFailover) {
		a := common(false)
		if s.short {
			a = append(a, "-quick", "-profile", "lan")
		}
		if s.trials > 0 {
			a = append(a, "-trials", strconv.Itoa(s.trials))
		}
		out = append(out, step{suites: []string{suiteFailover}, cmd: "failbench", args: a})
	}
	return out
}

// outcome is what running one step gave.
type outcome struct {
	step
	took time.Duration
	err  error
}

// The markers of the overview section in the README.
var overview = benchkit.Section{
	Begin:    "<!-- bench:begin -->",
	End:      "<!-- bench:end -->",
	Heading:  "## Overview: go run .",
	Template: "# Benchmarks\n\n## Overview: go run .\n\nTOKEN\n",
	Token:    "TOKEN",
}

func run(args []string) error {
	s, err := parseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return &benchkit.UsageError{Err: err}
	}
	if mod, err := os.ReadFile("go.mod"); err != nil || !strings.HasPrefix(string(mod), "module github.com/continuity-go/continuity/bench\n") {
		return errors.New("run it from the bench directory: cd bench && go run . (or go -C bench run . from the repository's root)")
	}
	if s.readme == "" {
		s.readme = "README.md"
		if s.short {
			tmp, err := os.MkdirTemp("", "continuity-bench-")
			if err != nil {
				return err
			}
			s.readme = filepath.Join(tmp, "README.md")
		}
	}
	if s.charts == "" {
		s.charts = filepath.Join(filepath.Dir(s.readme), "charts")
	}
	if err := os.MkdirAll(filepath.Dir(s.readme), 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return execute(ctx, s, strings.Join(args, " "), os.Stderr)
}

// execute builds the suites' programs, runs them one after the other and
// writes the overview into s.readme, reporting progress to progress. It
// fails if any suite failed, after running the others.
func execute(ctx context.Context, s settings, args string, progress io.Writer) error {
	steps := plan(s)
	bin, err := os.MkdirTemp("", "continuity-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	// -buildvcs=auto (over a GOFLAGS that turns it off) stamps the
	// commit into the programs, so each report names the source it
	// measured even if the tree changes while the suites run.
	build := []string{"build", "-buildvcs=auto", "-o", bin}
	for _, st := range steps {
		if pkg := "./cmd/" + st.cmd; !slices.Contains(build, pkg) {
			build = append(build, pkg)
		}
	}
	fmt.Fprintf(progress, "bench: building %d programs\n", len(build)-4)
	cmd := exec.CommandContext(ctx, "go", build...)
	cmd.Stdout, cmd.Stderr = progress, progress
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the suites: %w", err)
	}
	dir := s.dir
	if dir == "" {
		dir = os.TempDir()
	}
	sys := benchkit.Gather(dir, "wal", "snapshot", "replication", "failover", "internal")
	var results []outcome
	if err := overview.Write(s.readme, renderOverview(s, sys, args, steps, nil)); err != nil {
		return fmt.Errorf("write %s: %w", s.readme, err)
	}
	for i, st := range steps {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(progress, "bench: [%d/%d] %s: %s %s\n", i+1, len(steps), strings.Join(st.suites, ", "), st.cmd, strings.Join(st.args, " "))
		start := time.Now()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, st.cmd), st.args...)
		cmd.Stdout, cmd.Stderr = io.Discard, progress                         // the report goes into the README
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // let it remove its files
		cmd.WaitDelay = 30 * time.Second
		err := cmd.Run()
		o := outcome{step: st, took: time.Since(start), err: err}
		results = append(results, o)
		fmt.Fprintf(progress, "bench: [%d/%d] %s: %s after %v\n", i+1, len(steps), st.cmd, status(o), o.took.Round(time.Second))
	}
	sys.LoadEnd = benchkit.LoadAverage()
	if err := overview.Write(s.readme, renderOverview(s, sys, args, steps, results)); err != nil {
		return fmt.Errorf("write %s: %w", s.readme, err)
	}
	fmt.Fprintf(progress, "bench: wrote %s and the charts in %s\n", s.readme, s.charts)
	var errs []error
	for _, o := range results {
		if o.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.cmd, o.err))
		}
	}
	if len(results) < len(steps) {
		errs = append(errs, fmt.Errorf("stopped after %d of %d programs: %w", len(results), len(steps), ctx.Err()))
	}
	return errors.Join(errs...)
}

func status(o outcome) string {
	if o.err != nil {
		return "failed (" + o.err.Error() + ")"
	}
	return "done"
}

// renderOverview is the overview section: the machine, the command, and
// each program's wall time and result (none yet while results is nil).
func renderOverview(s settings, sys benchkit.System, args string, steps []step, results []outcome) string {
	var b strings.Builder
	cmd := "go run ."
	if args != "" {
		cmd += " " + args
	}
	mode := "full"
	if s.short {
		mode = "short (a smoke run: one short run per configuration, fewer configurations; not figures to quote)"
	}
	fmt.Fprintf(&b, "Measured %s with `%s` in the bench directory; mode: %s.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd, mode)
	benchkit.Table(&b, []string{"", ""}, append(sys.Facts(), sys.Load()))
	b.WriteString("\n")
	var rows [][]string
	for i, st := range steps {
		took, result := "—", "running or not run yet"
		if i < len(results) {
			took, result = results[i].took.Round(time.Second).String(), status(results[i])
		} else if results != nil {
			result = "not run (interrupted)"
		}
		rows = append(rows, []string{strings.Join(st.suites, ", "), "`" + st.cmd + " " + strings.Join(st.args, " ") + "`", took, result})
	}
	benchkit.Table(&b, []string{"suites", "program and arguments", "wall time", "result"}, rows)
	b.WriteString("\nEach program's section below has its method, its tables (medians over the runs with min–max, ratios to the peers and to the physical limit measured in the same run) and its charts.\n")
	return b.String()
}
