// Command replbench measures continuity's WAL replication (package
// replication) on loopback TLS: append throughput and latency of a
// primary without replication, with one asynchronous standby, and
// synchronous to one and to two standbys; how far the asynchronous standby
// lags; and, in the same run on the same disk, the physical limits those
// numbers stand against (one write+fdatasync, two of them in series, at
// once and side by side on two files, and a TLS round trip through the
// package's transport). It prints a Markdown report.
//
// Usage, from the bench module's directory:
//
//	go run ./cmd/replbench [-dir DIR] [-runs 5] [-duration 2s] [-readme README.md] [-charts DIR]
//
// Each measurement opens fresh logs (real files under -dir) for the
// primary and its standbys, all in this process, connected over
// 127.0.0.1 with TLS 1.3 and mutual authentication (certificates made up
// by the program), and drives the primary with -writers closed-loop
// goroutines. Every configuration runs -runs times, each -duration long
// after a -warmup; the runs go round by round (each configuration once
// per round), so that a disturbance of the machine spreads over all of
// them. The report gives the median and min–max over the runs and checks
// the targets. With -readme, it replaces the text between
// <!-- replbench:begin --> and <!-- replbench:end --> in that file.
// With -charts DIR, it also draws PNG charts into DIR (repl-throughput.png:
// records/s by payload and writers per mode; repl-latency.png: the
// distribution of Append latency per mode at the fewest writers;
// repl-lag.png: the distribution of the asynchronous standby's lag) and
// appends their image links to the report.
//
// The program needs about seven minutes with the defaults; use
// -runs 1 -duration 300ms for a quick look.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

func main() { benchkit.Exit("replbench", run()) }

// mode is a replication configuration of the primary.
type mode string

const (
	modeBaseline mode = "baseline" // wal.Log.Append, no replication
	modeAsync    mode = "async"    // Primary.Append(Mode{}), one standby streaming
	modeSync1    mode = "sync1"    // Primary.Append(Mode{Sync: 1}), one standby
	modeSync2    mode = "sync2"    // Primary.Append(Mode{Sync: 2}), two standbys
)

var allModes = []mode{modeBaseline, modeAsync, modeSync1, modeSync2}

// standbys is how many standbys the mode runs.
func (m mode) standbys() int {
	switch m {
	case modeAsync, modeSync1:
		return 1
	case modeSync2:
		return 2
	}
	return 0
}

// sync is the mode's replication.Mode.Sync.
func (m mode) sync() int {
	switch m {
	case modeSync1:
		return 1
	case modeSync2:
		return 2
	}
	return 0
}

// label is the mode's name in the report.
func (m mode) label() string {
	switch m {
	case modeAsync:
		return "async, 1 standby"
	case modeSync1:
		return "sync(1), 1 standby"
	case modeSync2:
		return "sync(2), 2 standbys"
	}
	return "baseline: wal.Log alone"
}

// settings are the command-line flags.
type settings struct {
	dir      string
	runs     int
	duration time.Duration
	warmup   time.Duration
	readme   string
	charts   string // directory to draw the PNG charts into; "" draws none
	writers  []int
	sizes    []int
	modes    []mode
	limits   bool   // measure the physical limits
	cpuprof  string // file to write a CPU profile of the whole run to
	// standbyDir, if set, holds the standbys' logs instead of dir: a
	// second disk, or tmpfs as a stand-in for standbys on other machines.
	standbyDir string
	standbyFS  string        // what the file system of standbyDir is (for the report)
	window     int           // PrimaryOptions.Window; 0 for its default
	flushDelay time.Duration // StandbyOptions.FlushDelay; 0 for its default
}

func parseFlags(args []string) (settings, error) {
	var s settings
	var writers, sizes, modes string
	fs := flag.NewFlagSet("replbench", flag.ContinueOnError)
	fs.StringVar(&s.dir, "dir", "", "directory to create the logs in (a temporary directory is made inside it and removed); default $TMPDIR")
	fs.IntVar(&s.runs, "runs", 5, "timed runs per configuration")
	fs.DurationVar(&s.duration, "duration", 2*time.Second, "length of one timed run")
	fs.DurationVar(&s.warmup, "warmup", time.Second, "untimed warm-up before each run")
	fs.StringVar(&s.readme, "readme", "", "Markdown file to write the report into, between the replbench markers")
	fs.StringVar(&s.charts, "charts", "", "directory to draw the report's PNG charts into (linked from -readme); none if empty")
	fs.StringVar(&writers, "writers", "1,8,64", "comma-separated numbers of concurrent writers")
	fs.StringVar(&sizes, "sizes", "128,1024", "comma-separated payload sizes in bytes")
	fs.StringVar(&modes, "modes", modeList(allModes), "comma-separated replication modes to measure")
	fs.BoolVar(&s.limits, "limits", true, "measure the physical limits (raw write+fdatasync, TLS round trip)")
	fs.StringVar(&s.standbyDir, "standby-dir", "", "directory for the standbys' logs (default: beside the primary's, on one disk); e.g. /dev/shm to measure what replication costs the primary when its standbys' disks are not its own")
	fs.IntVar(&s.window, "window", 0, "replication.PrimaryOptions.Window: Records frames in flight per standby (0: the default)")
	fs.DurationVar(&s.flushDelay, "flush-delay", 0, "replication.StandbyOptions.FlushDelay: how long an asynchronous standby may hold records before it syncs them (0: the default; negative: sync every frame)")
	fs.StringVar(&s.cpuprof, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var errs []error
	if s.runs < 1 {
		errs = append(errs, fmt.Errorf("-runs %d: need at least 1", s.runs))
	}
	if s.duration <= 0 {
		errs = append(errs, fmt.Errorf("-duration %v: must be positive", s.duration))
	}
	if s.warmup < 0 {
		errs = append(errs, fmt.Errorf("-warmup %v: must not be negative", s.warmup))
	}
	var err error
	if s.writers, err = benchkit.ParseInts(writers, 1, 4096); err != nil {
		errs = append(errs, fmt.Errorf("-writers: %w", err))
	}
	if s.sizes, err = benchkit.ParseInts(sizes, 1, 1<<20); err != nil {
		errs = append(errs, fmt.Errorf("-sizes: %w", err))
	}
	if s.modes, err = parseModes(modes); err != nil {
		errs = append(errs, fmt.Errorf("-modes: %w", err))
	}
	return s, errors.Join(errs...)
}

// parseModes parses the modes, and returns them in report order.
func parseModes(list string) ([]mode, error) {
	seen := map[mode]bool{}
	for f := range strings.SplitSeq(list, ",") {
		m := mode(strings.TrimSpace(f))
		known := false
		for _, k := range allModes {
			known = known || k == m
		}
		if !known {
			return nil, fmt.Errorf("unknown mode %q; known: %s", m, modeList(allModes))
		}
		seen[m] = true
	}
	var out []mode
	for _, m := range allModes {
		if seen[m] {
			out = append(out, m)
		}
	}
	return out, nil
}

func modeList(modes []mode) string {
	s := make([]string, len(modes))
	for i, m := range modes {
		s[i] = string(m)
	}
	return strings.Join(s, ",")
}

func run() error { return benchkit.Run(parseFlags, execute) }

// execute measures what s asks for, prints the report to out (progress to
// progress) and writes it into s.readme if set. args are the command's
// arguments, quoted in the report.
func execute(ctx context.Context, s settings, args string, out, progress io.Writer) error {
	cs, err := benchkit.NewCharts(s.charts, s.readme)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp(s.dir, "replbench-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(root)

	sys := benchkit.Gather(root, "wal", "replication", "internal")
	if s.standbyDir != "" {
		s.standbyFS = benchkit.FileSystem(s.standbyDir)
	}
	if s.cpuprof != "" {
		f, err := os.Create(s.cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b := &bencher{settings: s, root: root, progress: progress}
	res, err := b.all(ctx)
	if err != nil {
		return err
	}
	sys.LoadEnd = benchkit.LoadAverage()
	report := renderReport(s, sys, res, args)
	charts, err := drawCharts(cs, s, res)
	if err != nil {
		return err
	}
	report += charts
	fmt.Fprint(out, report)
	if s.readme != "" {
		if err := writeReadme(s, s.readme, report); err != nil {
			return fmt.Errorf("write %s: %w", s.readme, err)
		}
		fmt.Fprintf(progress, "replbench: wrote the report into %s\n", s.readme)
	}
	return nil
}
