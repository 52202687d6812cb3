package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pierrec/lz4/v4"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/memblob" // memCopy: the objects decoded from memory

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/internal/gen"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// Building the restore archive.
const (
	// appendBatch is how many events one Append of the build carries.
	appendBatch = 1000
	// statePiece is the size of each piece of the state, each gen.Events
	// of its own seed: the state never repeats, so the snapshot stores
	// all of it.
	statePiece = 64 << 20
)

// buildTimes is what building a restore archive took (context).
type buildTimes struct {
	save    time.Duration // Archiver.SnapshotNow: generating and saving the state
	appends time.Duration // appending the events, the archiver uploading beside
	flush   time.Duration // Archiver.Flush after the last Append
}

// restoreArchive is a restore archive in a bucket: a base snapshot and the
// events after it.
type restoreArchive struct {
	store      *store
	bucket     *blob.Bucket
	close      func()
	snapID     snapshot.ID
	last       wal.LSN  // the last archived record
	objects    []string // the WAL objects' names
	walBytes   int64    // their stored bytes
	snapStored int64    // bytes the snapshot's Save uploaded
	build      buildTimes
}

// restoreRun is what one restore of the archive measured.
type restoreRun struct {
	cold    bool          // the store's files were dropped from the page cache first
	warm    time.Duration // Open + RestoreTo again right after, the files cached
	open    time.Duration // snapshot.Open
	restore time.Duration // RestoreTo, whole
	base    time.Duration // RestoreTo's start → BaseRestored (listing included)
	records int64
	bytes   int64
	objects int

	// The limits, same run, same store.
	read       time.Duration // ReadAll of every WAL object, one after another
	readBytes  int64
	decode     time.Duration // GetSealed from memory + lz4 + walking the records of every object, in memory
	decodeRecs int64
	snapOnly   time.Duration // snapshot.Repo.Restore to a counting writer
}

func (r restoreRun) rto() time.Duration    { return r.open + r.restore }
func (r restoreRun) replay() time.Duration { return r.restore - r.base }

// restoreJob collects a store's restores.
type restoreJob struct {
	store *store
	runs  []restoreRun
}

func (j *restoreJob) stat(metric func(restoreRun) float64) benchkit.Stat {
	return benchkit.StatBy(j.runs, metric)
}

// writeState writes n bytes of event JSON in pieces of statePiece, each
// of its own seed.
func writeState(w io.Writer, n int) error {
	for i := 0; n > 0; i++ {
		p := gen.Events(uint64(1000+i), min(n, statePiece))
		if _, err := w.Write(p); err != nil {
			return err
		}
		n -= len(p)
	}
	return nil
}

// buildArchive makes the restore archive on st: a log with one record,
// a base snapshot of -state bytes at it (Archiver.SnapshotNow), then
// -events events appended in batches while the archiver uploads, and a
// Flush. Compaction is off, so every restore reads the objects the
// archiver wrote while catching up (MaxObjectBytes each).
func (b *bencher) buildArchive(ctx context.Context, st *store) (_ *restoreArchive, err error) {
	dir, err := os.MkdirTemp(b.root, "restore-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // the log is not needed once archived
	log, err := wal.Open(filepath.Join(dir, "wal"), wal.Options{})
	if err != nil {
		return nil, err
	}
	defer log.Close()
	bucket, cleanup, err := st.open(ctx)
	if err != nil {
		return nil, err
	}
	arch := &restoreArchive{store: st, bucket: bucket, close: cleanup}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	repo, err := snapshot.Init(ctx, bucket, snapshot.RawKey(repoKey), snapshot.Format{}, snapshot.Options{})
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	a, err := archive.NewArchiver(log, repo, archive.Options{
		NoCompaction: true,
		Capture: func(context.Context) (wal.LSN, func(io.Writer) error, error) {
			return log.Last(), func(w io.Writer) error { return writeState(w, b.state) }, nil
		},
		Logger: b.logger(),
	})
	if err != nil {
		return nil, err
	}
	defer a.Close()

	// One record first: RestoreTo ignores base snapshots at LSN 0.
	if _, _, err := log.Append(ctx, b.payloadAt(0)); err != nil {
		return nil, err
	}
	t0 := time.Now()
	m, err := a.SnapshotNow(ctx)
	arch.build.save = time.Since(t0)
	if err != nil {
		return nil, err
	}
	if m.LSN != 1 || m.Size != int64(b.state) {
		return nil, fmt.Errorf("base snapshot at LSN %d of %d bytes, want LSN 1 and %d bytes", m.LSN, m.Size, b.state)
	}
	arch.snapID, arch.snapStored = m.ID, m.StoredBytes

	t0 = time.Now()
	if err := b.appendEvents(ctx, log, b.events); err != nil {
		return nil, err
	}
	arch.build.appends = time.Since(t0)
	t0 = time.Now()
	fctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err = a.Flush(fctx)
	cancel()
	arch.build.flush = time.Since(t0)
	if err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	arch.last = log.Last()
	if want := wal.LSN(1 + b.events); arch.last != want {
		return nil, fmt.Errorf("the log ends at LSN %d, want %d", arch.last, want)
	}
	a.Close()

	objs, err := listArchive(ctx, bucket)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.kind == kindWAL {
			arch.objects = append(arch.objects, o.key)
			arch.walBytes += o.size
		}
	}
	return arch, nil
}

// appendEvents appends n events to log in Appends of appendBatch, the
// record at LSN l carrying payloadAt(l-1).
func (b *bencher) appendEvents(ctx context.Context, log *wal.Log, n int) error {
	next := int(log.Last())
	batch := make([][]byte, 0, appendBatch)
	for i := 0; i < n; {
		batch = batch[:0]
		for ; len(batch) < appendBatch && i < n; i++ {
			batch = append(batch, b.payloadAt(next+i))
		}
		if _, _, err := log.Append(ctx, batch...); err != nil {
			return err
		}
	}
	return nil
}

// restoreOnce restores the newest state with RestoreTo after dropping the
// store's files from the page cache (where it can), then again with the
// files cached, then measures the limits on the same archive: reading
// every WAL object and the snapshot's Restore alone (each from the disk
// again), and decoding the objects from memory.
func (b *bencher) restoreOnce(ctx context.Context, arch *restoreArchive) (restoreRun, error) {
	var res restoreRun
	var err error
	if res.cold, err = b.evict(arch.store); err != nil {
		return res, err
	}
	if res.open, res.restore, res.base, err = b.restoreTo(ctx, arch, &res); err != nil {
		return res, err
	}
	open, restore, _, err := b.restoreTo(ctx, arch, nil)
	if err != nil {
		return res, fmt.Errorf("second restore: %w", err)
	}
	res.warm = open + restore

	repo, err := snapshot.Open(ctx, arch.bucket, snapshot.RawKey(repoKey), snapshot.Options{})
	if err != nil {
		return res, err
	}
	defer repo.Close()
	// Limits: read every object, then decode them from memory.
	if _, err := b.evict(arch.store); err != nil {
		return res, err
	}
	datas := make([][]byte, len(arch.objects))
	t0 := time.Now()
	for i, name := range arch.objects {
		if datas[i], err = arch.bucket.ReadAll(ctx, name); err != nil {
			return res, err
		}
		res.readBytes += int64(len(datas[i]))
	}
	res.read = time.Since(t0)
	// Decode from memory: the objects and the repository's config and
	// key slots in a mem:// bucket, opened with the same key, so that
	// GetSealed reads them with a memcpy instead of a store's round trip.
	mem, err := memCopy(ctx, arch.bucket, arch.objects, datas)
	if err != nil {
		return res, err
	}
	defer mem.Close()
	memRepo, err := snapshot.Open(ctx, mem, snapshot.RawKey(repoKey), snapshot.Options{ReadOnly: true})
	if err != nil {
		return res, err
	}
	defer memRepo.Close()
	t0 = time.Now()
	for _, name := range arch.objects {
		n, _, err := decodeObject(ctx, memRepo, name, nil, false)
		if err != nil {
			return res, fmt.Errorf("decode %s: %w", name, err)
		}
		res.decodeRecs += int64(n)
	}
	res.decode = time.Since(t0)
	if want := int64(arch.last); res.decodeRecs != want {
		return res, fmt.Errorf("decoded %d records, the archive holds %d", res.decodeRecs, want)
	}
	clear(datas)

	if _, err := b.evict(arch.store); err != nil {
		return res, err
	}
	var cw countWriter
	t0 = time.Now()
	err = repo.Restore(ctx, arch.snapID, &cw)
	res.snapOnly = time.Since(t0)
	if err != nil {
		return res, err
	}
	if cw.n != int64(b.state) {
		return res, fmt.Errorf("Repo.Restore wrote %d bytes, want %d", cw.n, b.state)
	}
	return res, nil
}

// restoreTo opens the repository (snapshot.Open) and restores the newest
// state with RestoreTo into a sink, and checks what it restored. It
// returns the times of the two and of the snapshot part, and notes the
// records, bytes and objects in into if it is not nil.
func (b *bencher) restoreTo(ctx context.Context, arch *restoreArchive, into *restoreRun) (open, restore, base time.Duration, err error) {
	t0 := time.Now()
	repo, err := snapshot.Open(ctx, arch.bucket, snapshot.RawKey(repoKey), snapshot.Options{})
	open = time.Since(t0)
	if err != nil {
		return
	}
	defer repo.Close()
	sm := &sink{next: 2}
	t0 = time.Now()
	r, err := archive.RestoreTo(ctx, repo, archive.Target{}, sm, archive.RestoreOptions{
		Progress: func(p archive.RestoreProgress) {
			if p.BaseRestored && base == 0 {
				base = p.SinceStart
			}
		},
	})
	restore = time.Since(t0)
	switch {
	case err != nil:
	case r.Snapshot != arch.snapID || r.SnapshotLSN != 1:
		err = fmt.Errorf("restored from snapshot %s at LSN %d, want %s at LSN 1", r.Snapshot.Short(), r.SnapshotLSN, arch.snapID.Short())
	case sm.stateBytes != int64(b.state):
		err = fmt.Errorf("the state machine read %d bytes of state, want %d", sm.stateBytes, b.state)
	case r.LSN != arch.last || sm.records != int64(b.events) || sm.bytes != int64(b.events)*int64(b.payload):
		err = fmt.Errorf("replayed to LSN %d, %d records of %d bytes; want LSN %d, %d records of %d bytes",
			r.LSN, sm.records, sm.bytes, arch.last, b.events, int64(b.events)*int64(b.payload))
	case base == 0:
		err = errors.New("RestoreProgress never reported BaseRestored")
	}
	if err == nil && into != nil {
		into.records, into.bytes, into.objects = sm.records, sm.bytes, r.Objects
	}
	return
}

// evict drops the store's files from the page cache, if it can: whether
// the next reads come from the disk.
func (b *bencher) evict(st *store) (bool, error) {
	if !canEvict || st.cacheDir == "" {
		return false, nil
	}
	if err := evictTree(st.cacheDir); err != nil {
		return false, fmt.Errorf("drop the store's files from the page cache: %w", err)
	}
	return true, nil
}

// The clear prefix of an archived WAL object (archive/format.go, format
// version 2): the fields decodeObject reads, and the chain values.
const (
	segPrefixSize = 120
	chainBytes    = 64 // Prev and End, 32 bytes each: what version 2 added
	prevOff       = 56 // the chain before the first record
	endOff        = 88 // the chain after the last record
)

// memCopy copies the repository's config and key slots from b, and the
// objects already read (datas), into a new mem:// bucket.
func memCopy(ctx context.Context, b *blob.Bucket, objects []string, datas [][]byte) (*blob.Bucket, error) {
	mem, err := blob.OpenBucket(ctx, "mem://")
	if err != nil {
		return nil, err
	}
	copyObject := func(name string, data []byte) error {
		if data == nil {
			if data, err = b.ReadAll(ctx, name); err != nil {
				return err
			}
		}
		return mem.WriteAll(ctx, name, data, nil)
	}
	if err := copyObject("config", nil); err != nil {
		mem.Close()
		return nil, err
	}
	it := b.List(&blob.ListOptions{Prefix: "keys/"})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err == nil {
			err = copyObject(o.Key, nil)
		}
		if err != nil {
			mem.Close()
			return nil, err
		}
	}
	for i, name := range objects {
		if err := copyObject(name, datas[i]); err != nil {
			mem.Close()
			return nil, err
		}
	}
	return mem, nil
}

// decodeTimes splits decodeObject's time by part.
type decodeTimes struct {
	unseal  time.Duration // Repo.GetSealed: a copy from memory, AES-256-GCM
	records time.Duration // lz4 and walking the records' varints
	chain   time.Duration // the chain's SHA-256 over the records (a second walk of the varints included)
}

func (d decodeTimes) total() time.Duration { return d.unseal + d.records + d.chain }

// decodeObject does the work of the archive package's readSegment on
// an object already read: it authenticates and decrypts it, decompresses
// the body, walks the records (epoch, time delta, kind (format 3) and
// length varints, then the payload) without allocating them, and
// recomputes the chain from the prefix's Prev over them, which must give
// its End (archive/chain.go: c(L) = SHA-256(c(L-1) || LSN || epoch ||
// time ns || data), the integers 8-byte little-endian, prefixed by
// 0x01 || kind for a record that is not an event). It re-implements the
// archive format for this measurement; the record count is checked
// against the archive and the chain against the prefix, so a change of
// format fails the run instead of timing something else. With dt set, it
// adds the time of each part to it. Without chain it skips the chain, as
// RestoreTo does (it takes the chain values from the authenticated
// prefix; archive.VerifyOptions.Decode recomputes them).
func decodeObject(ctx context.Context, repo *snapshot.Repo, name string, dt *decodeTimes, chain bool) (records int, payload int64, err error) {
	t0 := time.Now()
	prefix, body, err := repo.GetSealed(ctx, name, segPrefixSize, 1<<30)
	if err != nil {
		return 0, 0, err
	}
	if len(prefix) != segPrefixSize {
		return 0, 0, fmt.Errorf("prefix of %d bytes", len(prefix))
	}
	t1 := time.Now()
	version := binary.LittleEndian.Uint16(prefix[0:2])
	fields := 3 // epoch, time delta, length
	if version >= 3 {
		fields = 4 // and the kind before the length
	}
	codec := prefix[2]
	count := int(binary.LittleEndian.Uint32(prefix[4:8]))
	rawLen := int(binary.LittleEndian.Uint32(prefix[48:52]))
	raw := body
	switch codec {
	case 0:
	case 1:
		raw = make([]byte, rawLen)
		k, err := lz4.UncompressBlock(body, raw)
		if err != nil || k != rawLen {
			return 0, 0, fmt.Errorf("lz4 body does not decode to %d bytes: %v", rawLen, err)
		}
	default:
		return 0, 0, fmt.Errorf("unknown codec %d", codec)
	}
	off := 0
	for ; records < count; records++ {
		var v [4]uint64
		for i := range fields {
			x, n := binary.Uvarint(raw[off:])
			if n <= 0 {
				return 0, 0, fmt.Errorf("record %d: bad varint", records)
			}
			v[i], off = x, off+n
		}
		size := v[fields-1]
		if size > uint64(len(raw)-off) {
			return 0, 0, fmt.Errorf("record %d: %d bytes past the body", records, size)
		}
		off += int(size)
		payload += int64(size)
	}
	if off != len(raw) {
		return 0, 0, fmt.Errorf("%d bytes after %d records", len(raw)-off, count)
	}
	t2 := time.Now()
	if chain {
		if err := checkChain(prefix, raw, count, version >= 3); err != nil {
			return 0, 0, err
		}
	}
	if dt != nil {
		dt.unseal += t1.Sub(t0)
		dt.records += t2.Sub(t1)
		dt.chain += time.Since(t2)
	}
	return records, payload, nil
}

// checkChain recomputes the chain over the count records of the decoded
// body raw (already walked once, so well-formed) from the prefix's Prev,
// and compares it with the prefix's End.
func checkChain(prefix, raw []byte, count int, kinds bool) error {
	lsn := binary.LittleEndian.Uint64(prefix[16:24])
	t := int64(binary.LittleEndian.Uint64(prefix[32:40]))
	var c [32]byte
	copy(c[:], prefix[prevOff:prevOff+32])
	var hdr [24]byte
	h := sha256.New()
	off := 0
	for range count {
		epoch, n := binary.Uvarint(raw[off:])
		off += n
		delta, n := binary.Uvarint(raw[off:])
		off += n
		var kind uint64
		if kinds {
			kind, n = binary.Uvarint(raw[off:])
			off += n
		}
		size, n := binary.Uvarint(raw[off:])
		off += n
		t += int64(delta)
		binary.LittleEndian.PutUint64(hdr[0:], lsn)
		binary.LittleEndian.PutUint64(hdr[8:], epoch)
		binary.LittleEndian.PutUint64(hdr[16:], uint64(t))
		h.Reset()
		if kind != 0 {
			h.Write([]byte{0x01, byte(kind)})
		}
		h.Write(c[:])
		h.Write(hdr[:])
		h.Write(raw[off : off+int(size)])
		h.Sum(c[:0])
		off += int(size)
		lsn++
	}
	if !bytes.Equal(c[:], prefix[endOff:endOff+32]) {
		return fmt.Errorf("the records chain to %x, the prefix says %x (did the chain's definition change?)", c[:8], prefix[endOff:endOff+8])
	}
	return nil
}
