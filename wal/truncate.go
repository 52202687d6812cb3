package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"

	"github.com/continuity-go/continuity/internal/vfs"
)

// TruncateFront discards records before lsn to reclaim space, as a
// retention policy does once they are archived or covered by a snapshot.
// It removes whole segments only: every segment all of whose records come
// before lsn, never the last one (up to two of their files are kept to
// be reused as new segments: recycle.go). First reports where the log now starts,
// which may be below lsn by up to one segment. lsn may be at most
// Last()+1. Segment files are removed oldest first with a directory sync
// after each, so a crash leaves a log that opens.
//
// TruncateFront refuses, with a *HoldError, to drop records a Hold
// still keeps (an archiver's unarchived records).
//
// TruncateFront does not block appends. Readers positioned before the new
// First fail with ErrTruncated.
func (l *Log) TruncateFront(lsn LSN) error {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	if err := l.checkHolds(lsn); err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if lsn > l.last+1 {
		last := l.last
		l.mu.Unlock()
		return fmt.Errorf("%w: TruncateFront(%d) past Last()+1 = %d", ErrOutOfRange, lsn, last+1)
	}
	if len(l.segs) == 0 {
		l.mu.Unlock()
		return nil // a new log: nothing to remove
	}
	k := 0
	for k < len(l.segs)-1 && l.segs[k+1].first <= lsn {
		k++
	}
	drop := slices.Clone(l.segs[:k])
	l.segs = slices.Clone(l.segs[k:])
	l.first = l.segs[0].first
	l.mu.Unlock()

	recycled := 0
	for _, s := range drop {
		ok, err := l.recycle(s)
		if err != nil {
			l.log.Warn("wal segment not recycled; removing it", "segment", s.path, "err", err)
		}
		if ok {
			recycled++
		} else if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wal: remove segment: %w", err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("wal: sync directory: %w", err)
		}
	}
	if len(drop) > 0 {
		l.log.Info("wal truncated front", "first", l.First(), "segments_removed", len(drop), "recycled", recycled)
	}
	return nil
}

// TruncateBack discards every record after lsn, as a deposed primary does
// to drop the tail that diverged from the new primary's history before it
// rejoins as a standby. lsn must be in [First()-1, Last()]; First()-1
// empties the log. Appends wait while it runs.
//
// Later segments are removed newest first and the segment holding lsn is
// rewritten to a new file that replaces it atomically, so a crash at any
// point leaves a log that opens and ends between lsn and the old end: call
// TruncateBack again after reopening. Readers that already read
// past lsn fail with ErrTruncated; others continue. An I/O error leaves
// the log poisoned (see ErrPoisoned): reopen it and call TruncateBack
// again.
func (l *Log) TruncateBack(lsn LSN) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.smu.Lock() // no batch is between its write and its publish
	defer l.smu.Unlock()
	if err := l.poisonErr(); err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if lsn+1 < l.first || lsn > l.last {
		first, last := l.first, l.last
		l.mu.Unlock()
		return fmt.Errorf("%w: TruncateBack(%d) outside [%d, %d]", ErrOutOfRange, lsn, first-1, last)
	}
	if lsn == l.last {
		l.mu.Unlock()
		return nil
	}
	k := max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > lsn }), 1)
	keep := l.segs[k-1]
	drop := slices.Clone(l.segs[k:])
	l.segs = slices.Clone(l.segs[:k])
	var start indexEntry
	if lsn >= keep.first {
		start = keep.seek(lsn)
	}
	l.last, l.wlast = lsn, lsn
	l.gen++
	l.cuts = append(l.cuts, lsn)
	l.notify.Broadcast()
	l.wnotify.Broadcast()
	l.mu.Unlock()

	if err := l.truncateBack(keep, drop, lsn, start); err != nil {
		return l.setPoison(err)
	}
	l.log.Info("wal truncated back", "last", lsn, "segments_removed", len(drop))
	return nil
}

func (l *Log) truncateBack(keep *segment, drop []*segment, lsn LSN, start indexEntry) error {
	w := &l.w
	// Sync first: under SyncInterval or NoSync the kept records may not
	// be durable yet, and the new end must not be older than them.
	err := l.syncLocked()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close segment: %w", cerr)
	}
	w.f = nil
	if err != nil {
		return err
	}
	for _, s := range slices.Backward(drop) {
		if err := l.fs.Remove(s.path); err != nil {
			return fmt.Errorf("wal: remove segment: %w", err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("wal: sync directory: %w", err)
		}
	}

	// Find where the record lsn ends in keep.
	old, err := l.fs.Open(keep.path)
	if err != nil {
		return fmt.Errorf("wal: open segment: %w", err)
	}
	defer old.Close()
	end, nanos, epoch := int64(segmentHeaderSize), keep.timeFloor, keep.epoch
	if lsn >= keep.first {
		fr := newFrameReader(old, keep.salt, start.off, keep.end)
		for {
			off := fr.off
			h, _, err := fr.next()
			if err != nil {
				return asCorruption(err, keep.path, off, lsn)
			}
			if h.LSN == lsn {
				end, nanos, epoch = fr.off, h.Nanos, h.Epoch
				break
			}
		}
	}

	if end < keep.end {
		// Copy the frames up to lsn into a fresh file and swap it in.
		// A zero-filled file: what follows the copied frames is zeros,
		// so the rewritten segment names no earlier frames.
		sp, err := l.takeSpare(false)
		if err != nil {
			return err
		}
		f, tmp := sp.f, sp.name
		l.mu.Lock()
		keep.prevSalt = 0
		l.mu.Unlock()
		if err := copyRange(f, old, segmentHeaderSize, end); err != nil {
			f.Close()
			return fmt.Errorf("wal: rewrite segment: %w", err)
		}
		if err := l.install(f, tmp, keep); err != nil {
			f.Close()
			return err
		}
		w.f = f
	} else if w.f, err = l.fs.OpenReadWrite(keep.path); err != nil {
		return fmt.Errorf("wal: open segment: %w", err)
	}

	l.mu.Lock()
	keep.last, keep.end, keep.lastNanos, keep.lastEpoch = lsn, end, nanos, epoch
	i := sort.Search(len(keep.index), func(i int) bool { return keep.index[i].lsn > lsn })
	keep.index = slices.Clone(keep.index[:i])
	l.mu.Unlock()

	w.seg, w.off, w.bufOff = keep, end, end
	w.next = lsn + 1
	l.written.Store(uint64(lsn))
	l.synced.Store(uint64(lsn))
	w.lastNanos, w.lastEpoch = nanos, epoch
	w.pub = w.pub[:0]
	w.cur = segUpdate{seg: keep, last: lsn, end: end, lastIdxOff: -indexIntervalBytes}
	if n := len(keep.index); n > 0 {
		w.cur.lastIdxOff = keep.index[n-1].off
	}
	return nil
}

// copyRange copies bytes [from, to) of src to the same offsets of dst.
func copyRange(dst, src vfs.File, from, to int64) error {
	buf := make([]byte, min(to-from, 1<<20))
	for off := from; off < to; {
		n, err := src.ReadAt(buf[:min(int64(len(buf)), to-off)], off)
		if n > 0 {
			if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if err != nil && !(errors.Is(err, io.EOF) && off == to) {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
