// Command walbench measures continuity's WAL side by side with the
// physical limit of the disk (a bare write+fdatasync loop) and with other
// Go write-ahead logs, all in one run on the same disk, and prints a
// Markdown report.
//
// Usage, from the bench module's directory:
//
//	go run ./cmd/walbench [-dir DIR] [-runs 5] [-duration 2s] [-readme README.md]
//
// Every configuration runs -runs times in a fresh directory, each run
// -duration long after a -warmup; the report gives the median and the
// min–max over the runs. The runs go round by round (each configuration
// once per round), so that a disturbance of the machine spreads over all
// configurations instead of hitting one. With -readme, the report
// replaces the text between the markers <!-- walbench:begin --> and
// <!-- walbench:end --> of that file, which is created with an explanation
// of the method if it does not exist.
//
// The program needs a few minutes with the defaults; use
// -runs 1 -duration 200ms for a quick look.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/peers"
)

func main() { benchkit.Exit("walbench", run()) }

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
	impls    []peers.Impl
}

func parseFlags() (settings, error) {
	var s settings
	var writers, sizes, impls string
	flag.StringVar(&s.dir, "dir", "", "directory to create the logs in (a temporary directory is made inside it and removed); default $TMPDIR")
	flag.IntVar(&s.runs, "runs", 5, "timed runs per configuration")
	flag.DurationVar(&s.duration, "duration", 2*time.Second, "length of one timed run")
	flag.DurationVar(&s.warmup, "warmup", time.Second, "untimed warm-up before each run")
	flag.StringVar(&s.readme, "readme", "", "Markdown file to write the report into, between the walbench markers")
	flag.StringVar(&s.charts, "charts", "", "directory to draw the report's PNG charts into (linked from -readme); none if empty")
	flag.StringVar(&writers, "writers", "1,8,64", "comma-separated numbers of concurrent writers")
	flag.StringVar(&sizes, "sizes", "128,4096", "comma-separated payload sizes in bytes")
	flag.StringVar(&impls, "impls", implList(peers.Impls()), "comma-separated logs to measure besides the raw loops; continuity must be one")
	flag.Parse()
	if flag.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q", flag.Args())
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
	if s.impls, err = parseImpls(impls); err != nil {
		errs = append(errs, fmt.Errorf("-impls: %w", err))
	}
	return s, errors.Join(errs...)
}

func parseImpls(list string) ([]peers.Impl, error) {
	var out []peers.Impl
	seen := map[peers.Impl]bool{}
	for f := range strings.SplitSeq(list, ",") {
		impl := peers.Impl(strings.TrimSpace(f))
		known := false
		for _, k := range peers.Impls() {
			known = known || k == impl
		}
		if !known {
			return nil, fmt.Errorf("unknown log %q; known: %s", impl, implList(peers.Impls()))
		}
		if !seen[impl] {
			seen[impl] = true
			out = append(out, impl)
		}
	}
	if !seen[peers.Continuity] {
		return nil, fmt.Errorf("%s must be measured: the raw batch sizes come from it", peers.Continuity)
	}
	return out, nil
}

func implList(impls []peers.Impl) string {
	s := make([]string, len(impls))
	for i, impl := range impls {
		s[i] = string(impl)
	}
	return strings.Join(s, ",")
}

func run() error {
	s, err := parseFlags()
	if err != nil {
		return &benchkit.UsageError{Err: err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	cs, err := benchkit.NewCharts(s.charts, s.readme)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp(s.dir, "walbench-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(root)

	sys := benchkit.Gather(root, "wal", "internal")
	b := &bencher{settings: s, root: root, progress: os.Stderr}
	res, err := b.all(ctx)
	if err != nil {
		return err
	}
	sys.LoadEnd = benchkit.LoadAverage()
	report := renderReport(s, sys, res, strings.Join(os.Args[1:], " "))
	charts, err := drawCharts(cs, s, res)
	if err != nil {
		return err
	}
	report += charts
	fmt.Print(report)
	if s.readme != "" {
		if err := writeReadme(s.readme, report); err != nil {
			return fmt.Errorf("write %s: %w", s.readme, err)
		}
		fmt.Fprintf(os.Stderr, "walbench: wrote the report into %s\n", s.readme)
	}
	return nil
}
