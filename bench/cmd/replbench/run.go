package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"time"

	"github.com/continuity-go/continuity/bench/internal/peers"
	"github.com/continuity-go/continuity/wal"
)

// limit names a physical-limit loop.
type limit string

const (
	// limFsync: one goroutine, write+fdatasync of one payload on one
	// preallocated file: what one log's commit costs at best.
	limFsync limit = "fsync"
	// limSerial: one goroutine, write+fdatasync on one file, then on a
	// second file: a record made durable on a primary and then on a
	// standby, on one disk, without the network.
	limSerial limit = "serial"
	// limSide: two goroutines, each its own write+fdatasync loop on its
	// own file: a primary and an asynchronous standby syncing at once on
	// one disk. Its rates are per loop.
	limSide limit = "side"
	// limPair: write+fdatasync on two files at once (the second by a
	// helper goroutine), until both end: a record made durable on a
	// primary and a standby whose syncs overlap, on one disk, without
	// the network.
	limPair limit = "pair"
	// limRTT: one record sent in a Records frame over the replication
	// transport (loopback, TLS 1.3) and an Ack frame back.
	limRTT limit = "rtt"
)

var allLimits = []limit{limFsync, limSerial, limPair, limSide, limRTT}

func (l limit) label() string {
	switch l {
	case limFsync:
		return "write+fdatasync, one file"
	case limSerial:
		return "write+fdatasync on one file, then on another (in series)"
	case limPair:
		return "write+fdatasync on two files at once, until both end"
	case limSide:
		return "two write+fdatasync loops side by side on two files (per loop)"
	case limRTT:
		return "TLS round trip: a Records frame of one record out, an Ack frame back"
	}
	return string(l)
}

// limitDuration caps the length of a physical-limit run: the loops are
// steady from their first call.
const limitDuration = time.Second

// limitWarmup caps the warm-up of a physical-limit run.
const limitWarmup = 100 * time.Millisecond

// runResult is what one timed run of one configuration measured.
type runResult struct {
	opsPerSec   float64       // completed calls per second (per loop for limSide)
	mbPerSec    float64       // payload bytes per second, in 10^6 bytes
	p50, p99    time.Duration // latency of one call
	recPerBatch float64       // the primary's records per group commit
	cpuPerOp    time.Duration // CPU time of the process (every node) per completed call
	syncTime    time.Duration // the primary log's mean fdatasync time
	machineBusy float64       // share of the machine's CPU time that was busy (every process and the kernel)
	schedP50    time.Duration // how long runnable goroutines waited for a CPU: p50
	schedP99    time.Duration // and p99

	// The asynchronous standby's side.
	lagP50, lagP99     time.Duration // Append returned on the primary → applied on the standby
	standbyOpsPerSec   float64       // records the standby applied per second in the window
	standbyRecPerBatch float64       // records per group commit (one write, one fdatasync) of the standby's log
	catchUp            time.Duration // from the end of the window until the standby applied the last record
	standbySyncTime    time.Duration // the standby log's mean fdatasync time

	// For the charts: a sample of the run's Append latencies and of the
	// asynchronous standby's per-record lags, in milliseconds, taken
	// evenly by rank after the window (benchkit.SampleMs), at most
	// benchkit.SamplesPerRun each.
	latSample, lagSample []float64
}

// job is one configuration: a replication mode with a number of writers
// and a payload size, or a physical-limit loop at a payload size. It
// collects one runResult per run.
type job struct {
	mode    mode  // for a replication job
	limit   limit // for a physical-limit job
	writers int
	size    int
	runs    []runResult
}

func (j *job) String() string {
	if j.limit != "" {
		return fmt.Sprintf("limit %s %s", j.limit, sizeName(j.size))
	}
	return fmt.Sprintf("%s %d×%s", j.mode, j.writers, sizeName(j.size))
}

func (j *job) stat(metric func(runResult) float64) benchkit.Stat {
	return benchkit.StatBy(j.runs, metric)
}

// Metrics of a run, for job.stat.
func ms(d time.Duration) float64          { return float64(d) / float64(time.Millisecond) }
func opsPerSec(r runResult) float64       { return r.opsPerSec }
func mbPerSec(r runResult) float64        { return r.mbPerSec }
func p50ms(r runResult) float64           { return ms(r.p50) }
func p99ms(r runResult) float64           { return ms(r.p99) }
func recPerBatch(r runResult) float64     { return r.recPerBatch }
func cpuPerOpUs(r runResult) float64      { return float64(r.cpuPerOp) / float64(time.Microsecond) }
func lagP50ms(r runResult) float64        { return ms(r.lagP50) }
func lagP99ms(r runResult) float64        { return ms(r.lagP99) }
func standbyOps(r runResult) float64      { return r.standbyOpsPerSec }
func standbyPerBatch(r runResult) float64 { return r.standbyRecPerBatch }
func catchUpMs(r runResult) float64       { return ms(r.catchUp) }
func busyPct(r runResult) float64         { return 100 * r.machineBusy }
func schedP50ms(r runResult) float64      { return ms(r.schedP50) }
func schedP99ms(r runResult) float64      { return ms(r.schedP99) }
func syncMs(r runResult) float64          { return ms(r.syncTime) }
func standbySyncMs(r runResult) float64   { return ms(r.standbySyncTime) }

// results are every job of a benchmark run, in report order.
type results struct {
	repl   []*job
	limits []*job
}

func (r *results) find(m mode, writers, size int) *job {
	for _, j := range r.repl {
		if j.mode == m && j.writers == writers && j.size == size {
			return j
		}
	}
	return nil
}

func (r *results) limit(l limit, size int) *job {
	for _, j := range r.limits {
		if j.limit == l && j.size == size {
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
	pki      *pki
	done     int // runs done, for progress
	total    int // runs planned, for progress
}

// all runs every configuration -runs times, round by round: each round
// runs every configuration once, so that a disturbance of the machine
// spreads over all of them.
func (b *bencher) all(ctx context.Context) (*results, error) {
	nodes := []string{primaryNode}
	for i := range 2 {
		nodes = append(nodes, standbyNode(i))
	}
	var err error
	if b.pki, err = newPKI(nodes...); err != nil {
		return nil, err
	}
	res := &results{}
	for _, size := range b.sizes {
		for _, w := range b.writers {
			for _, m := range b.modes {
				res.repl = append(res.repl, &job{mode: m, writers: w, size: size})
			}
		}
		if b.limits {
			for _, l := range allLimits {
				res.limits = append(res.limits, &job{limit: l, writers: 1, size: size})
			}
		}
	}
	every := append(slices.Clone(res.repl), res.limits...)
	b.total = len(every) * b.runs
	for r := 1; r <= b.runs; r++ {
		for _, j := range every {
			b.done++
			fmt.Fprintf(b.progress, "[%d/%d] run %d: %s: ", b.done, b.total, r, j)
			rr, err := b.once(ctx, j)
			if err != nil {
				fmt.Fprintln(b.progress, "failed")
				return nil, fmt.Errorf("%s, run %d: %w", j, r, err)
			}
			j.runs = append(j.runs, rr)
			fmt.Fprintf(b.progress, "%.0f ops/s, p50 %v, p99 %v", rr.opsPerSec, rr.p50.Round(time.Microsecond), rr.p99.Round(time.Microsecond))
			if j.mode == modeAsync {
				fmt.Fprintf(b.progress, ", lag p50 %v, p99 %v, catch-up %v", rr.lagP50.Round(time.Microsecond), rr.lagP99.Round(time.Microsecond), rr.catchUp.Round(time.Microsecond))
			}
			fmt.Fprintln(b.progress)
		}
	}
	return res, nil
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
	if j.limit != "" {
		return b.limitOnce(ctx, dir, j)
	}
	return b.replOnce(ctx, dir, j)
}

// replOnce runs a replication job once.
func (b *bencher) replOnce(ctx context.Context, dir string, j *job) (res runResult, err error) {
	base := time.Now()
	sdir := dir
	if b.standbyDir != "" && j.mode.standbys() > 0 {
		if sdir, err = os.MkdirTemp(b.standbyDir, "replbench-standbys-"); err != nil {
			return res, err
		}
		defer os.RemoveAll(sdir)
	}
	c, err := openCluster(ctx, dir, sdir, b.pki, j.mode.standbys(), b.window, b.flushDelay, base)
	if err != nil {
		return res, fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := c.close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	// A synchronous Append waits for its standbys without a deadline of
	// its own: bound the run, so that a stuck standby fails it.
	rctx, cancel := context.WithTimeout(ctx, b.warmup+b.duration+time.Minute)
	defer cancel()
	ops := make([]op, j.writers)
	for i := range ops {
		ops[i] = c.appender(rctx, j.mode, peers.Payload(j.size, uint64(i+1)))
	}

	var p0, p1, s0, s1 wal.Stats
	var cpu0, cpu1 time.Duration
	var busy0, busy1, total0, total1 uint64
	var h0, h1 *metrics.Float64Histogram
	atStart := func() {
		h0 = schedHist()
		busy0, total0 = cpuTicks()
		p0, cpu0 = c.plog.Stats(), benchkit.CPUTime()
		if len(c.slogs) > 0 {
			s0 = c.slogs[0].Stats()
		}
	}
	atEnd := func() {
		h1 = schedHist()
		busy1, total1 = cpuTicks()
		p1, cpu1 = c.plog.Stats(), benchkit.CPUTime()
		if len(c.slogs) > 0 {
			s1 = c.slogs[0].Stats()
		}
	}
	track := j.mode == modeAsync
	l, err := drive(rctx, ops, b.warmup, b.duration, track, base, atStart, atEnd)
	if err != nil {
		return res, err
	}
	all := l.sorted()
	sec := l.elapsed.Seconds()
	res = runResult{
		opsPerSec: float64(len(all)) / sec,
		mbPerSec:  float64(len(all)) * float64(j.size) / sec / 1e6,
		p50:       benchkit.Percentile(all, 0.50),
		p99:       benchkit.Percentile(all, 0.99),
		latSample: benchkit.SampleMs(all, benchkit.SamplesPerRun(b.runs)),
	}
	if n := p1.Batches - p0.Batches; n > 0 {
		res.recPerBatch = float64(p1.Records-p0.Records) / float64(n)
	}
	if len(all) > 0 && cpu1 > cpu0 {
		res.cpuPerOp = (cpu1 - cpu0) / time.Duration(len(all))
	}
	res.schedP50, res.schedP99 = schedQuantiles(h0, h1)
	if total1 > total0 {
		res.machineBusy = float64(busy1-busy0) / float64(total1-total0)
	}
	if n := p1.Syncs - p0.Syncs; n > 0 {
		res.syncTime = (p1.SyncTime - p0.SyncTime) / time.Duration(n)
	}
	if n := s1.Batches - s0.Batches; n > 0 {
		res.standbyRecPerBatch = float64(s1.Records-s0.Records) / float64(n)
	}
	if n := s1.Syncs - s0.Syncs; n > 0 {
		res.standbySyncTime = (s1.SyncTime - s0.SyncTime) / time.Duration(n)
	}
	if track {
		if err := lag(rctx, c, l, base, benchkit.SamplesPerRun(b.runs), &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// lag waits until the standby has applied every record appended in the
// window, then computes, record by record, the time from the primary's
// Append returning to the standby applying it, and keeps a sample of at
// most samples of those lags for the charts.
func lag(ctx context.Context, c *cluster, l *loop, base time.Time, samples int, res *runResult) error {
	var last wal.LSN
	for _, lsns := range l.lsns {
		for _, lsn := range lsns {
			last = max(last, lsn)
		}
	}
	if last == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.sbs[0].WaitFor(wctx, last); err != nil {
		return fmt.Errorf("standby did not apply LSN %d: %w", last, err)
	}
	clock := c.clocks[0]
	var lags []time.Duration
	for i, lsns := range l.lsns {
		for k, lsn := range lsns {
			at, ok := clock.appliedAt(lsn)
			if !ok {
				return fmt.Errorf("LSN %d was not applied", lsn)
			}
			// A standby can apply a record before the primary's
			// writer goroutine runs again after its Append: count
			// that as no lag.
			lags = append(lags, max(0, at-l.ends[i][k]))
		}
	}
	slices.Sort(lags)
	res.lagP50, res.lagP99 = benchkit.Percentile(lags, 0.50), benchkit.Percentile(lags, 0.99)
	res.lagSample = benchkit.SampleMs(lags, samples)
	from := l.start.Sub(base)
	to := from + l.elapsed
	res.standbyOpsPerSec = float64(clock.appliedBetween(from, to)) / l.elapsed.Seconds()
	at, _ := clock.appliedAt(last)
	res.catchUp = max(0, at-to)
	return nil
}

// limitOnce runs a physical-limit job once.
func (b *bencher) limitOnce(ctx context.Context, dir string, j *job) (runResult, error) {
	payload := peers.Payload(j.size, 1)
	var ops []op
	var closers []io.Closer
	defer func() {
		for _, c := range slices.Backward(closers) {
			c.Close()
		}
	}()
	raw := func(name string) (*peers.RawFile, error) {
		f, err := peers.OpenRaw(filepath.Join(dir, name), peers.RawPrealloc)
		if err == nil {
			closers = append(closers, f)
		}
		return f, err
	}
	two := func() (a, b *peers.RawFile, err error) {
		if a, err = raw("a"); err == nil {
			b, err = raw("b")
		}
		return a, b, err
	}
	switch j.limit {
	case limFsync:
		f, err := raw("a")
		if err != nil {
			return runResult{}, err
		}
		ops = []op{func() (wal.LSN, error) { return 0, f.Append(payload) }}
	case limSerial:
		fa, fb, err := two()
		if err != nil {
			return runResult{}, err
		}
		ops = []op{func() (wal.LSN, error) {
			if err := fa.Append(payload); err != nil {
				return 0, err
			}
			return 0, fb.Append(payload)
		}}
	case limPair:
		fa, fb, err := two()
		if err != nil {
			return runResult{}, err
		}
		req, res := make(chan struct{}), make(chan error)
		go func() {
			for range req {
				res <- fb.Append(payload)
			}
		}()
		closers = append(closers, closerFunc(func() error { close(req); return nil }))
		ops = []op{func() (wal.LSN, error) {
			req <- struct{}{}
			err := fa.Append(payload)
			return 0, errors.Join(err, <-res)
		}}
	case limSide:
		for _, name := range []string{"a", "b"} {
			f, err := raw(name)
			if err != nil {
				return runResult{}, err
			}
			ops = append(ops, func() (wal.LSN, error) { return 0, f.Append(payload) })
		}
	case limRTT:
		rt, err := openRoundTrip(ctx, b.pki, payload)
		if err != nil {
			return runResult{}, err
		}
		closers = append(closers, rt)
		ops = []op{rt.once}
	default:
		return runResult{}, errors.New("unknown limit")
	}
	// The loops are steady from their first call: a short warm-up.
	l, err := drive(ctx, ops, min(b.warmup, limitWarmup), min(b.duration, limitDuration), false, time.Now(), nil, nil)
	if err != nil {
		return runResult{}, err
	}
	all := l.sorted()
	sec := l.elapsed.Seconds()
	per := float64(len(all)) / sec / float64(len(ops))
	return runResult{
		opsPerSec: per,
		mbPerSec:  per * float64(j.size) / 1e6,
		p50:       benchkit.Percentile(all, 0.50),
		p99:       benchkit.Percentile(all, 0.99),
	}, nil
}

// closerFunc adapts a function to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

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
