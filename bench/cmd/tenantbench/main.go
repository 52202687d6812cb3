// Command tenantbench measures continuity's tenants (issue 20: each
// tenant's events sealed under its own key, each tenant's state sealed in
// base snapshots) on one node, beside the machine's limit measured in the
// same run, and prints a Markdown report.
//
// Usage, from the bench module's directory:
//
//	go run ./cmd/tenantbench [-dir DIR] [-runs 5] [-duration 3s] [-tenants 10000] [-suites append,scale] [-readme README.md] [-charts DIR]
//	go run ./cmd/tenantbench -quick              # a quick look: 1 run of 250 ms, 500 tenants
//
// Append (suite append): a node (WAL in the work directory, the default
// archive beside it) takes events from 1 and 64 closed-loop writers, of
// 128 B and 4 KiB, through Append (plain), AppendTenant (sealed; each
// writer its own tenant, created before timing) and Append of the sealed
// size (plain events sealedOverhead bytes longer: a sealed event's bytes,
// unsealed). Every configuration runs -runs times for -duration after a
// -warmup, each run on a fresh node, round by round; within a round the
// three ways' nodes warm up in turn, then take turns in -slices slices
// of each run (a tenth of -warmup before each). Each node's WAL is kept
// as a running node's: filler until it has rolled once, and after every
// slice its archived segments released (TruncateFront, the host's
// retention), so new segments reuse files instead of zero-filling 64 MiB
// beside the writers. The report gives
// events/s (median, min–max), the ratios sealed ÷ plain (the target) and
// sealed ÷ plain of the sealed size (sealing's cost beyond its bytes), and
// beside them the machine's limit: AES-256-GCM sealing one event alone
// (crypto/cipher, a fixed key) and what fraction of a plain Append's time
// per event that is.
//
// Scale (suite scale): -tenants tenants on one node, each with 8 to 24
// events of 100 to 600 bytes (deterministic from -seed). It times creating
// and filling them, then restarts: the WAL replayed from LSN 1, and, after
// base snapshots and a TruncateFront past them, the node restored from
// the newest base snapshot; the heap in use per tenant; and the bytes base
// snapshots store: all tenants, then 1% of them changed (one event each),
// against the changed tenants' bytes, and where those bytes go.
//
// The report checks issue 20's targets: AppendTenant at least 0.95 of
// Append's events/s at 1 and 64 writers; a base snapshot after 1% of the
// tenants changed stores at most 1.2 times the changed tenants' bytes.
// With -readme, it replaces the text between <!-- tenantbench:begin -->
// and <!-- tenantbench:end --> in that file. With -charts DIR, it also
// draws a PNG chart of the append suite into DIR (tenant-append.png).
//
// The program needs about seven minutes with the defaults, of which the
// append suite's timed runs take four (2 sizes × 2 numbers of writers ×
// 3 ways × 5 runs × 4 s) and ageing its 60 nodes' WALs under one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

func main() { benchkit.Exit("tenantbench", run()) }

// Suites, which -suites may name.
const (
	suiteAppend = "append" // Append vs AppendTenant, beside AES-256-GCM alone
	suiteScale  = "scale"  // many tenants: create, restart, memory, snapshot bytes
)

var allSuites = []string{suiteAppend, suiteScale}

// settings are the command-line flags.
type settings struct {
	dir      string
	runs     int
	duration time.Duration
	warmup   time.Duration
	slices   int
	writers  []int
	sizes    []int
	tenants  int
	seed     uint64
	suites   []string
	quick    bool
	readme   string
	charts   string // directory to draw the PNG chart into; "" draws none
}

// suite says whether the suite name is to run.
func (s settings) suite(name string) bool { return slices.Contains(s.suites, name) }

// Defaults, and what -quick sets instead for the flags not given.
const (
	defaultRuns     = 5
	defaultDuration = 3 * time.Second
	defaultWarmup   = time.Second
	defaultSlices   = 3
	defaultTenants  = 10_000
	quickRuns       = 1
	quickDuration   = 250 * time.Millisecond
	quickWarmup     = 100 * time.Millisecond
	quickTenants    = 500
)

func parseFlags(args []string) (settings, error) {
	var s settings
	var writers, sizes, suites string
	fs := flag.NewFlagSet("tenantbench", flag.ContinueOnError)
	fs.StringVar(&s.dir, "dir", "", "directory for the nodes' logs and archives (a temporary directory is made inside it and removed); default $TMPDIR")
	fs.IntVar(&s.runs, "runs", defaultRuns, "timed runs per configuration of the append suite, and restarts of each kind in the scale suite")
	fs.DurationVar(&s.duration, "duration", defaultDuration, "length of one timed run of the append suite")
	fs.DurationVar(&s.warmup, "warmup", defaultWarmup, "untimed warm-up before each run of the append suite")
	fs.IntVar(&s.slices, "slices", defaultSlices, "slices each run of the append suite is cut into, the ways of a round taking turns slice by slice")
	fs.StringVar(&writers, "writers", "1,64", "comma-separated numbers of concurrent writers (append suite)")
	fs.StringVar(&sizes, "sizes", "128,4096", "comma-separated event sizes in bytes (append suite)")
	fs.IntVar(&s.tenants, "tenants", defaultTenants, "tenants on the node of the scale suite")
	fs.Uint64Var(&s.seed, "seed", 1, "seed of the scale suite's tenants and events, and of the payloads")
	fs.StringVar(&suites, "suites", strings.Join(allSuites, ","), "comma-separated suites: append, scale")
	fs.BoolVar(&s.quick, "quick", false, fmt.Sprintf("a quick look: -runs %d -duration %v -warmup %v -tenants %d, unless given", quickRuns, quickDuration, quickWarmup, quickTenants))
	fs.StringVar(&s.readme, "readme", "", "Markdown file to write the report into, between the tenantbench markers")
	fs.StringVar(&s.charts, "charts", "", "directory to draw the report's PNG chart into (linked from -readme); none if empty")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if s.quick {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["runs"] {
			s.runs = quickRuns
		}
		if !given["duration"] {
			s.duration = quickDuration
		}
		if !given["warmup"] {
			s.warmup = quickWarmup
		}
		if !given["tenants"] {
			s.tenants = quickTenants
		}
	}
	var errs []error
	if s.runs < 1 {
		errs = append(errs, fmt.Errorf("-runs %d: need at least 1", s.runs))
	}
	if s.duration < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("-duration %v: need at least 10ms", s.duration))
	}
	if s.slices < 1 {
		errs = append(errs, fmt.Errorf("-slices %d: need at least 1", s.slices))
	} else if s.duration/time.Duration(s.slices) < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("-slices %d: slices of -duration %v would be shorter than 10ms", s.slices, s.duration))
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
	if s.tenants < 1 || s.tenants > 1_000_000 {
		errs = append(errs, fmt.Errorf("-tenants %d: must be in [1, 1000000]", s.tenants))
	}
	if s.suites, err = benchkit.ParseList(suites, allSuites); err != nil {
		errs = append(errs, fmt.Errorf("-suites: %w", err))
	}
	return s, errors.Join(errs...)
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
	root, err := os.MkdirTemp(s.dir, "tenantbench-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(root)

	sys := benchkit.Gather(root, "wal", "archive", "snapshot", "tenant", "internal")
	b := &bencher{settings: s, root: root, progress: progress}
	res := &results{}
	if s.suite(suiteAppend) {
		if res.appends, res.seals, err = b.appendSuite(ctx); err != nil {
			return err
		}
	}
	if s.suite(suiteScale) {
		if res.scale, err = b.scaleSuite(ctx); err != nil {
			return err
		}
	}
	sys.LoadEnd = benchkit.LoadAverage()
	report := renderReport(s, sys, res, args)
	charts, err := drawCharts(cs, res)
	if err != nil {
		return err
	}
	report += charts
	fmt.Fprint(out, report)
	if s.readme != "" {
		if err := writeReadme(s.readme, report); err != nil {
			return fmt.Errorf("write %s: %w", s.readme, err)
		}
		fmt.Fprintf(progress, "tenantbench: wrote the report into %s\n", s.readme)
	}
	return nil
}
