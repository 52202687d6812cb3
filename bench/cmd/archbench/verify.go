package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/snapshot"
)

// The verify suite: on the archive the restore suite restores,
// archive.VerifyWith at VerifyPITR beside its limit, a plain read of
// every object under wal/ at the same parallelism.
const (
	// verifyReads is how many objects are read at once, by Verify
	// (VerifyOptions.Reads, its default) and by the plain read.
	verifyReads = 4
	// targetVerifyRatio is the target: Verify's MB/s at least
	// 0.8 of the plain read's, the files read from the disk.
	targetVerifyRatio = 0.8
)

// verifyRun is what one run of the verify suite measured.
type verifyRun struct {
	cold    bool  // the store's files were dropped from the page cache before each cold measurement
	objects int   // objects under wal/ (WAL objects, timelines, heads, pins)
	bytes   int64 // their bytes as stored: what both read

	read, verify         time.Duration // the plain read and Verify, each from the disk (cold)
	readCPU, verifyCPU   time.Duration // this process's CPU time (user + system) during them
	readWarm, verifyWarm time.Duration // the same again right after, the files cached
	report               archive.Report

	// decode is the CPU-only work on the WAL objects from memory, one
	// goroutine: what Verify does to each object after reading it.
	decode     decodeTimes
	decodeRecs int64
}

// ratio is the target's measure: Verify's MB/s over the plain read's,
// both of the same bytes, cold.
func (r verifyRun) ratio() float64     { return secs(r.read) / secs(r.verify) }
func (r verifyRun) warmRatio() float64 { return secs(r.readWarm) / secs(r.verifyWarm) }

// verifyJob collects a store's verify runs.
type verifyJob struct {
	store *store
	runs  []verifyRun
}

func (j *verifyJob) stat(metric func(verifyRun) float64) benchkit.Stat {
	return benchkit.StatBy(j.runs, metric)
}

// verifyOnce measures, on arch, with the store's files dropped from the
// page cache before each: a plain read of every object under wal/
// (listing included) with verifyReads reads at once, then VerifyWith at
// VerifyPITR, which must find nothing wrong and read every WAL object
// and record; then both again with the files cached; then the CPU-only
// decode of the WAL objects from memory.
func (b *bencher) verifyOnce(ctx context.Context, arch *restoreArchive) (verifyRun, error) {
	var res verifyRun
	var err error
	if res.cold, err = b.evict(arch.store); err != nil {
		return res, err
	}
	cpu0, t0 := benchkit.CPUTime(), time.Now()
	objs, datas, err := readArchive(ctx, arch.bucket)
	res.read, res.readCPU = time.Since(t0), benchkit.CPUTime()-cpu0
	if err != nil {
		return res, fmt.Errorf("plain read: %w", err)
	}
	res.objects = len(objs)
	for _, o := range objs {
		res.bytes += o.size
	}
	if _, err := b.evict(arch.store); err != nil {
		return res, err
	}
	cpu0 = benchkit.CPUTime()
	if res.verify, res.report, err = verifyArchive(ctx, arch); err != nil {
		return res, err
	}
	res.verifyCPU = benchkit.CPUTime() - cpu0

	t0 = time.Now()
	if _, _, err := readArchive(ctx, arch.bucket); err != nil {
		return res, fmt.Errorf("plain read again: %w", err)
	}
	res.readWarm = time.Since(t0)
	if res.verifyWarm, _, err = verifyArchive(ctx, arch); err != nil {
		return res, fmt.Errorf("again: %w", err)
	}

	// The CPU-only part: the WAL objects the plain read read, decoded
	// from a mem:// copy of them one after another.
	var names []string
	var walDatas [][]byte
	for i, o := range objs {
		if o.kind == kindWAL {
			names, walDatas = append(names, o.key), append(walDatas, datas[i])
		}
	}
	clear(datas)
	mem, err := memCopy(ctx, arch.bucket, names, walDatas)
	if err != nil {
		return res, err
	}
	defer mem.Close()
	memRepo, err := snapshot.Open(ctx, mem, snapshot.RawKey(repoKey), snapshot.Options{ReadOnly: true})
	if err != nil {
		return res, err
	}
	defer memRepo.Close()
	for _, name := range names {
		n, _, err := decodeObject(ctx, memRepo, name, &res.decode, true)
		if err != nil {
			return res, fmt.Errorf("decode %s: %w", name, err)
		}
		res.decodeRecs += int64(n)
	}
	if want := int64(arch.last); res.decodeRecs != want {
		return res, fmt.Errorf("decoded %d records, the archive holds %d", res.decodeRecs, want)
	}
	return res, nil
}

// verifyArchive opens the repository afresh (outside the time: a new
// Repo, so nothing an earlier one authenticated is reused) and times
// VerifyWith at VerifyPITR with verifyReads reads at once. The report must
// be OK and must have read every WAL object and record of arch.
func verifyArchive(ctx context.Context, arch *restoreArchive) (time.Duration, archive.Report, error) {
	repo, err := snapshot.Open(ctx, arch.bucket, snapshot.RawKey(repoKey), snapshot.Options{ReadOnly: true})
	if err != nil {
		return 0, archive.Report{}, err
	}
	defer repo.Close()
	t0 := time.Now()
	rep, err := archive.VerifyWith(ctx, repo, archive.VerifyPITR, archive.VerifyOptions{Reads: verifyReads})
	d := time.Since(t0)
	switch {
	case err != nil:
		return d, rep, fmt.Errorf("verify: %w", err)
	case !rep.OK():
		return d, rep, fmt.Errorf("verify found %d problems and %d unreachable snapshots: %w", len(rep.Problems), len(rep.Unreachable), errors.Join(rep.Problems...))
	case rep.Read != len(arch.objects) || rep.Records != int64(arch.last):
		return d, rep, fmt.Errorf("verify read %d objects and %d records; the archive holds %d and %d", rep.Read, rep.Records, len(arch.objects), arch.last)
	}
	return d, rep, nil
}

// readArchive lists every object under wal/ in bk and reads each whole
// (Bucket.ReadAll), verifyReads at once, as Verify reads: the plain read
// that is Verify's limit. It returns the objects and their bytes.
func readArchive(ctx context.Context, bk *blob.Bucket) ([]archObject, [][]byte, error) {
	objs, err := listArchive(ctx, bk)
	if err != nil {
		return nil, nil, err
	}
	datas := make([][]byte, len(objs))
	errs := make([]error, len(objs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range verifyReads {
		wg.Go(func() {
			for i := range next {
				datas[i], errs[i] = bk.ReadAll(ctx, objs[i].key)
			}
		})
	}
	for i := range objs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	for i, o := range objs {
		if int64(len(datas[i])) != o.size {
			return nil, nil, fmt.Errorf("read %d bytes of %s, listed with %d", len(datas[i]), o.key, o.size)
		}
	}
	return objs, datas, nil
}
