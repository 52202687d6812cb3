// Command archbench measures continuity's WAL archive (package
// archive: Archiver, RestoreTo, VerifyWith) on a file:// bucket (a local
// directory through package localblob, which fsyncs every object, as a
// Node archives to file://) and on loopback S3: how far the archive lags
// a primary appending a steady load (the recovery point objective), what
// the record chain and the head objects of archive format 2 add to the
// uploads, how fast a state is rebuilt from the archive (the recovery
// time), and how fast Verify checks it, beside the physical limits of
// the same stores in the same run. It prints a Markdown report.
//
// Usage, from the bench module's directory:
//
//	go run ./cmd/archbench [-dir DIR] [-runs 3] [-duration 60s] [-stores file,s3] [-suites lag,restore,verify] [-readme README.md] [-charts DIR]
//	go run ./cmd/archbench -suites cost|copy|sync|copies [-stores file,s3] [-readme README.md]   # the suites not run by default
//	go run ./cmd/archbench -quick                  # a quick look: 1 run of 5 s, a 64 MiB + 100,000-event archive
//
// Archive lag (suite lag): each run opens a fresh wal.Log (default
// Options: every Append durable) and a fresh snapshot repository in the
// store, starts an archive.Archiver with default options (ShipInterval
// 1 s, compaction on), and appends -rate events/s of -payload bytes
// (event JSON from internal/gen) for -duration, paced against the wall
// clock in one Append (one fdatasync) per millisecond. Every record's lag
// is the time from its Append returning to the archive's contiguous end
// (UploadEvent.Archived) passing it; Archiver.Status().Lag is sampled
// every 10 ms beside it. After the run, a listing of the bucket counts
// the WAL objects, the head objects written (their sequence numbers) and
// what the chain values and heads add to the bytes uploaded; the heads
// written during the load are counted from Status().HeadWritten. Each run
// ends with a RestoreTo of the whole archive that must reach the log's
// last record.
//
// Restore and verify (suites restore, verify): per store, one archive
// holding a base snapshot of -state bytes (taken with
// Archiver.SnapshotNow after one record) and -events events of -payload
// bytes after it. The restore suite restores it -runs times with
// RestoreTo into a state machine that reads and discards; the same run
// reads every archived WAL object, decodes them, and restores the
// snapshot alone with snapshot.Repo.Restore, for the limits. The verify
// suite times, -runs times, a plain read of every object under wal/ with
// 4 reads at once (the limit) and archive.VerifyWith at VerifyPITR with 4
// reads at once, each with the store's files dropped from the page cache
// first, then both again cached, and decodes the WAL objects from memory
// in one goroutine, split into decryption, lz4 and the chain's SHA-256.
//
// Request cost (suite cost, run only when -suites names it): ten runs
// of -cost-duration per store count every request the archive makes,
// by operation, through a gocloud driver.Bucket wrapped around the
// store's bucket, and a model of the archive's rules, checked against
// the counts, projects them to an hour and a month at S3's prices,
// compares compaction schedules, and sets what
// Options.IdleShipInterval (10 s and 60 s, at 10 and 1,000 events/s)
// saves beside the lag it allows (cost.go). Its report goes between
// <!-- archbench-cost:begin --> and <!-- archbench-cost:end -->.
//
// Archive copy (suite copy, run only when -suites names it: about 5 s
// per store and run with its defaults): each run builds an archive on
// each store like the restore suite's, a base snapshot of -copy-state
// bytes and -copy-events events after it, and copies it with
// snapshot.Repo.CopyTo (what `ctl copy` runs) into an empty bucket of
// the same store, timed beside a raw copy of the same objects (the same
// reads and writes, nothing authenticated); then again with nothing
// changed (target: 0 bytes moved); then changes the state (1% of its
// bytes overwritten in 8 places, a tenth of -copy-events more events, a
// new base snapshot between them, Flush) and copies again (target: at
// most 1.1× the bytes of the objects the change added to the archive,
// from listings before and after). A RestoreTo from the copy must reach
// the archive's last record (copy.go). Its report goes between
// <!-- archbench-copy:begin --> and <!-- archbench-copy:end -->.
//
// Archive-synchronous writes (suite sync, run only when -suites names
// it: two loads of -sync-duration per store and run, about half a
// minute with its defaults): each run, on a fresh log and repository
// for each load, 64 writer goroutines in a closed loop each Append one
// event of -payload bytes and then wait in archive.Archiver.Sync until
// the archive holds it (what continuity.Config.ArchiveSync does for a
// Node); the same 64 writers appending without Sync (asynchronous
// archiving) are the comparison, the two taking turns going first. The
// archiver has default options. After the synchronous load,
// Status().Archived and a RestoreTo of the archive must reach the last
// LSN a Sync acknowledged, or the run fails; then 100 PUTs of an object
// of the synchronous uploads' median size time the floor (sync.go). It
// reports the calls' p50 and p99 and events/s of both modes, the
// uploads per second (events per upload: the group commit), and checks
// sync p50 ≤ 2× one PUT's p50 and sync events/s ≥ 0.5× async events/s.
// Its report goes between <!-- archbench-sync:begin --> and
// <!-- archbench-sync:end -->.
//
// Archive copies (suite copies, run only when -suites names it: one load
// of -copies-duration per store and run, about two and a half minutes
// with its defaults and both stores): each run, on a fresh log and
// repository, an archiver like the lag suite's (ShipInterval 1 s) with
// one copy (Options.Copies) in an empty bucket of the same store, under
// the lag suite's paced load (-rate, -payload) for -copies-duration.
// Every record's archive lag is measured as in the lag suite; its copy
// lag is the time from its Append returning to the first sample of
// Status().Copies[0].Archived (taken every 2 ms) that reached it. After
// the load the archive drains, the copy catches up, and a RestoreTo from
// the copy must reach the log's last record, or the run fails
// (copies.go). It checks p99 ≤ 1 s on both at 10,000 events/s. Its
// report goes between <!-- archbench-copies:begin --> and
// <!-- archbench-copies:end -->.
//
// The S3 store is the bucket named by $CONTINUITY_TEST_S3_URL (with AWS
// credentials from the environment, as `.ci/run with-s3` sets them), or
// else a versitygw server that the program starts on 127.0.0.1 over a
// directory under -dir from the repository's .bin/versitygw (built by
// .ci/run), or else it is skipped and the report says why. Every run
// works under a random key prefix, deleted at the end.
//
// Each suite's runs go round by round (each store once per round), so
// that a disturbance of the machine spreads over all of them; the report
// gives the median and min–max over the runs and checks the targets (p99
// per-record lag ≤ 1 s, chain and heads ≤ 5% of the bytes uploaded, at
// most one head per ShipInterval, Verify at least 0.8 of the plain
// read's MB/s). With -readme, it replaces the text between
// <!-- archbench:begin --> and <!-- archbench:end --> in that file. With
// -charts DIR, it also draws PNG charts into DIR (arch-lag.png: the
// distribution of the per-record lag per store; arch-restore.png: the
// restores' MB/s by part per store; arch-verify.png: the plain read's and
// Verify's MB/s per store) and appends their image links to the report.
//
// The program needs about seven and a half minutes with the defaults
// and both stores (six 60-second lag runs, then the restores and verify
// runs); -quick takes about fifteen seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

func main() { benchkit.Exit("archbench", run()) }

// Stores, which -stores may name.
const (
	storeFile = "file" // a file:// bucket in the work directory
	storeS3   = "s3"   // loopback S3
)

var allStores = []string{storeFile, storeS3}

// Suites, which -suites may name.
const (
	suiteLag     = "lag"     // archive lag under a paced load
	suiteRestore = "restore" // restore of a snapshot and events
	suiteVerify  = "verify"  // archive.VerifyWith beside a plain read
)

var allSuites = []string{suiteLag, suiteRestore, suiteVerify}

// suiteCost counts the archive's requests (cost.go). It is not among the
// default suites: its counts do not change from run to run, and it takes
// ten runs of -cost-duration per store.
const suiteCost = "cost"

// suiteCopy copies an archive with snapshot.Repo.CopyTo (copy.go). It is
// not among the default suites: with its defaults it adds about 5 s per
// store and run (half a minute for both stores), and its report has a
// section of its own.
const suiteCopy = "copy"

// suiteSync measures archive-synchronous writes, Archiver.Sync after
// each Append, against asynchronous archiving (sync.go). It is not among
// the default suites: it adds two loads of -sync-duration per store and
// run, and its report has a section of its own.
const suiteSync = "sync"

// suiteCopies measures the archive's lag and its copy's under the lag
// suite's load, with one copy in Options.Copies (copies.go). It is not
// among the default suites: it adds a load of -copies-duration per store
// and run, and its report has a section of its own.
const suiteCopies = "copies"

// knownSuites are the suites -suites may name.
var knownSuites = append(slices.Clone(allSuites), suiteCost, suiteCopy, suiteSync, suiteCopies)

// settings are the command-line flags.
type settings struct {
	dir      string
	runs     int
	duration time.Duration
	rate     int // events appended per second
	payload  int // bytes per event
	puts     int // PUTs timed for the floor
	state    int // restore: bytes of the base snapshot
	events   int // restore: events after it
	stores   []string
	suites   []string
	quick    bool
	readme   string
	charts   string // directory to draw the PNG charts into; "" draws none

	costDuration time.Duration // the load of one cost run
	copyState    int           // copy: bytes of the base snapshot
	copyEvents   int           // copy: events after it
	syncDuration time.Duration // sync: the load of each mode in one run

	copiesDuration time.Duration // copies: the load of one run
}

// suite says whether the suite name is to run.
func (s settings) suite(name string) bool { return slices.Contains(s.suites, name) }

// Defaults, and what -quick sets instead for the flags not given.
const (
	defaultRuns     = 3
	defaultDuration = 60 * time.Second
	defaultState    = "1GiB"
	defaultEvents   = 1_000_000
	quickRuns       = 1 // -quick
	quickDuration   = 5 * time.Second
	quickState      = "64MiB"
	quickEvents     = 100_000
	// The cost suite's runs: long enough for the scaled schedule's
	// 45 s windows to close; -quick only checks that it works.
	defaultCostDuration = 75 * time.Second
	quickCostDuration   = 5 * time.Second
	// The copy suite's archive: smaller than the restore suite's, as
	// each run builds its own and changes it.
	defaultCopyState  = "256MiB"
	defaultCopyEvents = 250_000
	quickCopyState    = "16MiB"
	quickCopyEvents   = 25_000
	// The sync suite's loads, one with Sync and one without per run.
	defaultSyncDuration = 10 * time.Second
	quickSyncDuration   = 2 * time.Second
	// The copies suite's load, one per run.
	defaultCopiesDuration = 20 * time.Second
	quickCopiesDuration   = 5 * time.Second
)

func parseFlags(args []string) (settings, error) {
	var s settings
	var state, copyState, stores, suites string
	fs := flag.NewFlagSet("archbench", flag.ContinueOnError)
	fs.StringVar(&s.dir, "dir", "", "directory for the logs, the file:// buckets and the S3 server's data (a temporary directory is made inside it and removed); default $TMPDIR")
	fs.IntVar(&s.runs, "runs", defaultRuns, "timed runs per store (lag runs, and restores of the one archive built per store)")
	fs.DurationVar(&s.duration, "duration", defaultDuration, "length of the load of one lag run")
	fs.IntVar(&s.rate, "rate", 10_000, "events appended per second during a lag run")
	fs.IntVar(&s.payload, "payload", 256, "bytes per event")
	fs.IntVar(&s.puts, "puts", 20, "PUTs of one object timed per lag run for the store's floor")
	fs.StringVar(&state, "state", defaultState, "restore: size of the base snapshot's state (bytes, or a number with KiB, MiB or GiB)")
	fs.IntVar(&s.events, "events", defaultEvents, "restore: events archived after the base snapshot")
	fs.StringVar(&stores, "stores", strings.Join(allStores, ","), "comma-separated stores: file, s3")
	fs.StringVar(&suites, "suites", strings.Join(allSuites, ","), "comma-separated suites: lag, restore, verify, cost (request counts and their S3 cost; not run unless named), copy (snapshot.Repo.CopyTo, as ctl copy: first, unchanged and changed copies; not run unless named), sync (64 writers each appending and waiting in Archiver.Sync, against appending alone; not run unless named), copies (archive and copy lag with one copy in Options.Copies, under the lag suite's load; not run unless named)")
	fs.DurationVar(&s.costDuration, "cost-duration", defaultCostDuration, "length of the load of one cost run (ten per store)")
	fs.StringVar(&copyState, "copy-state", defaultCopyState, "copy: size of the copied archive's base snapshot (bytes, or a number with KiB, MiB or GiB)")
	fs.IntVar(&s.copyEvents, "copy-events", defaultCopyEvents, "copy: events archived after the base snapshot (the change appends a tenth as many more)")
	fs.DurationVar(&s.syncDuration, "sync-duration", defaultSyncDuration, "sync: length of each load (with Sync, and without) of one run")
	fs.DurationVar(&s.copiesDuration, "copies-duration", defaultCopiesDuration, "copies: length of the load of one run (-rate events/s of -payload bytes)")
	fs.BoolVar(&s.quick, "quick", false, fmt.Sprintf("a quick look: -runs %d -duration %v -state %s -events %d -cost-duration %v -copy-state %s -copy-events %d -sync-duration %v -copies-duration %v, unless given",
		quickRuns, quickDuration, quickState, quickEvents, quickCostDuration, quickCopyState, quickCopyEvents, quickSyncDuration, quickCopiesDuration))
	fs.StringVar(&s.readme, "readme", "", "Markdown file to write the report into, between the archbench markers")
	fs.StringVar(&s.charts, "charts", "", "directory to draw the report's PNG charts into (linked from -readme); none if empty")
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
		if !given["state"] {
			state = quickState
		}
		if !given["events"] {
			s.events = quickEvents
		}
		if !given["cost-duration"] {
			s.costDuration = quickCostDuration
		}
		if !given["copy-state"] {
			copyState = quickCopyState
		}
		if !given["copy-events"] {
			s.copyEvents = quickCopyEvents
		}
		if !given["sync-duration"] {
			s.syncDuration = quickSyncDuration
		}
		if !given["copies-duration"] {
			s.copiesDuration = quickCopiesDuration
		}
	}
	var errs []error
	if s.runs < 1 {
		errs = append(errs, fmt.Errorf("-runs %d: need at least 1", s.runs))
	}
	if s.duration < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("-duration %v: need at least 100ms", s.duration))
	}
	if s.rate < 1 || s.rate > 1_000_000 {
		errs = append(errs, fmt.Errorf("-rate %d: must be in [1, 1000000]", s.rate))
	}
	if s.payload < 1 || s.payload > 1<<20 {
		errs = append(errs, fmt.Errorf("-payload %d: must be in [1, 1048576]", s.payload))
	}
	if s.puts < 1 {
		errs = append(errs, fmt.Errorf("-puts %d: need at least 1", s.puts))
	}
	var err error
	if s.state, err = parseSize(state); err != nil {
		errs = append(errs, fmt.Errorf("-state: %w", err))
	} else if s.state < 1 {
		errs = append(errs, fmt.Errorf("-state %s: need at least 1 byte", state))
	}
	if s.events < 1 {
		errs = append(errs, fmt.Errorf("-events %d: need at least 1", s.events))
	}
	if s.copyState, err = parseSize(copyState); err != nil {
		errs = append(errs, fmt.Errorf("-copy-state: %w", err))
	} else if s.copyState < 1 {
		errs = append(errs, fmt.Errorf("-copy-state %s: need at least 1 byte", copyState))
	}
	if s.copyEvents < 1 {
		errs = append(errs, fmt.Errorf("-copy-events %d: need at least 1", s.copyEvents))
	}
	if s.syncDuration < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("-sync-duration %v: need at least 100ms", s.syncDuration))
	}
	if s.copiesDuration < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("-copies-duration %v: need at least 100ms", s.copiesDuration))
	}
	if s.stores, err = benchkit.ParseList(stores, allStores); err != nil {
		errs = append(errs, fmt.Errorf("-stores: %w", err))
	}
	if s.costDuration < time.Second {
		errs = append(errs, fmt.Errorf("-cost-duration %v: need at least 1s", s.costDuration))
	}
	if s.suites, err = benchkit.ParseList(suites, knownSuites); err != nil {
		errs = append(errs, fmt.Errorf("-suites: %w", err))
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

func run() error { return benchkit.Run(parseFlags, execute) }

// execute measures what s asks for, prints the report to out (progress to
// progress) and writes it into s.readme if set. args are the command's
// arguments, quoted in the report.
func execute(ctx context.Context, s settings, args string, out, progress io.Writer) error {
	cs, err := benchkit.NewCharts(s.charts, s.readme)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp(s.dir, "archbench-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(root)

	sys := benchkit.Gather(root, "wal", "archive", "snapshot", "localblob", "internal")
	b := &bencher{settings: s, root: root, progress: progress}
	stores, err := b.openStores(ctx)
	defer b.closeStores()
	if err != nil {
		return err
	}
	res, err := b.all(ctx, stores)
	if err != nil {
		return err
	}
	sys.LoadEnd = benchkit.LoadAverage()
	if s.suite(suiteCost) {
		if err := writeSection(s, costReadme, suiteCost, renderCost(s, sys, res, args), out, progress); err != nil {
			return err
		}
	}
	if s.suite(suiteCopy) {
		if err := writeSection(s, copyReadme, suiteCopy, renderCopy(s, sys, res, args), out, progress); err != nil {
			return err
		}
	}
	if s.suite(suiteSync) {
		if err := writeSection(s, syncReadme, suiteSync, renderSync(s, sys, res, args), out, progress); err != nil {
			return err
		}
	}
	if s.suite(suiteCopies) {
		if err := writeSection(s, copiesReadme, suiteCopies, renderCopies(s, sys, res, args), out, progress); err != nil {
			return err
		}
	}
	if !slices.ContainsFunc(s.suites, func(n string) bool { return slices.Contains(allSuites, n) }) {
		return nil // the lag, restore and verify section stays as it is
	}
	report := renderReport(s, sys, res, args)
	charts, err := drawCharts(cs, s, res)
	if err != nil {
		return err
	}
	report += charts
	fmt.Fprint(out, report)
	if s.readme != "" {
		if err := writeReadme(s.readme, report); err != nil {
			return fmt.Errorf("write %s: %w", s.readme, err)
		}
		fmt.Fprintf(progress, "archbench: wrote the report into %s\n", s.readme)
	}
	return nil
}
