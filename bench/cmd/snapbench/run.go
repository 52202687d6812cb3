package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"

	"github.com/continuity-go/continuity/bench/internal/chunkers"
	"github.com/continuity-go/continuity/internal/gen"
	"github.com/continuity-go/continuity/snapshot"
)

// step is one operation of a run, in the order a run does them.
type step string

const (
	stepFirst     step = "first"     // first snapshot, into an empty repository
	stepEdited    step = "edited"    // the state after -edits small edits
	stepUnchanged step = "unchanged" // the edited state again
	stepRestore   step = "restore"   // restore of the latest snapshot
	stepOpen      step = "open"      // restic only: `restic cat config`, its fixed cost per command
)

// Tools.
const (
	toolOurs   = "continuity"
	toolRestic = "restic"
)

// stepResult is what one step of one run measured.
type stepResult struct {
	dur time.Duration // wall time
	cpu time.Duration // user+system CPU time of the process doing the work
	// stored is how many bytes the repository grew by: the sizes of its
	// objects (files), summed before and after the step.
	stored int64
	// newBytes is continuity's Stats.NewBytes: the plaintext of the new
	// chunks. -1 for restic.
	newBytes int64
}

// job is one configuration: a tool with its settings on one kind of data.
// It collects one map of step results per run.
type job struct {
	data    string
	tool    string
	codec   snapshot.Codec // continuity only
	workers int            // continuity only
	steps   []step
	runs    []map[step]stepResult
}

func (j *job) String() string {
	if j.tool == toolRestic {
		return fmt.Sprintf("%s %s", j.data, j.tool)
	}
	return fmt.Sprintf("%s %s %s workers=%d", j.data, j.tool, j.codec, j.workers)
}

// name is the job's row label in the report.
func (j *job) name() string {
	if j.tool == toolRestic {
		return "restic (zstd auto)"
	}
	return fmt.Sprintf("continuity %s, %s", j.codec, workersName(j.workers))
}

// stat returns the metric of step s over the runs.
func (j *job) stat(s step, metric func(stepResult) float64) benchkit.Stat {
	var v []float64
	for _, r := range j.runs {
		if sr, ok := r[s]; ok {
			v = append(v, metric(sr))
		}
	}
	return benchkit.StatOf(v)
}

func (j *job) has(s step) bool { return slices.Contains(j.steps, s) }

// results are every job of a benchmark run, in report order.
type results struct {
	size   int // state bytes
	procs  int // GOMAXPROCS during the run; 0 if unknown
	edited map[string]int
	jobs   []*job
	limits []*opJob
	// chunkers are the chunkers suite's measurements by kind of data, of
	// the impls.
	chunkers []*chunkerJob
	impls    []chunkers.Impl
	// crypto is the crypto suite's measurements (GB/s by operation, and
	// the compression ratios), on cryptoData; nil if it did not run.
	crypto *opJob
}

// job returns the job for data, tool, codec and workers, or nil.
func (r *results) job(data, tool string, codec snapshot.Codec, workers int) *job {
	for _, j := range r.jobs {
		if j.data == data && j.tool == tool && (tool == toolRestic || j.codec == codec && j.workers == workers) {
			return j
		}
	}
	return nil
}

func (r *results) limit(data string) *opJob {
	for _, l := range r.limits {
		if l.data == data {
			return l
		}
	}
	return nil
}

func (r *results) chunker(data string) *chunkerJob {
	for _, c := range r.chunkers {
		if c.data == data {
			return c
		}
	}
	return nil
}

// cryptoData is the kind of data the crypto suite works on: events (the
// realistic data, for the codecs' speed and ratio) if measured.
func cryptoData(kinds []string) string {
	if slices.Contains(kinds, "events") {
		return "events"
	}
	return kinds[0]
}

// bencher runs jobs.
type bencher struct {
	settings
	root     string    // directory that holds the data files and each run's repository
	progress io.Writer // one line per step
	done     int       // configurations run, for progress
	total    int       // configurations planned, for progress
}

// dataFiles are the two states of one kind of data, as files.
type dataFiles struct {
	base, edited string
	editedSize   int
}

// all writes the data files, then runs every configuration -runs times,
// round by round: each round runs every configuration once, so that a
// disturbance of the machine spreads over all of them.
func (b *bencher) all(ctx context.Context) (*results, error) {
	res := &results{size: b.size, procs: runtime.GOMAXPROCS(0), edited: map[string]int{}}
	files := map[string]dataFiles{}
	for _, kind := range b.data {
		fmt.Fprintf(b.progress, "generating %s: %d bytes and %d edits\n", kind, b.size, b.edits)
		f, err := writeData(b.root, kind, b.size, b.edits, b.editLen)
		if err != nil {
			return nil, err
		}
		files[kind] = f
		res.edited[kind] = f.editedSize
	}
	all := []step{stepFirst, stepEdited, stepUnchanged, stepRestore}
	maxWorkers := slices.Max(b.workers)
	for _, kind := range b.data {
		if b.suite(suiteSnapshots) {
			for _, w := range b.workers {
				res.jobs = append(res.jobs, &job{data: kind, tool: toolOurs, codec: snapshot.LZ4, workers: w, steps: all})
			}
			res.jobs = append(res.jobs, &job{data: kind, tool: toolOurs, codec: snapshot.Zstd, workers: maxWorkers, steps: []step{stepFirst}})
			if b.restic != "" {
				res.jobs = append(res.jobs, &job{data: kind, tool: toolRestic, steps: append(slices.Clone(all), stepOpen)})
			}
			res.limits = append(res.limits, &opJob{data: kind})
		}
		if b.suite(suiteChunkers) {
			res.chunkers = append(res.chunkers, &chunkerJob{opJob: opJob{data: kind}})
		}
	}
	if b.suite(suiteChunkers) {
		res.impls = chunkers.Compared()
	}
	if b.suite(suiteCrypto) {
		res.crypto = &opJob{data: cryptoData(b.data)}
	}
	perRun := len(res.jobs) + len(res.limits) + len(res.chunkers)
	if res.crypto != nil {
		perRun++
	}
	b.total = perRun * b.runs
	for r := 1; r <= b.runs; r++ {
		for _, kind := range b.data {
			for _, j := range res.jobs {
				if j.data != kind {
					continue
				}
				if err := b.once(ctx, r, j, files[kind]); err != nil {
					return nil, fmt.Errorf("%s, run %d: %w", j, r, err)
				}
			}
			if err := b.inMemory(r, res, kind, files[kind].base); err != nil {
				return nil, err
			}
			freeMemory()
		}
	}
	return res, nil
}

// inMemory runs the measurements of run r that work on the state of kind
// in memory: the physical limits, the chunkers and the crypto suite, each
// if it is to run.
func (b *bencher) inMemory(r int, res *results, kind, file string) error {
	l, c := res.limit(kind), res.chunker(kind)
	cry := res.crypto
	if cry != nil && cry.data != kind {
		cry = nil
	}
	if l == nil && c == nil && cry == nil {
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if l != nil {
		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] run %d: %s limits:", b.done, b.total, r, kind)
		lr, err := measureLimits(data)
		if err != nil {
			return fmt.Errorf("%s limits, run %d: %w", kind, r, err)
		}
		l.runs = append(l.runs, lr)
		for _, op := range limitOps {
			fmt.Fprintf(b.progress, " %s %.0f MB/s;", op.short, lr[op.name])
		}
		fmt.Fprintln(b.progress)
	}
	if c != nil {
		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] run %d: %s chunkers:", b.done, b.total, r, kind)
		cr, err := measureChunkers(c, res.impls, data)
		if err != nil {
			return fmt.Errorf("%s chunkers, run %d: %w", kind, r, err)
		}
		for _, impl := range res.impls {
			fmt.Fprintf(b.progress, " %s %.2f GB/s;", impl.Name, cr[impl.Name])
		}
		fmt.Fprintln(b.progress)
	}
	if cry != nil {
		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] run %d: %s crypto:", b.done, b.total, r, kind)
		cr, err := measureCrypto(data)
		if err != nil {
			return fmt.Errorf("%s crypto, run %d: %w", kind, r, err)
		}
		cry.runs = append(cry.runs, cr)
		for _, op := range cryptoOps {
			fmt.Fprintf(b.progress, " %s %.2f GB/s;", op, cr[op])
		}
		fmt.Fprintln(b.progress)
	}
	return nil
}

// once runs j once in a new directory, which it removes afterwards.
func (b *bencher) once(ctx context.Context, r int, j *job, f dataFiles) (err error) {
	b.done++
	fmt.Fprintf(b.progress, "[%d/%d] run %d: %s:", b.done, b.total, r, j)
	dir, err := os.MkdirTemp(b.root, "repo-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	var out map[step]stepResult
	if j.tool == toolRestic {
		out, err = runRestic(ctx, b.restic, dir, j.steps, f)
	} else {
		out, err = runOurs(ctx, dir, j.codec, j.workers, j.steps, f)
	}
	if err != nil {
		fmt.Fprintln(b.progress, " failed")
		return err
	}
	for _, s := range j.steps {
		sr := out[s]
		fmt.Fprintf(b.progress, " %s %.2fs %.1f MiB;", s, sr.dur.Seconds(), float64(sr.stored)/(1<<20))
	}
	fmt.Fprintln(b.progress)
	j.runs = append(j.runs, out)
	return nil
}

// writeData writes the state of kind and its edited version into dir:
// Events or Random with seed 1, then Edit with seed 2.
func writeData(dir, kind string, size, edits, editLen int) (dataFiles, error) {
	var base []byte
	switch kind {
	case "events":
		base = gen.Events(1, size)
	case "random":
		base = gen.Random(1, size)
	default:
		return dataFiles{}, fmt.Errorf("unknown data kind %q", kind)
	}
	edited := gen.Edit(2, base, edits, editLen)
	f := dataFiles{
		base:       filepath.Join(dir, kind+".state"),
		edited:     filepath.Join(dir, kind+"-edited.state"),
		editedSize: len(edited),
	}
	if err := os.WriteFile(f.base, base, 0o644); err != nil {
		return f, err
	}
	if err := os.WriteFile(f.edited, edited, 0o644); err != nil {
		return f, err
	}
	return f, nil
}

// freeMemory collects garbage and returns it to the OS before a timed
// step, so that each step starts from the same small heap whatever ran
// before it.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// workersName says "1 worker" or "2 workers".
func workersName(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}
