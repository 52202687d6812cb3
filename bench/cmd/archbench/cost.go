package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/snapshot"
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
// archive/resume.go, snapshot.Options.KeyCheckInterval's default).
const (
	keepHeads        = 3                // the newest head and the two before it
	anchorObjects    = 2                // the pin and the timeline
	deposedCheck     = 30 * time.Second // NoCompaction: a listing of wal/'s directories this often
	keyCheckInterval = time.Minute      // a writing Repo lists epochs/ this often
	maxCompacted     = 32 << 20         // archive.Options.MaxCompactedBytes's default
	maxObjectBytes   = 8 << 20          // archive.Options.MaxObjectBytes's default
)

// Request operations, as S3 bills them.
const (
	opPut    = "PUT"    // PutObject (and CopyObject)
	opGet    = "GET"    // GetObject, whole or a range
	opList   = "LIST"   // one page of ListObjectsV2
	opDelete = "DELETE" // DeleteObject
	opHead   = "HEAD"   // HeadObject (Attributes)
)

// reqKey is an operation on a class of keys.
type reqKey struct{ op, class string }

// keyClass names what key (or listing prefix) a request is about.
func keyClass(key string) string {
	switch {
	case strings.HasPrefix(key, headPrefix):
		return "head"
	case strings.HasPrefix(key, pinPrefix):
		return "pin"
	case strings.HasPrefix(key, walPrefix) && strings.HasSuffix(key, "/timeline"):
		return "timeline"
	case strings.HasPrefix(key, walPrefix):
		return "wal"
	}
	return "repo"
}

// listClass names a listing: of every object under wal/, of wal/'s
// directories (a delimiter), of the heads or pins, or of the repository's
// own prefixes.
func listClass(prefix, delim string) string {
	switch {
	case prefix == walPrefix && delim != "":
		return "wal dirs"
	case prefix == walPrefix:
		return "wal"
	case prefix == headPrefix:
		return "head"
	case prefix == pinPrefix:
		return "pin"
	}
	return "repo"
}

// reqCounts are requests by operation and key class, and bytes moved.
type reqCounts struct {
	n          map[reqKey]int64
	up, down   int64 // bytes written and read
	walPutSize []int64
}

// get returns the count of op on class ("" for every class).
func (c reqCounts) get(op, class string) int64 {
	var n int64
	for k, v := range c.n {
		if k.op == op && (class == "" || k.class == class) {
			n += v
		}
	}
	return n
}

// sub returns c less an earlier snapshot o of the same counter.
func (c reqCounts) sub(o reqCounts) reqCounts {
	d := reqCounts{n: map[reqKey]int64{}, up: c.up - o.up, down: c.down - o.down, walPutSize: c.walPutSize[len(o.walPutSize):]}
	for k, v := range c.n {
		if v -= o.n[k]; v != 0 {
			d.n[k] = v
		}
	}
	return d
}

// reqCounter counts the requests a countingBucket passes on. Safe for
// concurrent use.
type reqCounter struct {
	mu         sync.Mutex
	n          map[reqKey]int64
	walPutSize []int64 // the size of every WAL object written, in order
	up, down   atomic.Int64
}

func (c *reqCounter) add(op, class string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[reqKey]int64{}
	}
	c.n[reqKey{op, class}]++
	c.mu.Unlock()
}

// snapshot returns the counts so far.
func (c *reqCounter) snapshot() reqCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := reqCounts{n: make(map[reqKey]int64, len(c.n)), up: c.up.Load(), down: c.down.Load(), walPutSize: slices.Clone(c.walPutSize)}
	for k, v := range c.n {
		s.n[k] = v
	}
	return s
}

// countingBucket is a gocloud driver.Bucket that passes every call to a
// *blob.Bucket and counts it as the S3 request it is: a writer's Close is
// a PUT, a reader (whole or a range) a GET, each ListPaged call one LIST
// page (of at most s3ListPage keys, S3's page, when the caller asks for
// no page size), Attributes a HEAD, Copy a PUT-class COPY, Delete a
// DELETE. Wrapping the bucket below snapshot.Repo counts every request
// the archive and the repository make, whatever the store.
type countingBucket struct {
	b *blob.Bucket
	c *reqCounter
}

var _ driver.Bucket = (*countingBucket)(nil)

// countBucket returns b wrapped to count its requests in c; closing the
// result closes b.
func countBucket(b *blob.Bucket, c *reqCounter) *blob.Bucket {
	return blob.NewBucket(&countingBucket{b: b, c: c})
}

func (cb *countingBucket) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (cb *countingBucket) As(any) bool                            { return false }
func (cb *countingBucket) ErrorAs(err error, i any) bool          { return cb.b.ErrorAs(err, i) }
func (cb *countingBucket) Close() error                           { return cb.b.Close() }

func (cb *countingBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	cb.c.add(opHead, keyClass(key))
	a, err := cb.b.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{CacheControl: a.CacheControl, ContentDisposition: a.ContentDisposition, ContentEncoding: a.ContentEncoding,
		ContentLanguage: a.ContentLanguage, ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime, ModTime: a.ModTime,
		Size: a.Size, MD5: a.MD5, ETag: a.ETag}, nil
}

func (cb *countingBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	cb.c.add(opList, listClass(opts.Prefix, opts.Delimiter))
	size := opts.PageSize
	if size <= 0 {
		size = s3ListPage
	}
	objs, next, err := cb.b.ListPage(ctx, orFirst(opts.PageToken), size, &blob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter, BeforeList: opts.BeforeList})
	if err != nil {
		return nil, err
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir})
	}
	return page, nil
}

// orFirst is blob.FirstPageToken for an empty token.
func orFirst(tok []byte) []byte {
	if len(tok) == 0 {
		return blob.FirstPageToken
	}
	return tok
}

func (cb *countingBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	cb.c.add(opGet, keyClass(key))
	r, err := cb.b.NewRangeReader(ctx, key, offset, length, &blob.ReaderOptions{BeforeRead: opts.BeforeRead})
	if err != nil {
		return nil, err
	}
	return &countingReader{r: r, c: cb.c}, nil
}

func (cb *countingBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	w, err := cb.b.NewWriter(ctx, key, &blob.WriterOptions{
		BufferSize: opts.BufferSize, MaxConcurrency: opts.MaxConcurrency, CacheControl: opts.CacheControl,
		ContentDisposition: opts.ContentDisposition, ContentEncoding: opts.ContentEncoding, ContentLanguage: opts.ContentLanguage,
		ContentType: contentType, ContentMD5: opts.ContentMD5, Metadata: opts.Metadata, BeforeWrite: opts.BeforeWrite,
		DisableContentTypeDetection: opts.DisableContentTypeDetection, IfNotExist: opts.IfNotExist,
	})
	if err != nil {
		return nil, err
	}
	return &countingWriter{w: w, c: cb.c, key: key}, nil
}

func (cb *countingBucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	cb.c.add(opPut, keyClass(dstKey))
	return cb.b.Copy(ctx, dstKey, srcKey, &blob.CopyOptions{BeforeCopy: opts.BeforeCopy})
}

func (cb *countingBucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	cb.c.add(opDelete, keyClass(key))
	return cb.b.Delete(ctx, key)
}

func (cb *countingBucket) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	return "", errors.New("archbench: the counting bucket signs no URLs")
}

// countingReader counts the bytes read.
type countingReader struct {
	r *blob.Reader
	c *reqCounter
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.down.Add(int64(n))
	return n, err
}
func (r *countingReader) Close() error { return r.r.Close() }
func (r *countingReader) As(any) bool  { return false }
func (r *countingReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

// countingWriter counts one PUT when it is closed (the request is made
// then, for objects below the multipart threshold), and the bytes.
type countingWriter struct {
	w   *blob.Writer
	c   *reqCounter
	key string
	n   int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Close() error {
	class := keyClass(w.key)
	w.c.add(opPut, class)
	w.c.up.Add(w.n)
	if class == "wal" {
		w.c.mu.Lock()
		w.c.walPutSize = append(w.c.walPutSize, w.n)
		w.c.mu.Unlock()
	}
	return w.w.Close()
}

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
	start    time.Time     // NewArchiver
	span     time.Duration // from NewArchiver to the load's end
	records  int64         // appended during the load
	uploads  int64         // OnUpload calls during the load
	counts   reqCounts     // requests from NewArchiver to the load's end
	objBytes float64       // mean stored bytes of an upload
	held     int           // WAL objects held after Flush
	lagMax   time.Duration // per record, Append → archived
	lagP99   time.Duration
	model    modelCounts // the model over the same span
}

// costJob is the cost suite's runs on one store.
type costJob struct {
	store *store
	runs  []*costRun
}

// costAll runs the cost suite on st: every rate with the default
// schedule and with the scaled one.
func (b *bencher) costAll(ctx context.Context, st *store) (*costJob, error) {
	j := &costJob{store: st}
	for _, rate := range costRates {
		for _, sc := range []schedule{defaultSchedule, scaledSchedule} {
			b.done++
			fmt.Fprintf(b.progress, "[%d/%d] cost %s: %s events/s, compaction %s, %v: ", b.done, b.total, st.label, thousands(rate), sc.name, b.costDuration)
			r, err := b.costOnce(ctx, st, rate, sc)
			if err != nil {
				fmt.Fprintln(b.progress, "failed")
				return nil, fmt.Errorf("cost %s, %d events/s, %s: %w", st.label, rate, sc.name, err)
			}
			m := r.model.requests()
			fmt.Fprintf(b.progress, "%d uploads, PUT %d (model %.0f), GET %d (model %.0f), LIST %d (model %.0f), DELETE %d (model %.0f); lag max %v\n",
				r.uploads, r.counts.get(opPut, ""), m.put, r.counts.get(opGet, ""), m.get, r.counts.get(opList, ""), m.list,
				r.counts.get(opDelete, ""), m.del, r.lagMax.Round(time.Millisecond))
			j.runs = append(j.runs, r)
		}
	}
	return j, nil
}

// costOnce runs the Archiver with compaction sc on a fresh log and a
// fresh repository in st (its bucket wrapped to count requests) under
// rate events/s for -cost-duration, and counts the requests from
// NewArchiver to the end of the load.
func (b *bencher) costOnce(ctx context.Context, st *store, rate int, sc schedule) (*costRun, error) {
	r := &costRun{rate: rate, sched: sc}
	dir, err := os.MkdirTemp(b.root, "cost-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	log, err := wal.Open(filepath.Join(dir, "wal"), wal.Options{})
	if err != nil {
		return nil, err
	}
	defer log.Close()
	inner, cleanup, err := st.open(ctx)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	counter := &reqCounter{}
	bucket := countBucket(inner, counter)
	// Not closed: closing it would close inner, which cleanup does.
	repo, err := snapshot.Init(ctx, bucket, snapshot.RawKey(repoKey), snapshot.Format{}, snapshot.Options{})
	if err != nil {
		return nil, err
	}
	defer repo.Close()

	lb := *b // the load's settings for pace and payloadAt
	lb.rate, lb.duration = rate, b.costDuration
	total := int(int64(rate) * int64(lb.duration) / int64(time.Second))
	appendAt := make([]time.Duration, total+1)
	var (
		mu      sync.Mutex
		ups     []landed
		uploads atomic.Int64
		base    = time.Now()
	)
	opts := archive.Options{
		ShipInterval: shipInterval,
		Compaction:   sc.windows,
		NoCompaction: sc.windows == nil,
		OnUpload: func(ev archive.UploadEvent) {
			at := time.Since(base)
			uploads.Add(1)
			mu.Lock()
			ups = append(ups, landed{ev, at})
			mu.Unlock()
		},
		Logger: b.logger(),
	}
	before := counter.snapshot()
	r.start = time.Now()
	a, err := archive.NewArchiver(log, repo, opts)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	loadStart, loadDur, _, err := lb.pace(ctx, log, total, base, appendAt)
	if err != nil {
		return nil, err
	}
	end := loadStart.Add(loadDur)
	r.counts = counter.snapshot().sub(before)
	r.uploads = uploads.Load()
	r.span = end.Sub(r.start)
	last := log.Last()
	r.records = int64(last)

	deadline := time.Now().Add(drainTimeout)
	for a.Status().Archived < last && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = a.Flush(fctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	a.Close()

	mu.Lock()
	ups = slices.Clone(ups)
	mu.Unlock()
	slices.SortStableFunc(ups, func(x, y landed) int { return int(x.at - y.at) })
	lags := make([]time.Duration, 0, last)
	var archived wal.LSN
	var upBytes int64
	for _, u := range ups {
		upBytes += int64(u.ev.Bytes)
		for ; archived < min(u.ev.Archived, last); archived++ {
			lags = append(lags, max(0, u.at-appendAt[archived+1]))
		}
	}
	if archived < last || len(ups) == 0 {
		return nil, fmt.Errorf("the uploads reported the archive up to LSN %d, the log holds %d", archived, last)
	}
	slices.Sort(lags)
	r.lagMax, r.lagP99 = lags[len(lags)-1], percentile(lags, 0.99)
	r.objBytes = float64(upBytes) / float64(len(ups))
	objs, err := listArchive(ctx, inner)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.kind == kindWAL {
			r.held++
		}
	}
	r.model = simulate(modelParams{
		rate: float64(rate), payload: float64(b.payload), objBytes: r.objBytes, ship: shipInterval, windows: sc.windows,
		start: r.start, span: r.span, fresh: true,
	})
	return r, nil
}

// percentile is the q-quantile of sorted.
func percentile(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// thousands formats n with thousands separators.
func thousands(n int) string { return benchkit.Thousands(int64(n)) }

// The model.
//
// Records arrive at rate r; the archiver ships the pending records once
// the oldest is ShipInterval/2 old (or MaxObjectBytes of payload are
// pending), so a batch spans ShipInterval/2 of records and the next one
// starts with the next record: one upload every P = ShipInterval/2 + 1/r
// (P = MaxObjectBytes ÷ payload bytes/s if that is shorter), one PUT
// each. A head is written when the archive moved, at most once per
// ShipInterval: one PUT every max(ShipInterval, P), and one DELETE of the
// head three back. Compaction runs every Compaction[0]: it lists wal/
// (⌈objects under wal/ ÷ 1000⌉ LIST pages), reads the newest timeline
// (one GET), then for each window length in turn merges every run of
// two or more objects whose first records fall in one closed window
// (consecutive, at most MaxCompactedBytes together): one GET per piece,
// one PUT (on S3 a multipart upload at 16 MiB and more:
// ⌈size ÷ 8 MiB⌉ + 2 requests), one DELETE per piece. Without
// compaction, wal/'s directories are listed every 30 s (one LIST). A
// writing repository lists epochs/ once a minute. At start the archiver
// lists wal/ twice and wal/head/ and wal/pin/ once, and writes the
// timeline, the first head and the pin. simulate applies these rules
// event by event, with windows aligned to Unix time as the library
// aligns them.

// modelParams are a simulation's inputs.
type modelParams struct {
	rate     float64         // events per second
	payload  float64         // payload bytes per event (for MaxObjectBytes; 0: never reached)
	objBytes float64         // stored bytes of one upload
	ship     time.Duration   // ShipInterval
	windows  []time.Duration // compaction windows; nil: NoCompaction
	start    time.Time       // the archiver's start
	span     time.Duration   // simulated time after start
	// fresh counts the start (a new archive): resume's listings and
	// writes, and heads 1 to 3 deleting nothing. Otherwise only the
	// steady state from countFrom is counted.
	fresh bool
	// countFrom: events before it are simulated but not counted (zero:
	// from start).
	countFrom time.Time
	// retain keeps objects whose last record is younger than this under
	// wal/ (0: keeps every object), as daily retention does on average.
	retain time.Duration
	// recentFor, if set, makes simulate sample every hour of the counted
	// span how many WAL objects hold records of the last recentFor: what
	// a restore from a base snapshot that old reads.
	recentFor time.Duration
}

// modelCounts are the requests a simulation counted.
type modelCounts struct {
	uploads, heads, headDeletes       float64
	compPuts, compPutsS3              float64 // compaction's merged objects: PUTs, and S3 requests (multipart)
	compGets, compDeletes, compRounds float64
	walLists, dirLists, keyLists      float64 // LIST pages of wal/ (compaction), wal/'s directories, epochs/
	timelineGets                      float64
	startLists, startPuts             float64 // resume: listings; the timeline and the pin
	walObjects                        int     // WAL objects under wal/ at the end
	walBytes                          float64 // their bytes
	recentObjects                     float64 // mean WAL objects holding the last recentFor (if asked)
}

// reqTotals are requests by operation; put is PUT-class (PUT, LIST not
// included), list LIST pages.
type reqTotals struct{ put, get, list, del float64 }

// requests are the model's counts by operation, one PUT per object.
func (m modelCounts) requests() reqTotals {
	return reqTotals{
		put:  m.uploads + m.heads + m.compPuts + m.startPuts,
		get:  m.compGets + m.timelineGets,
		list: m.walLists + m.dirLists + m.keyLists + m.startLists,
		del:  m.headDeletes + m.compDeletes,
	}
}

// s3Puts are the PUT-class requests on S3 (multipart uploads of large
// merged objects counted per request).
func (m modelCounts) s3Puts() float64 { return m.uploads + m.heads + m.compPutsS3 + m.startPuts }

// simObj is one WAL object in the simulation.
type simObj struct {
	first, last int64 // record times, Unix ns
	size        float64
}

// uploadPeriod is P: the time between two uploads under a steady load.
func uploadPeriod(rate, payload float64, ship time.Duration) float64 {
	p := ship.Seconds()/2 + 1/rate
	if payload > 0 {
		p = min(p, maxObjectBytes/(rate*payload)+1/rate)
	}
	return p
}

// s3PutRequests is what writing one object of size bytes costs on S3.
func s3PutRequests(size float64) float64 {
	if size < s3MultipartThreshold {
		return 1
	}
	return math.Ceil(size/s3PartBytes) + 2
}

// simulate applies the archive's request rules (see "The model") to a
// steady load of p.rate events/s for p.span.
func simulate(p modelParams) modelCounts {
	var m modelCounts
	start := p.start.UnixNano()
	end := start + int64(p.span)
	from := start
	if !p.countFrom.IsZero() {
		from = p.countFrom.UnixNano()
	}
	counted := func(t int64) bool { return t >= from && t <= end }
	period := int64(uploadPeriod(p.rate, p.payload, p.ship) * 1e9)
	batch := period - int64(1e9/p.rate) // first to last record of a batch; it lands then
	ship := int64(p.ship)
	landing := func(k int64) int64 { return start + k*period + batch }

	if p.fresh {
		m.startLists, m.startPuts = 4, 2
	}
	// Heads: the first at start (fresh), then at most one per
	// ShipInterval, each after a landing.
	lastHead := start
	nHeads := int64(1)
	if p.fresh {
		m.heads++
	}
	for {
		k := max(0, (lastHead-landing(0))/period+1) // the first landing after lastHead
		for landing(k) <= lastHead {
			k++
		}
		at := max(lastHead+ship, landing(k))
		if at > end {
			break
		}
		lastHead = at
		nHeads++
		if counted(at) {
			m.heads++
			if !p.fresh || nHeads > keepHeads {
				m.headDeletes++
			}
		}
	}
	// Key checks: a PUT at least a minute after the last check lists
	// epochs/ (the repository checked when it opened, at start).
	for t := start + int64(keyCheckInterval); t <= end; t += int64(keyCheckInterval) {
		if counted(t) {
			m.keyLists++
		}
	}

	var (
		own     []simObj // objects compaction may still merge, by first record
		kept    []simObj // final objects, oldest first
		keptLo  int      // kept[:keptLo] were deleted by retention
		nextUp  int64    // the next upload's index
		samples int
	)
	addUploads := func(until int64) {
		for ; landing(nextUp) <= until; nextUp++ {
			first := start + nextUp*period
			own = append(own, simObj{first: first, last: landing(nextUp), size: p.objBytes})
			if counted(landing(nextUp)) {
				m.uploads++
			}
		}
	}
	retire := func(now int64) {
		for keptLo < len(kept) && p.retain > 0 && kept[keptLo].last < now-int64(p.retain) {
			keptLo++
		}
	}
	walObjects := func() int { return len(own) + len(kept) - keptLo }
	listPages := func() float64 {
		return math.Ceil(float64(walObjects()+keepHeads+anchorObjects) / s3ListPage)
	}
	sample := func(now int64) {
		if p.recentFor == 0 || !counted(now) {
			return
		}
		cut := now - int64(p.recentFor)
		i, _ := slices.BinarySearchFunc(kept[keptLo:], cut, func(o simObj, t int64) int {
			if o.last < t {
				return -1
			}
			return 1
		})
		n := len(kept) - keptLo - i + len(own)
		m.recentObjects += float64(n)
		samples++
	}

	if p.windows == nil {
		for t := start + int64(deposedCheck); ; t += int64(deposedCheck) {
			if t > end {
				addUploads(end)
				break
			}
			addUploads(t)
			if counted(t) {
				m.dirLists++
			}
		}
		// Every object is final at once; move them for the count.
		kept, own = own, nil
		retire(end)
		if p.recentFor > 0 {
			for h := from + int64(time.Hour); h <= end; h += int64(time.Hour) {
				sample(h)
			}
		}
	} else {
		tick := int64(p.windows[0])
		top := int64(p.windows[len(p.windows)-1])
		nextSample := from + int64(time.Hour)
		for t := start + tick; t <= end; t += tick {
			addUploads(t)
			for p.recentFor > 0 && nextSample <= t {
				sample(nextSample)
				nextSample += int64(time.Hour)
			}
			k := (t-landing(0))/period - 1 // the last landing at or before t
			for landing(k+1) <= t {
				k++
			}
			closed := int64(math.MinInt64)
			if k >= 0 {
				closed = landing(k)
			}
			if counted(t) {
				m.walLists += listPages()
				m.timelineGets++
				m.compRounds++
			}
			for _, w := range p.windows {
				own = compactLevel(own, int64(w), closed, maxCompacted, func(run []simObj, merged simObj) {
					if counted(t) {
						m.compGets += float64(len(run))
						m.compDeletes += float64(len(run))
						m.compPuts++
						m.compPutsS3 += s3PutRequests(merged.size)
					}
				})
			}
			// Objects whose top window is closed will never merge again.
			n := 0
			for _, o := range own {
				if (o.first/top+1)*top <= closed {
					kept = append(kept, o)
				} else {
					own[n] = o
					n++
				}
			}
			own = own[:n]
			retire(t)
		}
		addUploads(end)
	}
	m.walObjects = walObjects()
	for _, o := range own {
		m.walBytes += o.size
	}
	for _, o := range kept[keptLo:] {
		m.walBytes += o.size
	}
	if samples > 0 {
		m.recentObjects /= float64(samples)
	}
	return m
}

// compactLevel merges, as archive's compactLevel does, each run of two or
// more consecutive objects whose first records fall in one window of
// width ns that closed by closed, at most maxBytes together; merged is
// called for each.
func compactLevel(own []simObj, width, closed int64, maxBytes float64, merged func(run []simObj, out simObj)) []simObj {
	var out []simObj
	for i := 0; i < len(own); {
		win := own[i].first / width
		j, size := i+1, own[i].size
		for j < len(own) && own[j].first/width == win && size+own[j].size <= maxBytes {
			size += own[j].size
			j++
		}
		if j-i < 2 || (win+1)*width > closed {
			out = append(out, own[i])
			i++
			continue
		}
		o := simObj{first: own[i].first, last: own[j-1].last, size: size}
		merged(own[i:j], o)
		out = append(out, o)
		i = j
	}
	return out
}

// projection is a schedule's requests per hour and per month at a rate,
// in steady state with a full point-in-time window, and the cost.
type projection struct {
	rate  int
	sched schedule
	hour  modelCounts // one hour of the archiver in steady state

	// Per day: the restore drills, verifies and retention runs.
	drillGets, drillLists, verifyGets, verifyLists, retentionLists, retentionGets float64

	objectsHeld   int     // WAL objects under wal/ (the window and up to a day before)
	bytesHeld     float64 // their bytes
	recentObjects float64 // WAL objects a drill from the newest base reads, on average
}

// projectionDay is the counted day of a projection's simulation.
const projectionDay = 24 * time.Hour

// project simulates sched at rate (objBytes per upload) long enough to
// fill the point-in-time window and counts its last day.
func project(rate int, payload, objBytes float64, sched schedule) projection {
	retain := pitrWindow + basePeriod/2 // retention deletes daily: on average half a day more
	warm := retain + 2*time.Hour
	if sched.windows != nil {
		warm = max(warm, 2*sched.windows[len(sched.windows)-1])
	}
	start := time.Date(2026, 1, 5, 0, 0, 7, 0, time.UTC) // an arbitrary start, not on a window edge
	m := simulate(modelParams{
		rate: float64(rate), payload: payload, objBytes: objBytes, ship: shipInterval, windows: sched.windows,
		start: start, span: warm + projectionDay, countFrom: start.Add(warm), retain: retain, recentFor: basePeriod / 2,
	})
	pr := projection{rate: rate, sched: sched, objectsHeld: m.walObjects, bytesHeld: m.walBytes, recentObjects: m.recentObjects}
	pr.hour = m.scale(float64(time.Hour) / float64(projectionDay))
	pages := math.Ceil(float64(m.walObjects+keepHeads+anchorObjects) / s3ListPage)
	// A drill to the latest state: list wal/, the heads and the
	// snapshots; read the timeline, the newest head, the manifests, the
	// objects since the newest base (on average half a day's), the last
	// one and the first record's once more (authentication, times).
	pr.drillLists = drillsPerDay * (pages + 2)
	pr.drillGets = drillsPerDay * (m.recentObjects + 2 + 1 + 1 + manifestsKept)
	// VerifyPITR: list wal/, the snapshots; read every object under wal/
	// and the manifests.
	pr.verifyLists = verifiesPerDay * (pages + 1)
	pr.verifyGets = verifiesPerDay * (float64(m.walObjects+keepHeads+anchorObjects) + manifestsKept)
	// ApplyRetention: list wal/, the snapshots, the heads and the pins;
	// read the manifests, the timeline, the head and the pin. Its
	// DELETEs are free.
	pr.retentionLists = pages + 3
	pr.retentionGets = manifestsKept + 3
	return pr
}

// scale multiplies the request counts by f.
func (m modelCounts) scale(f float64) modelCounts {
	s := m
	for _, v := range []*float64{&s.uploads, &s.heads, &s.headDeletes, &s.compPuts, &s.compPutsS3, &s.compGets, &s.compDeletes, &s.compRounds,
		&s.walLists, &s.dirLists, &s.keyLists, &s.timelineGets, &s.startLists, &s.startPuts} {
		*v *= f
	}
	return s
}

// monthly are a projection's requests and dollars per month on S3.
type monthly struct {
	put, get, list, del      float64 // requests (put: S3 PUT-class requests other than LIST)
	requestCost, storageCost float64 // $
}

// month returns pr's month: the archiver's hours, and the daily drills,
// verifies and retention.
func (pr projection) month() monthly {
	h, days := pr.hour, float64(hoursPerMonth)/24
	var mo monthly
	mo.put = hoursPerMonth * h.s3Puts()
	mo.get = hoursPerMonth*(h.compGets+h.timelineGets) + days*(pr.drillGets+pr.verifyGets+pr.retentionGets)
	mo.list = hoursPerMonth*(h.walLists+h.dirLists+h.keyLists) + days*(pr.drillLists+pr.verifyLists+pr.retentionLists)
	mo.del = hoursPerMonth * (h.headDeletes + h.compDeletes)
	mo.requestCost = (mo.put+mo.list)*priceClassA + mo.get*priceClassB
	mo.storageCost = pr.bytesHeld / 1e9 * priceGBMonth
	return mo
}

// studyResult is every candidate's projection at every rate.
type studyResult struct {
	rates []int
	projs [][]projection // [candidate][rate]
}

// study projects every candidate at every rate, with the measured upload
// sizes (objBytes by rate).
func study(payload float64, objBytes map[int]float64) studyResult {
	res := studyResult{rates: costRates}
	for _, c := range candidates {
		var row []projection
		for _, r := range costRates {
			row = append(row, project(r, payload, objBytes[r], c))
		}
		res.projs = append(res.projs, row)
	}
	return res
}

// best returns the candidate with the lowest request cost at rate index
// ri, and the one whose worst ratio to the cheapest at any rate is
// lowest (the schedule to use when the rate is not known).
func (s studyResult) best() (perRate []int, overall int, worst []float64) {
	perRate = make([]int, len(s.rates))
	for ri := range s.rates {
		for ci := range s.projs {
			if s.projs[ci][ri].month().requestCost < s.projs[perRate[ri]][ri].month().requestCost {
				perRate[ri] = ci
			}
		}
	}
	worst = make([]float64, len(s.projs))
	for ci := range s.projs {
		for ri := range s.rates {
			worst[ci] = max(worst[ci], s.projs[ci][ri].month().requestCost/s.projs[perRate[ri]][ri].month().requestCost)
		}
		if worst[ci] < worst[overall] {
			overall = ci
		}
	}
	return perRate, overall, worst
}

// measuredObjBytes returns the mean upload size of the default runs by
// rate.
func (j *costJob) measuredObjBytes() map[int]float64 {
	out := map[int]float64{}
	for _, r := range j.runs {
		if r.sched.name == defaultSchedule.name {
			out[r.rate] = r.objBytes
		}
	}
	return out
}

// relErr is (model - measured) ÷ measured, 0 when both are 0.
func relErr(model, measured float64) float64 {
	if measured == 0 {
		if model == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return (model - measured) / measured
}

// measuredCost is what the run's counted requests cost on S3's prices
// (one PUT per object, as counted).
func measuredCost(c reqCounts) float64 {
	return float64(c.get(opPut, "")+c.get(opList, ""))*priceClassA + float64(c.get(opGet, "")+c.get(opHead, ""))*priceClassB
}

// modelCost is the same for the model's counts.
func modelCost(m modelCounts) float64 {
	t := m.requests()
	return (t.put+t.list)*priceClassA + t.get*priceClassB
}

// writeCost renders the cost suite's report, prints it to out and writes
// it between the cost markers of -readme.
func writeCost(s settings, sys benchkit.System, res *results, args string, out, progress io.Writer) error {
	report := renderCost(s, sys, res, args)
	fmt.Fprint(out, report)
	if s.readme == "" {
		return nil
	}
	if err := costReadme.Write(s.readme, report); err != nil {
		return fmt.Errorf("write %s: %w", s.readme, err)
	}
	fmt.Fprintf(progress, "archbench: wrote the cost report into %s\n", s.readme)
	return nil
}

// renderCost formats the cost suite's results as Markdown: the counts,
// the model against them, the projection per hour and month at the
// default schedule, and the schedule study.
func renderCost(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/archbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd)
	rows := sys.Facts()
	for _, j := range res.cost {
		rows = append(rows, []string{"Store " + j.store.label, j.store.desc + "; every request counted by a gocloud driver.Bucket wrapped around it (counts do not depend on the store)"})
	}
	rows = append(rows, sys.Load(), []string{"Runs", fmt.Sprintf("per store, %s events/s of %s, each with the default compaction and with %s, %v of load each, ShipInterval %v%s",
		joinRates(), sizeName(s.payload), scaledSchedule.name, s.costDuration, shipInterval, quickNote(s))})
	benchkit.Table(&b, []string{"", ""}, rows)
	for _, j := range res.cost {
		renderCostJob(&b, s, j)
	}
	return b.String()
}

func joinRates() string {
	var parts []string
	for _, r := range costRates {
		parts = append(parts, thousands(r))
	}
	return strings.Join(parts, ", ")
}

// renderCostJob writes one store's tables.
func renderCostJob(b *strings.Builder, s settings, j *costJob) {
	fmt.Fprintf(b, "\n#### Requests counted (%s), from NewArchiver to the end of the load\n\n", j.store.label)
	var rows [][]string
	for _, r := range j.runs {
		c := r.counts
		rows = append(rows, []string{thousands(r.rate), r.sched.name, benchkit.Sig3(r.span.Seconds()),
			benchkit.Thousands(r.uploads), benchkit.Thousands(c.get(opPut, "wal") - r.uploads), benchkit.Thousands(c.get(opPut, "head")),
			benchkit.Thousands(c.get(opPut, "pin") + c.get(opPut, "timeline") + c.get(opPut, "repo")),
			benchkit.Thousands(c.get(opGet, "wal")), benchkit.Thousands(c.get(opGet, "") - c.get(opGet, "wal")),
			benchkit.Thousands(c.get(opList, "wal")), benchkit.Thousands(c.get(opList, "") - c.get(opList, "wal")),
			benchkit.Thousands(c.get(opDelete, "wal")), benchkit.Thousands(c.get(opDelete, "head")), benchkit.Thousands(c.get(opHead, "")),
			benchkit.Sig3(float64(c.up) / 1e6), benchkit.Sig3(float64(c.down) / 1e6),
			fmt.Sprint(r.held), benchkit.Sig3(ms(r.lagP99)), benchkit.Sig3(ms(r.lagMax))})
	}
	benchkit.Table(b, []string{"events/s", "compaction", "s counted", "uploads (PUT)", "compaction PUT", "head PUT", "other PUT", "WAL GET", "other GET",
		"LIST wal/", "other LIST", "WAL DELETE", "head DELETE", "HEAD", "MB up", "MB down", "WAL objects held after Flush", "lag p99 ms", "lag max ms"}, rows)
	b.WriteString("\nuploads: OnUpload calls during the load; compaction PUT: the other PUTs of WAL objects (merged objects); other PUT: the timeline, the pin and the repository's own objects. other GET: the timeline (read by every compaction round), heads, pins. other LIST: wal/head/, wal/pin/, wal/'s directories, epochs/ (the repository's key check). Every LIST is one page of at most 1,000 keys. MB up and down: object bytes written and read. lag: per record, from its Append returning to the upload that archived it (the 1 s promise: ShipInterval).\n")

	fmt.Fprintf(b, "\n#### The model against the counts (%s)\n\n", j.store.label)
	rows = nil
	var worst, worstCost float64
	for _, r := range j.runs {
		m, c := r.model.requests(), r.counts
		cell := func(model float64, measured int64) string {
			e := relErr(model, float64(measured))
			if float64(measured) >= 20 {
				worst = max(worst, math.Abs(e))
			}
			return fmt.Sprintf("%s / %s (%s)", benchkit.Thousands(measured), benchkit.Thousands(int64(math.Round(model))), signedPct(e))
		}
		ec := relErr(modelCost(r.model), measuredCost(c))
		worstCost = max(worstCost, math.Abs(ec))
		rows = append(rows, []string{thousands(r.rate), r.sched.name,
			cell(r.model.uploads, r.uploads), cell(r.model.heads, c.get(opPut, "head")), cell(r.model.compPuts, c.get(opPut, "wal")-r.uploads),
			cell(m.put, c.get(opPut, "")), cell(m.get, c.get(opGet, "")), cell(m.list, c.get(opList, "")), cell(m.del, c.get(opDelete, "")),
			signedPct(ec)})
	}
	benchkit.Table(b, []string{"events/s", "compaction", "uploads", "head PUT", "compaction PUT", "all PUT", "all GET", "all LIST", "all DELETE", "request $ error"}, rows)
	fmt.Fprintf(b, "\nEach cell: measured / model (model's error). The model (below the tables) simulated each run's span from the archiver's start, its windows aligned to the same Unix time, with the run's mean upload size. Largest error of a cell counting 20 requests or more: %s; of the runs' request cost at S3's prices: %s.\n",
		benchkit.Sig3(100*worst)+"%", benchkit.Sig3(100*worstCost)+"%")

	objBytes := j.measuredObjBytes()
	st := study(float64(s.payload), objBytes)
	def := st.projs[0]
	fmt.Fprintf(b, "\n#### Per hour and per month with the default options (%s)\n\n", j.store.label)
	rows = nil
	for ri, pr := range def {
		h, mo := pr.hour, pr.month()
		measured := "—"
		for _, r := range j.runs {
			if r.rate == pr.rate && r.sched.name == defaultSchedule.name {
				measured = benchkit.Thousands(int64(math.Round(float64(r.uploads) / r.span.Hours())))
			}
		}
		up := h.uploads * objBytes[costRates[ri]]
		rows = append(rows, []string{thousands(pr.rate),
			measured, benchkit.Thousands(int64(math.Round(h.uploads))), benchkit.Sig3(up / 1e6), benchkit.Thousands(int64(math.Round(h.heads))),
			benchkit.Thousands(int64(math.Round(h.compPuts))), benchkit.Thousands(int64(math.Round(h.compGets))),
			benchkit.Thousands(int64(pr.objectsHeld)), benchkit.Sig3(pr.bytesHeld / 1e9),
			millions(mo.put), millions(mo.get), millions(mo.list), millions(mo.del),
			dollars(mo.put * priceClassA), dollars(mo.get * priceClassB), dollars(mo.list * priceClassA),
			dollars(mo.requestCost), dollars(mo.storageCost)})
	}
	benchkit.Table(b, []string{"events/s", "uploads/h measured", "uploads/h model", "MB uploaded/h", "heads/h", "compaction PUT/h", "compaction GET/h",
		"WAL objects held", "GB held", "PUT/month", "GET/month", "LIST/month", "DELETE/month", "PUT $/month", "GET $/month", "LIST $/month", "requests $/month", "storage $/month"}, rows)
	fmt.Fprintf(b, "\nSteady state: the model run for %v (the point-in-time window of %v plus half a day, as daily retention keeps on average, plus warm-up), counting its last day, with %s of payload per event and the measured mean upload size per rate. MB uploaded/h: the archiver's uploads (the objects compaction writes again are on top). PUT/month counts S3 requests: a merged object of 16 MiB or more is a multipart upload of ⌈size ÷ 8 MiB⌉ + 2 requests. GET and LIST include, per day, %d restore drill to the latest state (the objects since the newest daily base snapshot: on average half a day's), %d VerifyPITR (every object under wal/) and one ApplyRetention; the base snapshots' own requests depend on the state's size and are left out. Month: %d hours. Prices: S3 Standard, us-east-1, as of %s: PUT, COPY, POST, LIST $%.3f per 1,000; GET and other $%.4f per 1,000; DELETE free; $%.3f per GB-month. Source: %s.\n",
		pitrWindow+basePeriod/2+2*time.Hour+projectionDay, pitrWindow, sizeName(s.payload), drillsPerDay, verifiesPerDay, hoursPerMonth, priceDate,
		priceClassA*1000, priceClassB*1000, priceGBMonth, priceSource)

	fmt.Fprintf(b, "\n#### Compaction schedules: requests $ per month (%s)\n\n", j.store.label)
	perRate, overall, worstRatio := st.best()
	head := []string{"compaction"}
	for _, r := range st.rates {
		head = append(head, thousands(r)+" events/s $", thousands(r)+": PUT / GET / LIST millions", thousands(r)+": objects held / read by a drill")
	}
	head = append(head, "worst ÷ cheapest")
	rows = nil
	for ci, row := range st.projs {
		cells := []string{st.projs[ci][0].sched.name}
		for ri, pr := range row {
			mo := pr.month()
			c := dollars(mo.requestCost)
			if perRate[ri] == ci {
				c = "**" + c + "**"
			}
			cells = append(cells, c, fmt.Sprintf("%s / %s / %s", millions(mo.put), millions(mo.get), millions(mo.list)),
				benchkit.Thousands(int64(pr.objectsHeld))+" / "+benchkit.Thousands(int64(math.Round(pr.recentObjects))))
		}
		cells = append(cells, benchkit.Ratio(worstRatio[ci]))
		rows = append(rows, cells)
	}
	benchkit.Table(b, head, rows)
	fmt.Fprintf(b, "\nThe same model and month as above for each schedule (ShipInterval 1 s throughout: compaction never delays an upload, so every schedule keeps the 1 s promise); bold: the cheapest at that rate. objects held: WAL objects under wal/ at the end of the simulated day (just after a daily window closed, so fewer than mid-day with a 1 d level); read by a drill: the WAL objects a restore from the newest base snapshot reads (on average; each a GET, and part of the RTO). worst ÷ cheapest: the schedule's highest ratio to the cheapest over the three rates. ")
	fmt.Fprintf(b, "Cheapest overall (lowest worst ratio): %s", st.projs[overall][0].sched.name)
	var vs []string
	for ri := range st.rates {
		d, o := st.projs[0][ri].month().requestCost, st.projs[overall][ri].month().requestCost
		vs = append(vs, fmt.Sprintf("%s at %s events/s (%s of the default's %s)", dollars(o), thousands(st.rates[ri]), signedPct(relErr(o, d)), dollars(d)))
	}
	fmt.Fprintf(b, ": %s.\n", strings.Join(vs, ", "))
}

// signedPct formats a ratio as a signed percentage.
func signedPct(v float64) string {
	if math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", 100*v)
}

// millions formats a count in millions.
func millions(v float64) string { return fmt.Sprintf("%.2f", v/1e6) }

// dollars formats an amount.
func dollars(v float64) string { return fmt.Sprintf("$%.2f", v) }
