package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/wal"
)

// The request-cost suite (suite cost) counts what the archive asks of its
// bucket, request by request, under the real Archiver, and extrapolates
// it to an hour and a month with a model of the archive's rules
// (simulate) that it checks against the counts. The bucket is wrapped at
// gocloud's driver level (countingBucket), below snapshot.Repo and the
// archive, so nothing of the archive is mocked.

// S3 Standard request and storage prices in us-east-1, as published
// (see priceSource). DELETE is free.
const (
	priceClassA   = 0.005 / 1000  // $ per PUT, COPY, POST or LIST request
	priceClassB   = 0.0004 / 1000 // $ per GET, HEAD or other request
	priceGBMonth  = 0.023         // $ per GB-month, first 50 TB
	priceDate     = "March 2026"
	priceSource   = "aws.amazon.com/s3/pricing (S3 Standard, US East (N. Virginia)), as quoted by cloudburn.io/blog/amazon-s3-pricing (\"as of March 2026\", $0.023/GB-month) and c3x.dev/blog/s3-request-fees-explained (PUT, COPY, POST, LIST $0.005 per 1,000; GET, HEAD, SELECT $0.0004 per 1,000); AWS's page itself did not render its prices to the reader used"
	hoursPerMonth = 730 // AWS's billing month
)

// S3 as gocloud.dev's s3blob writes to it (transfermanager v0.4.3): one
// PutObject below the multipart threshold, else CreateMultipartUpload,
// one UploadPart per part and CompleteMultipartUpload, each a PUT-class
// request. A LIST request returns at most s3ListPage keys.
const (
	s3MultipartThreshold = 16 << 20
	s3PartBytes          = 8 << 20
	s3ListPage           = 1000
)

// The archive's constants that the model needs (archive/head.go,
// archive/resume.go, archive.Options' and
// snapshot.Options.KeyCheckInterval's defaults).
const (
	keepHeads        = 3                // the newest head and the two before it
	anchorObjects    = 2                // the pin and the timeline
	deposedCheck     = 30 * time.Second // NoCompaction: a listing of wal/'s directories this often
	keyCheckInterval = time.Minute      // a writing Repo lists epochs/ this often
	maxCompacted     = 32 << 20         // archive.Options.MaxCompactedBytes's default
	maxObjectBytes   = 8 << 20          // archive.Options.MaxObjectBytes's default
	idleBytes        = 64 << 10         // archive.Options.IdleBytes's default
)

// schedule is a compaction schedule: archive.Options.Compaction, or none.
type schedule struct {
	name    string
	windows []time.Duration // nil: NoCompaction
}

// defaultSchedule is archive.Options' default compaction.
var defaultSchedule = schedule{"5 min / 1 h (default)", []time.Duration{5 * time.Minute, time.Hour}}

// litestreamSchedule is Litestream's levels, the default until the cost
// study below chose defaultSchedule.
var litestreamSchedule = schedule{"30 s / 5 min / 1 h (Litestream's levels)", []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour}}

// scaledSchedule is Litestream's three levels shrunk so that a run of a
// minute or two closes windows at every level: it checks the model's
// compaction at every level against the counts.
var scaledSchedule = schedule{"3 s / 15 s / 45 s (scaled)", []time.Duration{3 * time.Second, 15 * time.Second, 45 * time.Second}}

// candidates are the schedules the study compares.
var candidates = []schedule{
	defaultSchedule,
	litestreamSchedule,
	{"none (NoCompaction)", nil},
	{"1 min / 1 h", []time.Duration{time.Minute, time.Hour}},
	{"1 h", []time.Duration{time.Hour}},
	{"30 s / 5 min / 1 h / 1 d", []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour, 24 * time.Hour}},
	{"5 min / 1 h / 1 d", []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour}},
	{"1 h / 1 d", []time.Duration{time.Hour, 24 * time.Hour}},
	{"10 min / 1 d", []time.Duration{10 * time.Minute, 24 * time.Hour}},
	{"30 min / 1 d", []time.Duration{30 * time.Minute, 24 * time.Hour}},
}

// costRates are the loads measured, events per second.
var costRates = []int{10, 1000, 10_000}

// idleRates and idleIntervals are the loads and the
// Options.IdleShipInterval values measured beside the default (off),
// with the default compaction: what the option saves where it is meant
// to, and where it should change little.
var (
	idleRates     = []int{10, 1000}
	idleIntervals = []time.Duration{10 * time.Second, time.Minute}
)

// costConfig is one configuration of a cost run.
type costConfig struct {
	sched schedule
	idle  time.Duration // Options.IdleShipInterval (0: off)
}

// costConfigs are the configurations measured at rate: the default
// compaction and the scaled one, then IdleShipInterval's values at
// idleRates.
func costConfigs(rate int) []costConfig {
	cs := []costConfig{{sched: defaultSchedule}, {sched: scaledSchedule}}
	if slices.Contains(idleRates, rate) {
		for _, idle := range idleIntervals {
			cs = append(cs, costConfig{sched: defaultSchedule, idle: idle})
		}
	}
	return cs
}

// costRunsPerStore is how many runs the cost suite makes on a store.
func costRunsPerStore() int {
	n := 0
	for _, rate := range costRates {
		n += len(costConfigs(rate))
	}
	return n
}

// idleName names an IdleShipInterval value ("off" for 0).
func idleName(idle time.Duration) string {
	if idle == 0 {
		return "off"
	}
	return idle.String()
}

// The study's operating assumptions (the README states them).
const (
	pitrWindow     = 7 * 24 * time.Hour // the point-in-time window kept
	basePeriod     = 24 * time.Hour     // a base snapshot a day; ApplyRetention a day
	manifestsKept  = 8                  // base snapshots' manifests read by a listing (the window's and the one before)
	drillsPerDay   = 1                  // restore drills to the latest state
	verifiesPerDay = 1                  // VerifyPITR runs
)

// costRun is one measured run of the Archiver under a paced load.
type costRun struct {
	rate     int
	sched    schedule
	idle     time.Duration // Options.IdleShipInterval (0: off)
	bound    time.Duration // Status().Bound: the lag promised
	flushed  bool          // the archive had not caught up on its own when the run flushed it
	start    time.Time     // NewArchiver
	span     time.Duration // from NewArchiver to the load's end
	records  int64         // appended during the load
	uploads  int64         // OnUpload calls during the load
	counts   reqCounts     // requests from NewArchiver to the load's end
	objBytes float64       // mean stored bytes of an upload
	held     int           // WAL objects held after Flush
	lagMax   time.Duration // per record, Append → archived
	lagP99   time.Duration
	gap      time.Duration // mean time between two uploads of the load (0: fewer than two)
	model    modelCounts   // the model over the same span
}

// costJob is the cost suite's runs on one store.
type costJob struct {
	store *store
	runs  []*costRun
}

// costAll runs the cost suite on st: every rate with the default
// schedule and with the scaled one, and at idleRates with each of
// idleIntervals.
func (b *bencher) costAll(ctx context.Context, st *store) (*costJob, error) {
	j := &costJob{store: st}
	for _, rate := range costRates {
		for _, c := range costConfigs(rate) {
			b.done++
			fmt.Fprintf(b.progress, "[%d/%d] cost %s: %s events/s, compaction %s, IdleShipInterval %s, %v: ", b.done, b.total, st.label, thousands(rate), c.sched.name, idleName(c.idle), b.costDuration)
			r, err := b.costOnce(ctx, st, rate, c)
			if err != nil {
				fmt.Fprintln(b.progress, "failed")
				return nil, fmt.Errorf("cost %s, %d events/s, %s, IdleShipInterval %s: %w", st.label, rate, c.sched.name, idleName(c.idle), err)
			}
			m := r.model.requests()
			fmt.Fprintf(b.progress, "%d uploads, PUT %d (model %.0f), GET %d (model %.0f), LIST %d (model %.0f), DELETE %d (model %.0f); lag max %v of bound %v",
				r.uploads, r.counts.get(opPut, ""), m.put, r.counts.get(opGet, ""), m.get, r.counts.get(opList, ""), m.list,
				r.counts.get(opDelete, ""), m.del, r.lagMax.Round(time.Millisecond), r.bound)
			if r.flushed {
				fmt.Fprint(b.progress, " (the last records flushed)")
			}
			fmt.Fprintln(b.progress)
			j.runs = append(j.runs, r)
		}
	}
	return j, nil
}

// costOnce runs the Archiver with configuration c on a fresh log and a
// fresh repository in st (its bucket wrapped to count requests) under
// rate events/s for -cost-duration, and counts the requests from
// NewArchiver to the end of the load.
func (b *bencher) costOnce(ctx context.Context, st *store, rate int, c costConfig) (*costRun, error) {
	sc := c.sched
	r := &costRun{rate: rate, sched: sc, idle: c.idle}
	counter := &reqCounter{}
	run, err := b.freshRun(ctx, st, "cost-", func(inner *blob.Bucket) *blob.Bucket { return countBucket(inner, counter) })
	if err != nil {
		return nil, err
	}
	defer run.close()
	log := run.log

	lb := *b // the load's settings for pace and payloadAt
	lb.rate, lb.duration = rate, b.costDuration
	total := int(int64(rate) * int64(lb.duration) / int64(time.Second))
	appendAt := make([]time.Duration, total+1)
	base := time.Now()
	ups := &uploadLog{base: base}
	opts := archive.Options{
		ShipInterval:     shipInterval,
		IdleShipInterval: c.idle,
		Compaction:       sc.windows,
		NoCompaction:     sc.windows == nil,
		OnUpload:         ups.onUpload,
		Logger:           b.logger(),
	}
	before := counter.snapshot()
	r.start = time.Now()
	a, err := archive.NewArchiver(log, run.repo, opts)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	r.bound = a.Status().Bound
	loadStart, loadDur, _, err := lb.pace(ctx, log, total, base, appendAt)
	if err != nil {
		return nil, err
	}
	end := loadStart.Add(loadDur)
	r.counts = counter.snapshot().sub(before)
	r.uploads = int64(ups.count())
	r.span = end.Sub(r.start)
	last := log.Last()
	r.records = int64(last)

	// As drain, but the last batch may wait until its oldest record is
	// Bound/2 old: wait that long too, so that no Flush shortens the
	// last records' lag (unless the load was shorter: a smoke run).
	r.flushed = !waitArchived(ctx, a, last, min(r.bound/2, b.costDuration)+min(drainTimeout, b.costDuration))
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = a.Flush(fctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	a.Close()

	inOrder := ups.inOrder()
	lags, err := recordLags(inOrder, appendAt, last)
	if err != nil {
		return nil, err
	}
	var upBytes int64
	for _, u := range inOrder {
		upBytes += int64(u.ev.Bytes)
	}
	r.lagMax, r.lagP99 = lags[len(lags)-1], benchkit.Percentile(lags, 0.99)
	if n := int(r.uploads); n >= 2 {
		r.gap = (inOrder[n-1].at - inOrder[0].at) / time.Duration(n-1)
	}
	r.objBytes = float64(upBytes) / float64(len(inOrder))
	objs, err := listArchive(ctx, run.bucket)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.kind == kindWAL {
			r.held++
		}
	}
	r.model = simulate(modelParams{
		rate: float64(rate), payload: float64(b.payload), objBytes: r.objBytes, ship: shipInterval, idle: c.idle, windows: sc.windows,
		start: r.start, span: r.span, fresh: true,
	})
	return r, nil
}

// waitArchived waits up to wait for the archive to reach last on its
// own; false if it did not.
func waitArchived(ctx context.Context, a *archive.Archiver, last wal.LSN, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for a.Status().Archived < last {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// thousands formats n with thousands separators.
func thousands(n int) string { return benchkit.Thousands(int64(n)) }
