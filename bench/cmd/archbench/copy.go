package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/internal/gen"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// The copy suite (suite copy): snapshot.Repo.CopyTo, what `ctl copy`
// runs, of an archive into an empty bucket of the same store; again with
// nothing changed; and again after the state changed, as a daily
// off-site copy would find it.
const (
	// copyEditPlaces is how many places of the state the change
	// overwrites, spread evenly over it; copyEditShare of its bytes in all.
	copyEditPlaces = 8
	copyEditShare  = 0.01
	// copyMoreDiv: the change appends -copy-events ÷ copyMoreDiv more
	// events (at least 2), half before its base snapshot and half after.
	copyMoreDiv = 10
	// targetCopyRatio is the target for the copy after a change:
	// the bytes it moves at most 1.1× the bytes the change added. The
	// other target is 0 bytes moved by a copy of the unchanged archive.
	targetCopyRatio = 1.1
)

// copyRun is what one run of the copy suite measured on a store.
type copyRun struct {
	cold bool // the store's files were dropped from the page cache before the first copy and the raw copy

	build      buildTimes // the source archive: its base snapshot, events and Flush
	snapStored int64      // bytes its base snapshot's Save uploaded
	srcObjects int        // objects in the source before the change (a listing)
	srcBytes   int64      // their bytes

	first     snapshot.CopyStats // into an empty bucket
	firstTime time.Duration      // snapshot.Open (read-only) + CopyTo
	raw       time.Duration      // the floor: the same objects with ReadAll and WriteAll, into another empty bucket
	rawBytes  int64

	again     snapshot.CopyStats // the same again, nothing changed
	againTime time.Duration

	change     buildTimes // the change: its base snapshot, events and Flush
	saveStored int64      // bytes the change's Save uploaded (Manifest.StoredBytes)
	newObjects int        // objects in the source after the change that were not before
	newBytes   int64      // their bytes: what the change added to the archive
	newWAL     int64      // of them, under wal/
	changed    snapshot.CopyStats
	changeTime time.Duration

	restore time.Duration // snapshot.Open + RestoreTo of the newest state from the copy
}

// ratio is the changed copy's bytes over the bytes the change added.
func (r copyRun) ratio() float64 { return float64(r.changed.Bytes) / float64(r.newBytes) }

// copyJob collects a store's copy runs.
type copyJob struct {
	store *store
	runs  []copyRun
}

func (j *copyJob) stat(metric func(copyRun) float64) benchkit.Stat {
	return benchkit.StatBy(j.runs, metric)
}

// cacheState says where the first copies read the store's files from.
func (j *copyJob) cacheState() string {
	for _, r := range j.runs {
		if !r.cold {
			return "not controlled"
		}
	}
	return "from disk"
}

// copyOnce builds a fresh archive on st (a log with one record, a base
// snapshot of -copy-state bytes at it, -copy-events events, Flush;
// compaction off) and copies it with CopyTo into an empty bucket of st,
// timed beside a raw copy of the same objects into another (first if
// rawFirst); copies it again unchanged; changes it (changeArchive) and
// copies it again; and restores the newest state from the copy, which
// must reach the archive's last record.
func (b *bencher) copyOnce(ctx context.Context, st *store, rawFirst bool) (copyRun, error) {
	var res copyRun
	src, err := b.freshRun(ctx, st, "copy-", nil)
	if err != nil {
		return res, err
	}
	defer src.close()
	m0, err := b.archiveSteps(ctx, src, func(w io.Writer) error { return writeState(w, b.copyState) }, 1, b.copyEvents, &res.build)
	if err != nil {
		return res, fmt.Errorf("build: %w", err)
	}
	res.snapStored = m0.StoredBytes
	before, err := listSizes(ctx, src.bucket)
	if err != nil {
		return res, err
	}
	res.srcObjects = len(before)
	for _, n := range before {
		res.srcBytes += n
	}

	dst, dstCleanup, err := st.open(ctx)
	if err != nil {
		return res, err
	}
	defer dstCleanup()
	// The first copy and the raw copy take turns going first: on
	// file://, the first of the two after the build is more often slowed
	// by the kernel (the process's system time for the same reads and
	// writes varies from about 0.06 to 0.4 s).
	if rawFirst {
		if res.raw, res.rawBytes, err = b.rawCopy(ctx, st, src.bucket); err != nil {
			return res, fmt.Errorf("raw copy: %w", err)
		}
	}
	if res.cold, err = b.evict(st); err != nil {
		return res, err
	}
	if res.first, res.firstTime, err = copyArchive(ctx, src.bucket, dst); err != nil {
		return res, fmt.Errorf("first copy: %w", err)
	}
	if res.first.Copied != res.srcObjects || res.first.Bytes != res.srcBytes {
		return res, fmt.Errorf("the first copy wrote %d objects of %d bytes; the archive holds %d of %d", res.first.Copied, res.first.Bytes, res.srcObjects, res.srcBytes)
	}
	if !rawFirst {
		if res.raw, res.rawBytes, err = b.rawCopy(ctx, st, src.bucket); err != nil {
			return res, fmt.Errorf("raw copy: %w", err)
		}
	}
	if res.again, res.againTime, err = copyArchive(ctx, src.bucket, dst); err != nil {
		return res, fmt.Errorf("copy again: %w", err)
	}

	m1, err := b.changeArchive(ctx, src, &res.change)
	if err != nil {
		return res, fmt.Errorf("change: %w", err)
	}
	res.saveStored = m1.StoredBytes
	after, err := listSizes(ctx, src.bucket)
	if err != nil {
		return res, err
	}
	for name, n := range after {
		if _, ok := before[name]; ok {
			continue
		}
		res.newObjects++
		res.newBytes += n
		if strings.HasPrefix(name, walPrefix) {
			res.newWAL += n
		}
	}
	if res.changed, res.changeTime, err = copyArchive(ctx, src.bucket, dst); err != nil {
		return res, fmt.Errorf("copy after the change: %w", err)
	}
	if res.restore, err = b.restoreCopy(ctx, dst, m1, src.log.Last()); err != nil {
		return res, fmt.Errorf("restore from the copy: %w", err)
	}
	return res, nil
}

// archiveSteps starts an archiver on run's log and repository (compaction
// off; Capture writes the state with state), appends before events, takes
// a base snapshot with Archiver.SnapshotNow at the log's last record,
// appends after events, flushes and closes the archiver. It notes the
// times in t (save: the SnapshotNow; appends: both Appends) and returns
// the snapshot's manifest.
func (b *bencher) archiveSteps(ctx context.Context, run *freshRun, state func(io.Writer) error, before, after int, t *buildTimes) (snapshot.Manifest, error) {
	a, err := archive.NewArchiver(run.log, run.repo, archive.Options{
		NoCompaction: true,
		Capture: func(context.Context) (wal.LSN, func(io.Writer) error, error) {
			return run.log.Last(), state, nil
		},
		Logger: b.logger(),
	})
	if err != nil {
		return snapshot.Manifest{}, err
	}
	defer a.Close()
	t0 := time.Now()
	if err := b.appendEvents(ctx, run.log, before); err != nil {
		return snapshot.Manifest{}, err
	}
	t.appends = time.Since(t0)
	at := run.log.Last()
	t0 = time.Now()
	m, err := a.SnapshotNow(ctx)
	t.save = time.Since(t0)
	if err != nil {
		return m, err
	}
	if m.LSN != uint64(at) {
		return m, fmt.Errorf("base snapshot at LSN %d, want %d", m.LSN, at)
	}
	t0 = time.Now()
	if err := b.appendEvents(ctx, run.log, after); err != nil {
		return m, err
	}
	t.appends += time.Since(t0)
	t0 = time.Now()
	fctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err = a.Flush(fctx)
	cancel()
	t.flush = time.Since(t0)
	if err != nil {
		return m, fmt.Errorf("flush: %w", err)
	}
	return m, a.Close()
}

// changeArchive changes the state as a running application's changes
// between two copies: copyEditShare of its bytes overwritten in
// copyEditPlaces places (writeEditedState); and the archive with it:
// -copy-events ÷ copyMoreDiv more events, a new base snapshot of the
// changed state after the first half of them, Flush.
func (b *bencher) changeArchive(ctx context.Context, run *freshRun, t *buildTimes) (snapshot.Manifest, error) {
	more := max(2, b.copyEvents/copyMoreDiv)
	return b.archiveSteps(ctx, run, func(w io.Writer) error { return writeEditedState(w, b.copyState) }, more/2, more-more/2, t)
}

// copyArchive opens the repository in src read-only, as `ctl copy` does,
// and copies it into dst with CopyTo (SealedPrefix: the archive's), and
// returns the stats and the time of both. Anything CopyTo skipped fails
// the run.
func copyArchive(ctx context.Context, src, dst *blob.Bucket) (snapshot.CopyStats, time.Duration, error) {
	t0 := time.Now()
	repo, err := snapshot.Open(ctx, src, snapshot.RawKey(repoKey), snapshot.Options{ReadOnly: true})
	if err != nil {
		return snapshot.CopyStats{}, 0, err
	}
	defer repo.Close()
	st, err := repo.CopyTo(ctx, dst, snapshot.CopyOptions{SealedPrefix: archive.SealedPrefixLen})
	d := time.Since(t0)
	switch {
	case err != nil:
	case len(st.Conflicts)+len(st.Unauthenticated)+len(st.Unknown) > 0:
		err = fmt.Errorf("objects not copied: conflicts %q, unauthenticated %q, unknown %q", st.Conflicts, st.Unauthenticated, st.Unknown)
	case st.Copied+st.Present != st.Objects:
		err = fmt.Errorf("CopyTo looked at %d objects: %d copied, %d present", st.Objects, st.Copied, st.Present)
	}
	return st, d, err
}

// rawCopy is the copy's floor on st: every object of src read whole
// and written into an empty bucket of st with the I/O CopyTo does (a
// reader into a buffer of the object's size; Bucket.NewWriter with
// IfNotExist, one Write; not Bucket.ReadAll and WriteAll, which grow
// their buffer and compute an MD5), one after another as CopyTo goes,
// after dropping the store's files from the page cache as before the
// first copy; no authentication. It returns the time (the listing
// included) and the bytes.
func (b *bencher) rawCopy(ctx context.Context, st *store, src *blob.Bucket) (time.Duration, int64, error) {
	dst, cleanup, err := st.open(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer cleanup()
	if _, err := b.evict(st); err != nil {
		return 0, 0, err
	}
	var n int64
	t0 := time.Now()
	it := src.List(nil)
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, err
		}
		data, err := readWhole(ctx, src, o.Key)
		if err != nil {
			return 0, 0, err
		}
		if err := writeWhole(ctx, dst, o.Key, data); err != nil {
			return 0, 0, err
		}
		n += int64(len(data))
	}
	return time.Since(t0), n, nil
}

// readWhole reads the object key into a buffer of its size.
func readWhole(ctx context.Context, bk *blob.Bucket, key string) ([]byte, error) {
	r, err := bk.NewReader(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data := make([]byte, r.Size())
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}

// writeWhole writes data as the object key, which must not exist.
func writeWhole(ctx context.Context, bk *blob.Bucket, key string, data []byte) error {
	w, err := bk.NewWriter(ctx, key, &blob.WriterOptions{IfNotExist: true, ContentType: "application/octet-stream"})
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// restoreCopy opens the copy in dst read-only and restores its newest
// state with RestoreTo into a sink: it must restore the base snapshot m
// (its -copy-state bytes) and replay every record after it up to last.
func (b *bencher) restoreCopy(ctx context.Context, dst *blob.Bucket, m snapshot.Manifest, last wal.LSN) (time.Duration, error) {
	t0 := time.Now()
	repo, err := snapshot.Open(ctx, dst, snapshot.RawKey(repoKey), snapshot.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer repo.Close()
	at := wal.LSN(m.LSN)
	sm := &sink{next: at + 1}
	r, err := archive.RestoreTo(ctx, repo, archive.Target{}, sm, archive.RestoreOptions{})
	d := time.Since(t0)
	switch {
	case err != nil:
	case r.Snapshot != m.ID || r.SnapshotLSN != at:
		err = fmt.Errorf("restored from snapshot %s at LSN %d, want %s at LSN %d", r.Snapshot.Short(), r.SnapshotLSN, m.ID.Short(), at)
	case sm.stateBytes != int64(b.copyState):
		err = fmt.Errorf("the state machine read %d bytes of state, want %d", sm.stateBytes, b.copyState)
	case r.LSN != last || sm.records != int64(last-at):
		err = fmt.Errorf("replayed to LSN %d, %d records; want LSN %d, %d records", r.LSN, sm.records, last, last-at)
	}
	return d, err
}

// listSizes lists every object in bk: its size by name.
func listSizes(ctx context.Context, bk *blob.Bucket) (map[string]int64, error) {
	out := map[string]int64{}
	it := bk.List(nil)
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if !o.IsDir {
			out[o.Key] = o.Size
		}
	}
}

// stateEdit is one place the change overwrites: data at off.
type stateEdit struct {
	off  int
	data []byte
}

// stateEdits are the change's overwrites of a state of n bytes:
// copyEditPlaces places, each in the middle of its share of the state,
// of copyEditShare of n in all, each event JSON of its own seed (none of
// writeState's).
func stateEdits(n int) []stateEdit {
	size := max(1, int(float64(n)*copyEditShare)/copyEditPlaces)
	edits := make([]stateEdit, 0, copyEditPlaces)
	for k := range copyEditPlaces {
		off := min((2*k+1)*n/(2*copyEditPlaces), max(0, n-size))
		edits = append(edits, stateEdit{off: off, data: gen.Events(uint64(5000+k), min(size, n))})
	}
	return edits
}

// editedBytes is how many bytes of a state of n bytes the change overwrites.
func editedBytes(n int) int {
	t := 0
	for _, e := range stateEdits(n) {
		t += len(e.data)
	}
	return t
}

// writeEditedState writes the state writeState writes with stateEdits
// applied.
func writeEditedState(w io.Writer, n int) error {
	return writeState(&editWriter{w: w, edits: stateEdits(n)}, n)
}

// editWriter overwrites its edits in the stream written through it.
type editWriter struct {
	w     io.Writer
	edits []stateEdit
	pos   int    // bytes written so far
	buf   []byte // a copy of a Write's bytes that an edit falls in
}

func (e *editWriter) Write(p []byte) (int, error) {
	out, copied := p, false
	for _, ed := range e.edits {
		lo, hi := max(ed.off, e.pos), min(ed.off+len(ed.data), e.pos+len(p))
		if lo >= hi {
			continue
		}
		if !copied { // p is the caller's: edit a copy
			e.buf = append(e.buf[:0], p...)
			out, copied = e.buf, true
		}
		copy(out[lo-e.pos:hi-e.pos], ed.data[lo-ed.off:hi-ed.off])
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	e.pos += len(p)
	return len(p), nil
}
