package wal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/continuity-go/continuity/internal/vfs"
)

// commitLoop is the committer: it takes whatever requests are queued,
// writes them as one batch and syncs once. Requests that arrive while a
// batch is being synced form the next batch.
func (l *Log) commitLoop(ctx context.Context) {
	var tick <-chan time.Time
	if l.opts.Durability == SyncInterval {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			l.intervalSync()
			continue
		case <-l.wake:
		}
		for {
			batch := l.take()
			if len(batch) == 0 {
				break
			}
			l.commit(batch)
		}
	}
}

// take removes up to MaxBatchBytes worth of requests (at least one) from
// the queue.
func (l *Log) take() []*request {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	var n int64
	k := 0
	for k < len(l.pending) {
		n += l.pending[k].bytes
		if k > 0 && n > int64(l.opts.MaxBatchBytes) {
			break
		}
		k++
	}
	batch := append(l.w.batch[:0], l.pending[:k]...)
	l.pending = append(l.pending[:0], l.pending[k:]...)
	clear(l.pending[len(l.pending):cap(l.pending)])
	l.w.batch = batch
	return batch
}

func (l *Log) intervalSync() {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if !l.w.dirty || l.poisonErr() != nil {
		return
	}
	if err := l.sync(); err != nil {
		l.setPoison(err)
	}
}

// commit writes one batch and completes its requests.
func (l *Log) commit(batch []*request) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.poisonErr(); err != nil {
		for _, r := range batch {
			r.finish(err)
		}
		return
	}
	w := &l.w
	now := l.opts.Now().UnixNano()
	epoch := l.epoch.Load()
	w.buf = w.buf[:0]
	w.bufOff = w.off

	var err error
	for _, req := range batch {
		if req.recs != nil {
			if req.err = l.checkWrite(req.recs); req.err != nil {
				continue
			}
			for _, r := range req.recs {
				if err = l.encode(r.LSN, r.Epoch, r.Time.UnixNano(), r.Data); err != nil {
					break
				}
			}
			req.first, req.last = req.recs[0].LSN, req.recs[len(req.recs)-1].LSN
		} else {
			req.first = w.next
			e := max(epoch, w.lastEpoch)
			for _, d := range req.data {
				if err = l.encode(w.next, e, max(now, w.lastNanos), d); err != nil {
					break
				}
			}
			req.last = w.next - 1
		}
		if err != nil {
			break
		}
	}
	if err == nil {
		err = l.flush()
	}
	if err == nil && l.opts.Durability == SyncBatch {
		err = l.sync()
	}
	if err != nil {
		err = l.setPoison(err)
		for _, r := range batch {
			r.finish(err)
		}
		return
	}
	l.stats.batches.Add(1)
	l.publish()
	for _, r := range batch {
		r.finish(r.err)
	}
}

// checkWrite validates a standby's records against the log's end. If the
// log holds no record, the records may start at any LSN: the log is
// rebased to start there.
func (l *Log) checkWrite(recs []Record) error {
	w := &l.w
	want := w.next
	if l.holdsNoRecord() && recs[0].LSN != 0 {
		want = recs[0].LSN
	}
	if err := checkNext(want, w.lastEpoch, w.lastNanos, recs[0]); err != nil {
		return err
	}
	w.next = want
	if e := recs[len(recs)-1].Epoch; e > l.epoch.Load() {
		// Followers adopt the epoch they replicate; SetEpoch only
		// raises it, so racing it is harmless.
		_ = l.SetEpoch(e)
	}
	return nil
}

// holdsNoRecord reports whether the log holds no record at all, counting
// the batch being encoded.
func (l *Log) holdsNoRecord() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.w.next == l.first
}

// encode appends one frame to the batch buffer, first sealing the segment
// and starting a new one if the frame does not fit.
func (l *Log) encode(lsn LSN, epoch uint64, nanos int64, data []byte) error {
	w := &l.w
	size := frameSize(len(data))
	pos := w.off + int64(len(w.buf))
	switch {
	case w.seg == nil:
		if err := l.roll(lsn, epoch); err != nil {
			return err
		}
	case pos == segmentHeaderSize && w.seg.first != lsn:
		// An empty segment rebased by checkWrite.
		if err := l.roll(lsn, epoch); err != nil {
			return err
		}
	case pos > segmentHeaderSize && pos+size > l.opts.SegmentBytes:
		if err := l.flush(); err != nil {
			return err
		}
		if err := l.sync(); err != nil {
			return err
		}
		if err := l.roll(lsn, epoch); err != nil {
			return err
		}
	}
	pos = w.off + int64(len(w.buf))
	u := &w.cur
	if u.last < u.seg.first {
		u.firstNanos = nanos
	}
	if pos-u.lastIdxOff >= indexIntervalBytes {
		u.index = append(u.index, indexEntry{lsn: lsn, off: pos, nanos: nanos})
		u.lastIdxOff = pos
	}
	w.buf = appendFrame(w.buf, w.digest, w.seg.salt, frameHeader{
		LSN: lsn, Epoch: epoch, Nanos: nanos, Committed: w.synced,
	}, data)
	u.last, u.end, u.lastNanos, u.lastEpoch = lsn, pos+size, nanos, epoch
	w.next = lsn + 1
	w.lastNanos, w.lastEpoch = nanos, epoch
	l.stats.records.Add(1)
	return nil
}

// flush writes the batch buffer to the current segment.
func (l *Log) flush() error {
	w := &l.w
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(w.buf, w.bufOff); err != nil {
		return fmt.Errorf("wal: write %s: %w", w.seg.path, err)
	}
	w.off = w.bufOff + int64(len(w.buf))
	l.stats.bytes.Add(uint64(len(w.buf)))
	w.buf = w.buf[:0]
	w.bufOff = w.off
	w.dirty = true
	return nil
}

// sync makes everything written so far durable.
func (l *Log) sync() error {
	w := &l.w
	if !w.dirty {
		return nil
	}
	start := time.Now()
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", w.seg.path, err)
	}
	l.stats.syncs.Add(1)
	l.stats.syncNanos.Add(uint64(time.Since(start)))
	w.dirty = false
	w.synced = w.next - 1
	return nil
}

// publish makes the records written by the batch visible to readers.
func (l *Log) publish() {
	w := &l.w
	if w.seg == nil {
		return
	}
	l.mu.Lock()
	for _, u := range append(w.pub, w.cur) {
		s := u.seg
		if u.last <= s.last {
			continue
		}
		if s.empty() {
			s.firstNanos = u.firstNanos
		}
		s.last, s.end, s.lastNanos, s.lastEpoch = u.last, u.end, u.lastNanos, u.lastEpoch
		s.index = append(s.index, u.index...)
	}
	if last := w.next - 1; last != l.last {
		l.last = last
		close(l.notify)
		l.notify = make(chan struct{})
	}
	l.mu.Unlock()
	w.pub = w.pub[:0]
	w.cur.index = w.cur.index[:0]
}

// roll seals the current segment (already flushed and synced) and starts a
// new one whose first record is first. A current segment holding no
// record (a log being rebased by Write) is removed first, so that an empty
// segment is only ever the last one.
func (l *Log) roll(first LSN, epoch uint64) error {
	w := &l.w
	if w.seg != nil && w.off == segmentHeaderSize {
		if err := l.dropEmptyTail(); err != nil {
			return err
		}
	}
	f, tmp, err := l.takeSpare()
	if err != nil {
		return err
	}
	seg := &segment{
		first:     first,
		path:      filepath.Join(l.dir, segmentName(first)),
		salt:      rand.Uint64(),
		epoch:     epoch,
		timeFloor: w.lastNanos,
		last:      first - 1,
		end:       segmentHeaderSize,
	}
	if err := l.install(f, tmp, seg); err != nil {
		f.Close()
		return err
	}
	if w.f != nil {
		err := w.f.Close()
		w.pub = append(w.pub, w.cur)
		if err != nil {
			f.Close()
			return fmt.Errorf("wal: close %s: %w", w.seg.path, err)
		}
	}
	w.seg, w.f, w.off, w.bufOff = seg, f, segmentHeaderSize, segmentHeaderSize
	w.cur = segUpdate{seg: seg, last: first - 1, end: segmentHeaderSize, lastIdxOff: -indexIntervalBytes}

	l.mu.Lock()
	l.segs = append(l.segs, seg)
	if len(l.segs) == 1 {
		l.first, l.last = first, first-1
	}
	l.mu.Unlock()
	return nil
}

// dropEmptyTail removes the current segment, which holds no record.
func (l *Log) dropEmptyTail() error {
	w := &l.w
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("wal: close %s: %w", w.seg.path, err)
	}
	w.f = nil
	l.mu.Lock()
	l.segs = l.segs[:len(l.segs)-1]
	l.mu.Unlock()
	if err := l.fs.Remove(w.seg.path); err != nil {
		return fmt.Errorf("wal: remove empty segment: %w", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("wal: sync directory: %w", err)
	}
	w.seg = nil
	return nil
}

// install writes seg's header into f (a zero-filled spare or an empty
// file named tmp), makes it durable and renames it to seg.path.
func (l *Log) install(f vfs.File, tmp string, seg *segment) error {
	hdr := segmentHeader{Version: formatVersion, First: seg.first, Epoch: seg.epoch, Salt: seg.salt, TimeFloor: seg.timeFloor}
	if _, err := f.WriteAt(hdr.encode(), 0); err != nil {
		return fmt.Errorf("wal: write segment header: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: sync new segment: %w", err)
	}
	if err := l.fs.Rename(tmp, seg.path); err != nil {
		return fmt.Errorf("wal: install segment: %w", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("wal: sync directory: %w", err)
	}
	return nil
}

func segmentName(first LSN) string { return fmt.Sprintf("%016x%s", uint64(first), segmentSuffix) }

// spareFile is a preallocated, zero-filled file waiting to become a
// segment.
type spareFile struct {
	f    vfs.File
	name string
	err  error
}

func (s spareFile) discard(fs vfs.FS) {
	if s.f != nil {
		s.f.Close()
		fs.Remove(s.name)
	}
}

// takeSpare returns a file to become the next segment: the preallocated
// spare if preallocation is on (waiting for it if it is still being
// filled), otherwise a new empty file.
func (l *Log) takeSpare() (vfs.File, string, error) {
	if !l.opts.DisablePreallocation {
		select {
		case sp := <-l.spare:
			select {
			case l.needSpare <- struct{}{}:
			default:
			}
			if sp.err == nil {
				return sp.f, sp.name, nil
			}
			// The background fill failed (the error was logged); an
			// appending segment works, only slower.
		case <-l.ctx.Done():
			// Closing: the filler has stopped.
		}
	}
	l.w.spareSeq++
	name := filepath.Join(l.dir, fmt.Sprintf("new-%d%s", l.w.spareSeq, tmpSuffix))
	f, err := l.fs.Create(name)
	if err != nil {
		return nil, "", fmt.Errorf("wal: create segment: %w", err)
	}
	return f, name, nil
}

// preallocLoop keeps one zero-filled spare segment ready.
func (l *Log) preallocLoop(ctx context.Context) {
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-l.needSpare:
		}
		name := filepath.Join(l.dir, fmt.Sprintf("spare-%d%s", seq, tmpSuffix))
		f, err := l.fill(ctx, name, l.opts.SegmentBytes)
		if ctx.Err() != nil {
			spareFile{f: f, name: name}.discard(l.fs)
			return
		}
		if err != nil {
			l.log.Warn("wal segment preallocation failed; new segment will grow by appending", "err", err)
		}
		select {
		case l.spare <- spareFile{f: f, name: name, err: err}:
		case <-ctx.Done():
			spareFile{f: f, name: name}.discard(l.fs)
			return
		}
	}
}

// fill creates name and writes size zero bytes to it, then syncs it.
// Real zeros, not fallocate: overwriting written blocks needs no metadata
// update at each sync, unwritten extents do.
func (l *Log) fill(ctx context.Context, name string, size int64) (vfs.File, error) {
	f, err := l.fs.Create(name)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size; off += int64(len(zero)) {
		if ctx.Err() != nil {
			return f, ctx.Err()
		}
		if _, err := f.WriteAt(zero[:min(int64(len(zero)), size-off)], off); err != nil {
			f.Close()
			l.fs.Remove(name)
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		l.fs.Remove(name)
		return nil, err
	}
	return f, nil
}
