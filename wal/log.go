package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/internal/watermark"
)

// LSN is a log sequence number: the position of a record in the log.
// LSNs start at 1, are contiguous and are never reused; 0 means "none".
type LSN uint64

// Record is one event in the log.
type Record struct {
	LSN   LSN       // position in the log
	Epoch uint64    // fencing epoch of the primary that appended it
	Time  time.Time // primary's wall clock when appended; never decreases along the log
	Kind  Kind      // what Data holds: KindEvent for the host's events
	Data  []byte    // payload
}

// Kind says what a record's payload holds. The log stores it with the
// record and never interprets it: KindEvent (0) is an event of the host's
// state machine; the layers above define the other values (sealed tenant
// events, tenant keys).
type Kind uint8

// KindEvent is a host's event, the kind Append gives.
const KindEvent Kind = 0

// indexIntervalBytes is the spacing of the sparse in-memory index that
// LSNAt and readers use to seek within a segment: one entry per this many
// bytes of frames, so a seek reads at most this much extra.
const indexIntervalBytes = 16 << 10

type indexEntry struct {
	lsn   LSN
	off   int64
	nanos int64
}

// segment is one segment file. The immutable fields are set when the
// segment is created or opened; the others are guarded by Log.mu and
// describe only records visible to readers.
type segment struct {
	first     LSN
	path      string
	salt      uint64
	epoch     uint64
	timeFloor int64
	prevSalt  uint64 // a recycled file's earlier frames' salt (0: none)

	last       LSN   // last visible record; first-1 if none
	end        int64 // offset just past the last visible frame
	firstNanos int64 // time of the first record, if any
	lastNanos  int64 // time of the last record, if any
	lastEpoch  uint64
	index      []indexEntry
}

func (s *segment) empty() bool { return s.last < s.first }

// Log is a segmented, append-only write-ahead log in one directory.
//
// All methods are safe for concurrent use. Appends from many goroutines
// are batched into one write and one sync (group commit). Readers never
// block the writer.
type Log struct {
	dir  string
	opts Options
	fs   vfs.FS
	log  *slog.Logger
	lock io.Closer

	epoch atomic.Uint64 // epoch stamped on appended records

	// The queue of requests waiting for a leader (see lead).
	qmu     sync.Mutex
	pending []*request
	leading bool // a leader is running or has been promoted
	qclosed bool
	poison  error

	// wmu is held while encoding and writing a batch, and by calls that
	// change the files. smu is held while syncing and publishing a batch;
	// it is taken before wmu is released, so batches sync in order. w.f
	// and w.seg change only with both held.
	wmu     sync.Mutex
	smu     sync.Mutex
	w       writer
	written atomic.Uint64 // last LSN written to w.f
	synced  atomic.Uint64 // last LSN durable
	// gatherWant, guarded by smu, is how many requests the next leader
	// waits for (see gather); the next gather consumes it.
	gatherWant int
	// waking counts the requests a synced batch released whose
	// goroutines have not yet seen it (see gather).
	waking atomic.Int64

	// mu guards what readers see.
	mu     sync.RWMutex
	segs   []*segment
	first  LSN              // first retained LSN
	last   LSN              // last visible LSN; first-1 if none
	notify watermark.Signal // broadcast under mu whenever last moves; closed with the log
	// wlast is the last LSN written to the file, visible to unsynced
	// readers (NewUnsyncedReader); wnotify is broadcast under mu
	// whenever wlast moves, and closed with the log.
	wlast   LSN
	wnotify watermark.Signal
	gen     uint64 // incremented by TruncateBack
	cuts    []LSN  // cuts[g] is where the TruncateBack that made gen g+1 cut
	closed  bool

	tmu   sync.Mutex     // serializes TruncateFront
	holds map[string]LSN // guarded by tmu: see Hold
	// noRecycle, guarded by tmu, is set by Close: released files are
	// removed, not pooled.
	noRecycle bool

	spare     chan spareFile
	needSpare chan struct{}
	// recycled holds segment files TruncateFront released, ready to be
	// the next segments (see recycle.go).
	recycled chan spareFile

	stopped <-chan struct{} // closed when Close starts stopping the background goroutines
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closing sync.Once
	stats   stats
}

// writer is the state of the write path, owned by whoever holds Log.wmu.
type writer struct {
	seg       *segment
	f         vfs.File
	off       int64  // file offset where the next frame goes
	next      LSN    // LSN of the next record
	lastNanos int64  // time of the last record written
	lastEpoch uint64 // epoch of the last record written
	spareSeq  int
	closed    bool

	buf    []byte
	bufOff int64
	digest *xxhash.Digest

	// What the current batch changed, published when it completes.
	pub []segUpdate
	cur segUpdate
}

// segUpdate is what a batch added to one segment.
type segUpdate struct {
	seg        *segment
	last       LSN
	end        int64
	firstNanos int64
	lastNanos  int64
	lastEpoch  uint64
	index      []indexEntry
	lastIdxOff int64
}

type stats struct {
	records, bytes, batches, syncs, syncNanos, recycled, filled atomic.Uint64
}

// Stats are counters of a Log since Open.
type Stats struct {
	Records  uint64        // records appended or written
	Bytes    uint64        // frame bytes written, headers and padding included
	Batches  uint64        // group commits: one write each
	Syncs    uint64        // data syncs of segment files
	SyncTime time.Duration // total time spent in data syncs
	Segments int           // segment files in the log now
	Recycled uint64        // new segments that reused a file TruncateFront released
	Filled   uint64        // new segments that needed a zero-filled (or growing) file
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	n := len(l.segs)
	l.mu.RUnlock()
	return Stats{
		Records:  l.stats.records.Load(),
		Bytes:    l.stats.bytes.Load(),
		Batches:  l.stats.batches.Load(),
		Syncs:    l.stats.syncs.Load(),
		SyncTime: time.Duration(l.stats.syncNanos.Load()),
		Segments: n,
		Recycled: l.stats.recycled.Load(),
		Filled:   l.stats.filled.Load(),
	}
}

// Open opens the log in dir, creating the directory (mode 0700; segments
// are 0600) and an empty log if needed, and recovers it: a torn tail of
// the last segment (the frames of a write that a crash interrupted) is
// cut off and logged; any other damage is a *CorruptionError and the log
// does not open. Every frame is checksummed on the way, so a log that
// opens is whole. An existing dir open to its group or others is logged
// as a Warn, not refused.
//
// Only one Log may have dir open at a time, in any process; a second Open
// fails with an error wrapping vfs.ErrLocked.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	l := &Log{
		dir:       dir,
		opts:      opts,
		fs:        opts.FS,
		log:       opts.Logger.With("component", "wal", "dir", dir),
		spare:     make(chan spareFile, 1),
		needSpare: make(chan struct{}, 1),
		recycled:  make(chan spareFile, recyclePool),
	}
	l.w.digest = xxhash.New()
	if err := l.fs.MkdirAll(dir, vfs.DirMode); err != nil {
		return nil, fmt.Errorf("wal: create directory: %w", err)
	}
	vfs.WarnShared(l.fs, dir, l.log)
	lock, err := l.fs.Lock(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("wal: lock %s (is another process using this log?): %w", dir, err)
	}
	l.lock = lock
	if err := l.recover(); err != nil {
		if l.w.f != nil {
			l.w.f.Close()
		}
		lock.Close()
		return nil, err
	}
	l.written.Store(uint64(l.w.next - 1))
	l.synced.Store(uint64(l.w.next - 1))
	l.wlast = l.last
	ctx, cancel := context.WithCancel(context.Background())
	l.stopped, l.cancel = ctx.Done(), cancel
	if opts.Durability == SyncInterval {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.syncLoop(ctx)
		}()
	}
	if !opts.DisablePreallocation {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.preallocLoop(ctx)
		}()
		l.needSpare <- struct{}{}
	}
	l.log.Info("wal opened", "first", l.first, "last", l.last, "segments", len(l.segs), "epoch", l.epoch.Load())
	return l, nil
}

// Close stops the log: appends not yet taken into a batch fail with
// ErrClosed, the batch being written completes, everything written is
// synced, and every goroutine of the log has exited when Close returns.
// Readers' Next returns ErrClosed afterwards; close them too. Close is
// safe to call more than once; later calls return nil.
func (l *Log) Close() error {
	var err error
	l.closing.Do(func() {
		l.qmu.Lock()
		l.qclosed = true
		pend := l.pending
		l.pending = nil
		l.qmu.Unlock()
		for _, r := range pend {
			r.finish(ErrClosed)
		}
		l.cancel()
		l.wg.Wait()

		l.wmu.Lock()
		l.w.closed = true
		if err = l.swap(nil, nil); errors.Is(err, ErrPoisoned) {
			err = nil // reported by the Append that hit it
		}
		l.wmu.Unlock()
		select {
		case sp := <-l.spare:
			sp.discard(l.fs)
		default:
		}
		l.tmu.Lock()
		l.noRecycle = true
		l.drainRecycled()
		l.tmu.Unlock()

		l.mu.Lock()
		l.closed = true
		l.notify.Close()
		l.wnotify.Close()
		l.mu.Unlock()
		if lerr := l.lock.Close(); err == nil {
			err = lerr
		}
		if err != nil {
			err = fmt.Errorf("wal: close: %w", err)
		}
	})
	return err
}

// First returns the first LSN the log holds. If the log holds no record,
// First is Last()+1: the LSN the next record will get.
func (l *Log) First() LSN {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first
}

// Last returns the LSN of the last record visible to readers: under
// SyncBatch, the last durable record. It is First()-1 if the log holds no
// record.
func (l *Log) Last() LSN {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.last
}

// Epoch returns the epoch that Append stamps on new records.
func (l *Log) Epoch() uint64 { return l.epoch.Load() }

// SetEpoch sets the epoch that Append stamps on records from now on, as a
// primary does when it is promoted. An epoch below the current one fails
// with a *SequenceError wrapping ErrStaleEpoch. The epoch is stored only
// in the records that carry it.
func (l *Log) SetEpoch(epoch uint64) error {
	for {
		cur := l.epoch.Load()
		if epoch < cur {
			return &SequenceError{Epoch: epoch, LastEpoch: cur, Err: ErrStaleEpoch}
		}
		if l.epoch.CompareAndSwap(cur, epoch) {
			return nil
		}
	}
}

// Dir returns the directory of the log.
func (l *Log) Dir() string { return l.dir }

// request is one Append or Write call waiting for a leader to write it.
type request struct {
	data    [][]byte // Append payloads, or nil
	kind    Kind     // the kind of the Append payloads
	recs    []Record // Write records, or nil
	nosync  bool     // WriteNoSync: publish once written, without a sync
	bytes   int64    // frame bytes it will take
	first   LSN
	last    LSN
	err     error
	waking  bool          // counted in Log.waking until its goroutine wakes
	done    chan struct{} // closed when the request is complete
	promote chan struct{} // receives when the request's goroutine must lead
}

func (r *request) finish(err error) {
	r.err = err
	close(r.done)
}

// Append appends records holding data, one per argument, and returns the
// LSNs of the first and last. It returns once the records are durable as
// Options.Durability says (by default: synced to disk). The payloads are
// copied; the caller may reuse them after Append returns.
//
// Records of one call get consecutive LSNs, the log's epoch and one
// timestamp. Concurrent calls are batched into one write and sync.
//
// If ctx is done before the records are taken into a batch, Append
// returns ctx.Err() and nothing is written. Once taken, Append waits for
// the outcome of that batch (one write and sync) regardless of ctx, so an
// error always means the records are not acknowledged and nil always means
// they are durable.
//
// After a write or sync error, this and every later call fail with an
// error wrapping ErrPoisoned and the cause, until the log is reopened.
// Records whose Append failed may or may not be in the reopened log.
func (l *Log) Append(ctx context.Context, data ...[]byte) (first, last LSN, err error) {
	return l.AppendKind(ctx, KindEvent, data...)
}

// AppendKind is Append for records of kind k.
func (l *Log) AppendKind(ctx context.Context, k Kind, data ...[]byte) (first, last LSN, err error) {
	if len(data) == 0 {
		return 0, 0, nil
	}
	var n int64
	for _, d := range data {
		if len(d) > l.opts.MaxRecordBytes {
			return 0, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, len(d), l.opts.MaxRecordBytes)
		}
		n += frameSize(len(d))
	}
	req := &request{data: data, kind: k, bytes: n, done: make(chan struct{}), promote: make(chan struct{}, 1)}
	if err := l.submit(ctx, req); err != nil {
		return 0, 0, err
	}
	return req.first, req.last, req.err
}

// Write appends records that already carry their LSN, epoch and time, as
// a standby does with records from its primary. The first record must
// follow Last() (any LSN if the log holds no record), the rest must be
// consecutive, epochs must not go below the log's last record's epoch,
// and times must not go below its time; otherwise Write fails with a
// *SequenceError and writes nothing. The log's epoch (Epoch) rises to the
// highest epoch written.
//
// Durability, batching, ctx and failure behave as for Append.
func (l *Log) Write(ctx context.Context, recs ...Record) error {
	return l.writeRecords(ctx, false, recs)
}

// WriteNoSync is Write without waiting for durability: it returns once
// the records are written to the operating system, and they are visible
// to readers (Last) at once, but durable (Synced) only after the next
// Sync, a later synced write, or Close. A crash of the process loses
// none of them; a crash of the machine may lose them, as one suffix.
//
// A standby uses it to write records as they arrive and sync on its own
// schedule: one fdatasync for many frames when no writer waits on it.
func (l *Log) WriteNoSync(ctx context.Context, recs ...Record) error {
	return l.writeRecords(ctx, true, recs)
}

func (l *Log) writeRecords(ctx context.Context, nosync bool, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	var n int64
	for i, r := range recs {
		if len(r.Data) > l.opts.MaxRecordBytes {
			return fmt.Errorf("%w: LSN %d has %d bytes, limit %d", ErrRecordTooLarge, r.LSN, len(r.Data), l.opts.MaxRecordBytes)
		}
		if i > 0 {
			if err := checkNext(recs[i-1].LSN+1, recs[i-1].Epoch, recs[i-1].Time.UnixNano(), r); err != nil {
				return err
			}
		}
		n += frameSize(len(r.Data))
	}
	req := &request{recs: recs, nosync: nosync, bytes: n, done: make(chan struct{}), promote: make(chan struct{}, 1)}
	if err := l.submit(ctx, req); err != nil {
		return err
	}
	return req.err
}

// Sync makes every record written so far durable (one fdatasync, if any
// record is not yet durable). A failure poisons the log, as a failed
// Append's does.
func (l *Log) Sync() error {
	l.smu.Lock()
	defer l.smu.Unlock()
	if err := l.poisonErr(); err != nil {
		return err
	}
	if l.w.f == nil {
		return nil
	}
	if err := l.syncLocked(); err != nil {
		return l.setPoison(err)
	}
	return nil
}

// Synced returns the last durable LSN: records up to it survive a crash
// of the machine. Under SyncBatch it is Last() except while a batch is
// between its sync and its publication, or after WriteNoSync.
func (l *Log) Synced() LSN { return LSN(l.synced.Load()) }

// Progress returns the last LSN written to the operating system (ahead
// of Last() while a batch syncs), the last durable LSN (Synced), and a
// channel closed when more is written or the log closes. A primary that
// ships records while it syncs them (NewUnsyncedReader) waits on it; the
// channel does not tell when the synced LSN moves.
func (l *Log) Progress() (written, synced LSN, more <-chan struct{}) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.wlast, l.Synced(), l.wnotify.Changed()
}

// checkNext checks that r may follow a record at LSN want-1 with the given
// epoch and time.
func checkNext(want LSN, epoch uint64, nanos int64, r Record) error {
	switch {
	case r.LSN != want:
		return &SequenceError{LSN: r.LSN, Want: want, Epoch: r.Epoch, LastEpoch: epoch, Err: ErrGap}
	case r.Epoch < epoch:
		return &SequenceError{LSN: r.LSN, Want: want, Epoch: r.Epoch, LastEpoch: epoch, Err: ErrStaleEpoch}
	case r.Time.UnixNano() < nanos:
		return &SequenceError{LSN: r.LSN, Want: want, Epoch: r.Epoch, LastEpoch: epoch, Err: ErrTimeRegression}
	}
	return nil
}

// submit queues req and waits for its outcome, leading batches when its
// turn comes.
func (l *Log) submit(ctx context.Context, req *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.qmu.Lock()
	switch {
	case l.qclosed:
		l.qmu.Unlock()
		return ErrClosed
	case l.poison != nil:
		err := l.poison
		l.qmu.Unlock()
		return err
	}
	l.pending = append(l.pending, req)
	lead := !l.leading
	l.leading = true
	l.qmu.Unlock()
	if lead {
		l.lead()
	}
	cancelled := ctx.Done()
	for {
		select {
		case <-req.done:
			if req.waking {
				l.waking.Add(-1)
			}
			return nil
		case <-req.promote:
			l.lead()
		case <-cancelled:
			if l.withdraw(req) {
				return ctx.Err()
			}
			// Taken into a batch: its outcome is one write and sync away,
			// and reporting it is the only way the caller can know it.
			cancelled = nil
		}
	}
}

// withdraw removes req from the queue if no batch has taken it yet,
// passing on leadership if it had been handed to req.
func (l *Log) withdraw(req *request) bool {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	i := slices.Index(l.pending, req)
	if i < 0 {
		return false
	}
	l.pending = slices.Delete(l.pending, i, i+1)
	select {
	case <-req.promote:
		if len(l.pending) > 0 {
			l.pending[0].promote <- struct{}{}
		} else {
			l.leading = false
		}
	default:
	}
	return true
}

// Err returns the write or sync failure that stopped the log (wrapping
// ErrPoisoned and the cause), or nil while it works. Only reopening the
// log clears it.
func (l *Log) Err() error { return l.poisonErr() }

func (l *Log) poisonErr() error {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	return l.poison
}

// setPoison records the first write or sync failure. From then on the log
// accepts no more writes: after a failed fsync the kernel may have dropped
// the dirty pages, so no later success could be trusted.
func (l *Log) setPoison(err error) error {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if l.poison == nil {
		l.poison = fmt.Errorf("%w: %w", ErrPoisoned, err)
	}
	return l.poison
}
