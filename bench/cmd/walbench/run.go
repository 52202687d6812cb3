package main

import (
	"context"
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/continuity-go/continuity/bench/internal/peers"
)

// job is one configuration: a log with a number of writers and a payload
// size, or a raw loop with a write size. It collects one runResult per
// run.
type job struct {
	impl    peers.Impl    // the log, for a log job
	mode    peers.RawMode // the raw mode, for a raw job
	writers int           // concurrent writers; 1 for a raw job
	size    int           // payload bytes per record, or bytes per raw write
	runs    []runResult
}

func (j *job) raw() bool { return j.mode != "" }

func (j *job) String() string {
	if j.raw() {
		return fmt.Sprintf("raw %s %s", j.mode, sizeName(j.size))
	}
	return fmt.Sprintf("%s %d×%s", j.impl, j.writers, sizeName(j.size))
}

func (j *job) stat(metric func(runResult) float64) benchkit.Stat {
	return benchkit.StatBy(j.runs, metric)
}

// Metrics of a run, for job.stat.
func opsPerSec(r runResult) float64   { return r.opsPerSec }
func mbPerSec(r runResult) float64    { return r.mbPerSec }
func p50ms(r runResult) float64       { return float64(r.p50) / float64(time.Millisecond) }
func p99ms(r runResult) float64       { return float64(r.p99) / float64(time.Millisecond) }
func recPerBatch(r runResult) float64 { return r.recPerBatch }

// results are every job of a benchmark run, in report order.
type results struct {
	logs []*job
	raws []*job
	// rawSize is the raw write size matched to each continuity job: its
	// bytes per batch in its first run, rounded up to 4 KiB.
	rawSize map[*job]int
	// payloadSize is the same for the batch's payload alone, without
	// frame headers: the two raw loops side by side price the headers.
	payloadSize map[*job]int
}

// log returns the log job for impl, writers and size, or nil.
func (r *results) log(impl peers.Impl, writers, size int) *job {
	for _, j := range r.logs {
		if j.impl == impl && j.writers == writers && j.size == size {
			return j
		}
	}
	return nil
}

// rawJob returns the raw job for mode and size, or nil.
func (r *results) rawJob(mode peers.RawMode, size int) *job {
	for _, j := range r.raws {
		if j.mode == mode && j.size == size {
			return j
		}
	}
	return nil
}

// bencher runs jobs.
type bencher struct {
	settings
	root     string    // directory that holds each run's directory
	progress io.Writer // one line per run
	done     int       // runs done, for progress
	total    int       // runs planned, for progress
}

// all runs every configuration -runs times, round by round: each round
// runs every configuration once, so that a disturbance of the machine
// spreads over all of them. The raw write sizes are the batch sizes
// continuity reached, so the first round starts with continuity's
// configurations and the raw configurations are added after them.
func (b *bencher) all(ctx context.Context) (*results, error) {
	res := &results{rawSize: map[*job]int{}, payloadSize: map[*job]int{}}
	var cont, peerJobs []*job
	for _, size := range b.sizes {
		for _, w := range b.writers {
			cont = append(cont, &job{impl: peers.Continuity, writers: w, size: size})
			if slices.Contains(b.impls, peers.ContinuityRetention) {
				// Its batches set raw sizes too: its target is at its
				// own batch size.
				cont = append(cont, &job{impl: peers.ContinuityRetention, writers: w, size: size})
			}
			for _, impl := range b.impls {
				// A group committer with one writer only adds a
				// goroutine hop to the library's own row.
				if impl == peers.Continuity || impl == peers.ContinuityRetention || impl.Grouped() && w == 1 {
					continue
				}
				peerJobs = append(peerJobs, &job{impl: impl, writers: w, size: size})
			}
		}
	}
	// The raw jobs are not known yet: count them as two per size and
	// two per continuity job, at most.
	b.total = (len(cont) + len(peerJobs) + 2*(len(b.sizes)+len(cont))) * b.runs
	if err := b.round(ctx, 1, cont); err != nil {
		return nil, err
	}

	rawSizes := slices.Clone(b.sizes)
	for _, j := range cont {
		n := roundBatch(j.runs[0].bytesPerBatch)
		p := roundBatch(j.runs[0].recPerBatch * float64(j.size))
		res.rawSize[j], res.payloadSize[j] = n, p
		for _, n := range []int{n, p} {
			if !slices.Contains(rawSizes, n) {
				rawSizes = append(rawSizes, n)
			}
		}
	}
	slices.Sort(rawSizes)
	for _, mode := range []peers.RawMode{peers.RawPrealloc, peers.RawAppend} {
		for _, n := range rawSizes {
			res.raws = append(res.raws, &job{mode: mode, writers: 1, size: n})
		}
	}
	b.total = (len(cont) + len(peerJobs) + len(res.raws)) * b.runs
	rest := append(slices.Clone(res.raws), peerJobs...)
	if err := b.round(ctx, 1, rest); err != nil {
		return nil, err
	}
	every := append(slices.Clone(cont), rest...)
	for r := 2; r <= b.runs; r++ {
		if err := b.round(ctx, r, every); err != nil {
			return nil, err
		}
	}

	for _, size := range b.sizes {
		for _, w := range b.writers {
			for _, impl := range b.impls {
				for _, j := range append(slices.Clone(cont), peerJobs...) {
					if j.impl == impl && j.writers == w && j.size == size {
						res.logs = append(res.logs, j)
					}
				}
			}
		}
	}
	return res, nil
}

// roundBatch rounds a batch size in bytes up to a multiple of 4 KiB (the
// pages the batch's write touches), at most the raw file's size. Rounding
// up, never down, gives the raw loop at least the bytes the log wrote, so
// that the rounding cannot flatter the log.
func roundBatch(bytes float64) int {
	n := int(math.Ceil(bytes/4096)) * 4096
	return min(max(n, 4096), peers.RawPreallocBytes)
}

// round runs every job once, as round number r.
func (b *bencher) round(ctx context.Context, r int, jobs []*job) error {
	for _, j := range jobs {
		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] run %d: %s: ", b.done, b.total, r, j)
		res, err := b.once(ctx, j)
		if err != nil {
			fmt.Fprintln(b.progress, "failed")
			return fmt.Errorf("%s, run %d: %w", j, r, err)
		}
		j.runs = append(j.runs, res)
		fmt.Fprintf(b.progress, "%.0f ops/s, %.1f MB/s, p50 %v, p99 %v\n",
			res.opsPerSec, res.mbPerSec, res.p50.Round(time.Microsecond), res.p99.Round(time.Microsecond))
	}
	return nil
}

// once runs j once in a new directory, which it removes afterwards.
func (b *bencher) once(ctx context.Context, j *job) (res runResult, err error) {
	dir, err := os.MkdirTemp(b.root, "run-")
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	var a peers.Appender
	var payloads [][]byte
	if j.raw() {
		a, err = peers.OpenRaw(filepath.Join(dir, "raw"), j.mode)
		payloads = [][]byte{peers.Payload(j.size, 1)}
	} else {
		a, err = peers.Open(j.impl, filepath.Join(dir, "log"))
		for i := range j.writers {
			payloads = append(payloads, peers.Payload(j.size, uint64(i+1)))
		}
	}
	if err != nil {
		return res, fmt.Errorf("open: %w", err)
	}
	res, err = measure(ctx, a, payloads, b.warmup, b.duration)
	if cerr := a.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return res, err
}

// sizeName formats a byte count as 128 B, 4 KiB or 1 MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}
