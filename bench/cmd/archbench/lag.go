package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// Pacing of the load: one Append per tick, and when the loop fell
// behind (an fdatasync or the scheduler took longer than a tick), at
// most maxBurstTicks ticks' worth of records in one Append.
const (
	tick          = time.Millisecond
	maxBurstTicks = 4
	// sampleEvery is the period of the Status().Lag samples.
	sampleEvery = 10 * time.Millisecond
	// drainTimeout bounds the wait for the archive to catch up on its
	// own after the load.
	drainTimeout = 30 * time.Second
)

// lagRun is what one lag run measured.
type lagRun struct {
	appended  int           // records appended
	perSec    float64       // records appended per second of load
	appendP99 time.Duration // one paced Append (write + fdatasync)

	lagP50, lagP99, lagMax          time.Duration // per record: Append returned → archived
	statusP50, statusP99, statusMax time.Duration // Status().Lag every 10 ms during the load
	resume                          time.Duration // NewArchiver → Status().Resumed (to a sample period)

	objects     int           // objects the archiver uploaded (OnUpload) until it caught up
	objPerSec   float64       // per second of load
	medianObj   int           // median object size
	bytesPerRec float64       // uploaded bytes per record
	ratio       float64       // payload bytes ÷ uploaded bytes
	uploadP50   time.Duration // UploadEvent.Duration, median
	compacted   int64         // objects compaction wrote
	putP50      time.Duration // the floor: one PUT of medianObj bytes, median

	restore     time.Duration // RestoreTo of the whole archive (the check)
	restoreRecs int64

	integrity integrityCost

	// lagSample is a sample of the per-record lags in milliseconds, taken
	// evenly by rank after the run (benchkit.SampleMs), at most
	// benchkit.SamplesPerRun: the distribution chart's data.
	lagSample []float64
}

// integrityCost is what the chain and the head objects (archive format
// 2) cost one lag run: counted from the bucket's listing after the run
// and the archiver's uploads.
type integrityCost struct {
	walObjects int   // WAL objects the bucket holds after the run
	walBytes   int64 // their bytes as stored

	uploaded      int   // WAL objects uploaded: the archiver's (OnUpload) and compaction's
	uploadedBytes int64 // their bytes as stored
	compacted     int   // of them, written by compaction: held, no upload had the name

	headsWritten int           // head PUTs: the newest head's sequence number less the first's, plus one
	headsHeld    int           // heads the bucket holds (the archiver keeps the newest three)
	headBytes    int64         // one head object as stored (sealed)
	headsInLoad  int           // heads written during the load (Status().HeadWritten)
	headGapMin   time.Duration // the shortest time between two heads written during the load
	otherBytes   int64         // the pin and timeline objects as stored

	// perInterval is headsInLoad per ShipInterval of load.
	perInterval float64
	// share is what the chain values and the heads add, as a share of
	// every byte uploaded: (chainBytes × uploaded + headsWritten ×
	// headBytes) ÷ (uploadedBytes + headsWritten × headBytes +
	// otherBytes).
	share float64
}

// firstHeadSeq is the sequence number of the first head of a fresh
// archive (archive/head.go: each head takes the next number after the
// newest, from 0), so the newest one counts the heads written.
const firstHeadSeq = 1

// shipInterval is the archiver's ShipInterval in the lag runs: the
// archive package's default, set explicitly so that the heads' rate is
// counted against the interval in force.
const shipInterval = time.Second

// lagJob collects a store's lag runs.
type lagJob struct {
	store *store
	runs  []lagRun
}

func (j *lagJob) stat(metric func(lagRun) float64) benchkit.Stat {
	return benchkit.StatBy(j.runs, metric)
}

// lagOnce runs the archive under the paced load once on a fresh log and
// a fresh repository in st.
func (b *bencher) lagOnce(ctx context.Context, st *store) (lagRun, error) {
	var res lagRun
	run, err := b.freshRun(ctx, st, "lag-", nil)
	if err != nil {
		return res, err
	}
	defer run.close()
	log := run.log

	total := int(int64(b.rate) * int64(b.duration) / int64(time.Second))
	appendAt := make([]time.Duration, total+1) // by LSN: when its Append returned, since base
	base := time.Now()
	ups := &uploadLog{base: base}
	a, err := archive.NewArchiver(log, run.repo, archive.Options{
		OnUpload:     ups.onUpload,
		ShipInterval: shipInterval,
		Logger:       b.logger(),
	})
	if err != nil {
		return res, err
	}
	defer a.Close()

	// Status().Lag every 10 ms while the load runs, and the heads'
	// times (Status().HeadWritten: at most one a ShipInterval, so none
	// hides between two samples).
	sctx, stopSampling := context.WithCancel(ctx)
	var samples []time.Duration
	var heads []time.Time
	noteHead := func(s archive.Status) {
		if !s.HeadWritten.IsZero() && (len(heads) == 0 || !s.HeadWritten.Equal(heads[len(heads)-1])) {
			heads = append(heads, s.HeadWritten)
		}
	}
	res.resume = -1
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			s := a.Status()
			if s.Resumed && res.resume < 0 {
				res.resume = time.Since(base)
			}
			samples = append(samples, s.Lag)
			noteHead(s)
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	loadStart, loadDur, lats, err := b.pace(ctx, log, total, base, appendAt)
	stopSampling()
	<-sampled
	if err != nil {
		return res, err
	}
	noteHead(a.Status()) // one written as the load ended
	loadEnd := loadStart.Add(loadDur)
	var inLoad []time.Time
	for _, h := range heads {
		if !h.Before(loadStart) && !h.After(loadEnd) {
			inLoad = append(inLoad, h)
		}
	}
	res.integrity.headsInLoad = len(inLoad)
	res.integrity.perInterval = float64(len(inLoad)) / (loadDur.Seconds() / shipInterval.Seconds())
	for i := 1; i < len(inLoad); i++ {
		if g := inLoad[i].Sub(inLoad[i-1]); i == 1 || g < res.integrity.headGapMin {
			res.integrity.headGapMin = g
		}
	}
	last := log.Last()
	res.appended = int(last)
	res.perSec = float64(last) / loadDur.Seconds()
	res.appendP99 = benchkit.Percentile(sorted(lats), 0.99)

	if err := drain(ctx, a, last); err != nil {
		return res, err
	}
	res.compacted = a.Status().Compacted
	a.Close()

	inOrder := ups.inOrder()
	lags, err := recordLags(inOrder, appendAt, last)
	if err != nil {
		return res, err
	}
	var upBytes int64
	var sizes []int
	var upDurs []time.Duration
	for _, u := range inOrder {
		upBytes += int64(u.ev.Bytes)
		sizes = append(sizes, u.ev.Bytes)
		upDurs = append(upDurs, u.ev.Duration)
	}
	res.lagP50, res.lagP99, res.lagMax = benchkit.Percentile(lags, 0.5), benchkit.Percentile(lags, 0.99), lags[len(lags)-1]
	res.lagSample = benchkit.SampleMs(lags, benchkit.SamplesPerRun(b.runs))
	samples = sorted(samples)
	res.statusP50, res.statusP99, res.statusMax = benchkit.Percentile(samples, 0.5), benchkit.Percentile(samples, 0.99), samples[len(samples)-1]
	res.objects = len(inOrder)
	res.objPerSec = float64(len(inOrder)) / loadDur.Seconds()
	slices.Sort(sizes)
	res.medianObj = sizes[len(sizes)/2]
	res.bytesPerRec = float64(upBytes) / float64(last)
	res.ratio = float64(int64(last)*int64(b.payload)) / float64(upBytes)
	res.uploadP50 = benchkit.Percentile(sorted(upDurs), 0.5)

	uploaded := make(map[string]bool, len(inOrder))
	for _, u := range inOrder {
		uploaded[u.ev.Object] = true
	}
	if err := res.integrity.count(ctx, run.bucket, uploaded, upBytes); err != nil {
		return res, fmt.Errorf("count the archive's objects: %w", err)
	}

	if res.putP50, err = b.putFloor(ctx, run.repo, res.medianObj); err != nil {
		return res, fmt.Errorf("PUT floor: %w", err)
	}

	// The archive must restore to the log's last record.
	t0 := time.Now()
	res.restoreRecs, err = restoreCheck(ctx, run.repo, last, int64(b.payload))
	res.restore = time.Since(t0)
	if err != nil {
		return res, fmt.Errorf("restore check: %w", err)
	}
	return res, nil
}

// restoreCheck restores the archive in repo with RestoreTo(Target{})
// into a sink: it must replay every record from LSN 1 to last, each of
// payload bytes. It returns the records replayed.
func restoreCheck(ctx context.Context, repo *snapshot.Repo, last wal.LSN, payload int64) (int64, error) {
	sm := &sink{next: 1}
	r, err := archive.RestoreTo(ctx, repo, archive.Target{}, sm, archive.RestoreOptions{})
	if err != nil {
		return sm.records, err
	}
	if r.LSN != last || sm.records != int64(last) || sm.bytes != int64(last)*payload {
		return sm.records, fmt.Errorf("reached LSN %d with %d records of %d bytes; the log holds %d records of %d bytes",
			r.LSN, sm.records, sm.bytes, last, int64(last)*payload)
	}
	return sm.records, nil
}

// count lists the run's bucket (after the archiver closed) and fills in
// what the chain and the heads cost: uploaded names the objects the
// archiver uploaded (OnUpload), of upBytes in all; a WAL object the
// bucket holds under another name was written by compaction.
func (c *integrityCost) count(ctx context.Context, bucket *blob.Bucket, uploaded map[string]bool, upBytes int64) error {
	objs, err := listArchive(ctx, bucket)
	if err != nil {
		return err
	}
	c.uploaded, c.uploadedBytes = len(uploaded), upBytes
	var newest uint64
	for _, o := range objs {
		switch o.kind {
		case kindWAL:
			c.walObjects++
			c.walBytes += o.size
			if !uploaded[o.key] {
				c.compacted++
				c.uploaded++
				c.uploadedBytes += o.size
			}
		case kindHead:
			c.headsHeld++
			newest = max(newest, o.seq)
			if c.headBytes != 0 && c.headBytes != o.size {
				return fmt.Errorf("head objects of %d and %d bytes", c.headBytes, o.size)
			}
			c.headBytes = o.size
		case kindPin, kindTimeline:
			c.otherBytes += o.size
		}
	}
	if c.headsHeld == 0 {
		return errors.New("no head object under " + headPrefix)
	}
	c.headsWritten = int(newest-firstHeadSeq) + 1
	heads := int64(c.headsWritten) * c.headBytes
	c.share = float64(chainBytes*int64(c.uploaded)+heads) / float64(c.uploadedBytes+heads+c.otherBytes)
	return nil
}

// pace appends total records (-rate per second, -payload bytes each) to
// log for at most -duration: at the start of every tick, one Append of
// the records due by the tick's end; when behind, at most maxBurstTicks
// ticks' worth per Append. It notes in appendAt when each LSN's Append
// returned (since base), and returns when the load started, its length
// and the Appends' latencies.
func (b *bencher) pace(ctx context.Context, log *wal.Log, total int, base time.Time, appendAt []time.Duration) (time.Time, time.Duration, []time.Duration, error) {
	maxBurst := max(1, int(int64(b.rate)*int64(maxBurstTicks*tick)/int64(time.Second)))
	batch := make([][]byte, 0, maxBurst)
	lats := make([]time.Duration, 0, int(b.duration/tick)+1)
	start := time.Now()
	end := start.Add(b.duration)
	appended := 0
	for appended < total {
		if err := ctx.Err(); err != nil {
			return start, 0, nil, err
		}
		now := time.Now()
		if !now.Before(end) {
			break
		}
		k := now.Sub(start) / tick // the tick we are in
		due := min(total, int(int64(b.rate)*int64((k+1)*tick)/int64(time.Second)))
		if due <= appended {
			time.Sleep(time.Until(start.Add((k + 1) * tick)))
			continue
		}
		n := min(due-appended, maxBurst)
		batch = batch[:0]
		for i := range n {
			batch = append(batch, b.payloadAt(appended+i))
		}
		t0 := time.Now()
		first, last, err := log.Append(ctx, batch...)
		t1 := time.Now()
		if err != nil {
			return start, 0, nil, err
		}
		if int(first) != appended+1 || int(last) != appended+n {
			return start, 0, nil, fmt.Errorf("append gave LSNs %d-%d, want %d-%d", first, last, appended+1, appended+n)
		}
		for l := first; l <= last; l++ {
			appendAt[l] = t1.Sub(base)
		}
		lats = append(lats, t1.Sub(t0))
		appended += n
	}
	return start, time.Since(start), lats, nil
}

// putFloor times -puts PUTs of one object of size bytes through the
// repository (PutSealed, as the archiver uploads), each under a new
// scratch name, and deletes them; it returns the median.
func (b *bencher) putFloor(ctx context.Context, repo *snapshot.Repo, size int) (time.Duration, error) {
	durs, err := putTimes(ctx, repo, size, b.puts)
	return benchkit.Percentile(durs, 0.5), err
}

// putTimes times n PUTs of one object of size bytes in random bytes
// through the repository (PutSealed, as the archiver uploads), one after
// another, each under a new scratch name, and deletes them; it returns
// their latencies, sorted.
func putTimes(ctx context.Context, repo *snapshot.Repo, size, n int) ([]time.Duration, error) {
	data := make([]byte, size)
	rand.Read(data) // sealed objects look random
	var durs []time.Duration
	var names []string
	var err error
	for i := range n {
		name := fmt.Sprintf("archbench-put/%04d", i)
		t0 := time.Now()
		if _, err = repo.PutSealed(ctx, name, nil, data); err != nil {
			break
		}
		durs = append(durs, time.Since(t0))
		names = append(names, name)
	}
	for _, name := range names {
		err = errors.Join(err, repo.DeleteObject(ctx, name))
	}
	return sorted(durs), err
}
