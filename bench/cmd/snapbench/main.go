// Command snapbench measures continuity's snapshot store side by side with
// the physical limits of its per-chunk work (chunking, hashing, lz4,
// AES-GCM, each alone on one goroutine) and with restic, all in one run on
// the same data and the same disk, and prints a Markdown report.
//
// Usage, from the bench module's directory:
//
//	go run ./cmd/snapbench [-dir DIR] [-runs 5] [-size 256MiB] [-suites snapshots,chunkers,crypto] [-readme README.md] [-charts DIR]
//
// For each kind of data (JSON event lines and incompressible bytes, both
// from internal/gen), every run stores a first snapshot, a snapshot after
// -edits small edits, the same snapshot again (unchanged) and restores the
// latest one: with continuity (lz4, with one worker and with one per CPU;
// zstd for the first snapshot) into a localblob bucket, and with restic
// (`restic backup --stdin`, `restic dump`) into a local repository, each
// run in a fresh repository. The runs go round by round (each
// configuration once per round), so that a disturbance of the machine
// spreads over all of them. The report gives the median and min–max over
// the runs, the ratios to the project's targets, and the machine. With
// -readme, it replaces the text between <!-- snapbench:begin --> and
// <!-- snapbench:end --> in that file.
//
// The same rounds measure, on the same states, two more suites: the
// content-defined chunkers (ours, restic/chunker, jotfs/fastcdc-go and
// Plakar's fastcdc and jc: speed, mean chunk size and the bytes reused
// after small edits) and the per-chunk primitives (keyed BLAKE3 beside
// HMAC-SHA-256 and xxhash64, AES-256-GCM beside XChaCha20-Poly1305, lz4
// and zstd), each alone on one goroutine. -suites picks the suites:
// snapshots (Save, Restore, restic and the physical limits), chunkers,
// crypto.
//
// With -charts DIR, the program also draws PNG charts of the suites that
// ran into DIR (snap-<data>.png: MB/s by step per tool and configuration;
// snap-chunkers.png; snap-crypto.png) and appends their image links to
// the report.
//
// The program needs about two and a half minutes with the defaults; use
// -runs 1 -size 16MiB for a quick look. -restic "" leaves restic out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

func main() { benchkit.Exit("snapbench", run()) }

// settings are the command-line flags.
type settings struct {
	dir     string
	runs    int
	size    int
	edits   int
	editLen int
	workers []int
	data    []string
	suites  []string
	restic  string // path or name of the restic binary; "" leaves restic out
	readme  string
	charts  string // directory to draw the PNG charts into; "" draws none
}

// dataKinds are the kinds of state -data may name.
var dataKinds = []string{"events", "random"}

// Suites, which -suites may name.
const (
	suiteSnapshots = "snapshots" // Save and Restore, with restic, and the physical limits
	suiteChunkers  = "chunkers"  // the content-defined chunkers side by side
	suiteCrypto    = "crypto"    // identity hashes, AEADs and codecs alone
)

var allSuites = []string{suiteSnapshots, suiteChunkers, suiteCrypto}

// suite says whether the suite name is to run.
func (s settings) suite(name string) bool { return slices.Contains(s.suites, name) }

func parseFlags(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("snapbench", flag.ContinueOnError)
	var size, workers, data, suites string
	fs.StringVar(&s.dir, "dir", "", "directory for the data files and repositories (a temporary directory is made inside it and removed); default $TMPDIR")
	fs.IntVar(&s.runs, "runs", 5, "timed runs per configuration")
	fs.StringVar(&size, "size", "256MiB", "state size: bytes, or a number with KiB, MiB or GiB")
	fs.IntVar(&s.edits, "edits", 100, "small edits between the first and the second snapshot")
	fs.IntVar(&s.editLen, "edit-len", 64, "largest edit in bytes (each inserts, deletes or overwrites 1 to edit-len bytes)")
	fs.StringVar(&workers, "workers", fmt.Sprintf("1,%d", runtime.NumCPU()), "comma-separated Options.Workers to measure continuity with")
	fs.StringVar(&data, "data", strings.Join(dataKinds, ","), "comma-separated kinds of state: events, random")
	fs.StringVar(&suites, "suites", strings.Join(allSuites, ","), "comma-separated suites to run: snapshots (Save, Restore, restic, physical limits), chunkers, crypto")
	fs.StringVar(&s.restic, "restic", "restic", `restic binary; "" leaves restic out`)
	fs.StringVar(&s.readme, "readme", "", "Markdown file to write the report into, between the snapbench markers")
	fs.StringVar(&s.charts, "charts", "", "directory to draw the report's PNG charts into (linked from -readme); none if empty")
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
	var err error
	if s.size, err = parseSize(size); err != nil {
		errs = append(errs, fmt.Errorf("-size: %w", err))
	} else if s.size < 1<<20 {
		errs = append(errs, fmt.Errorf("-size %s: need at least 1 MiB", size))
	}
	if s.edits < 0 {
		errs = append(errs, fmt.Errorf("-edits %d: must not be negative", s.edits))
	}
	if s.editLen < 1 {
		errs = append(errs, fmt.Errorf("-edit-len %d: need at least 1", s.editLen))
	}
	if s.workers, err = benchkit.ParseInts(workers, 1, 1024); err != nil {
		errs = append(errs, fmt.Errorf("-workers: %w", err))
	}
	for k := range strings.SplitSeq(data, ",") {
		k = strings.TrimSpace(k)
		known := false
		for _, d := range dataKinds {
			known = known || d == k
		}
		if !known {
			errs = append(errs, fmt.Errorf("-data: unknown kind %q; known: %s", k, strings.Join(dataKinds, ",")))
			continue
		}
		s.data = append(s.data, k)
	}
	for k := range strings.SplitSeq(suites, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(allSuites, k) {
			errs = append(errs, fmt.Errorf("-suites: unknown suite %q; known: %s", k, strings.Join(allSuites, ",")))
			continue
		}
		if !slices.Contains(s.suites, k) {
			s.suites = append(s.suites, k)
		}
	}
	return s, errors.Join(errs...)
}

// parseSize parses 4096, 64KiB, 256MiB or 1GiB.
func parseSize(v string) (int, error) {
	v = strings.TrimSpace(v)
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 64<<30/mult {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with KiB, MiB or GiB, at most 64 GiB)", v)
	}
	return n * mult, nil
}

func run() error {
	s, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &benchkit.UsageError{Err: err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var resticVersion string
	if s.restic != "" && s.suite(suiteSnapshots) {
		if resticVersion, err = resticVersionOf(ctx, s.restic); err != nil {
			return fmt.Errorf("%w (install restic, or run with -restic \"\" to leave it out)", err)
		}
	}
	cs, err := benchkit.NewCharts(s.charts, s.readme)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp(s.dir, "snapbench-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(root)

	sys := system{System: benchkit.Gather(root, "snapshot", "internal")}
	sys.restic = resticVersion
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
		fmt.Fprintf(os.Stderr, "snapbench: wrote the report into %s\n", s.readme)
	}
	return nil
}
