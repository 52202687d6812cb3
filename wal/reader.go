package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"time"

	"github.com/continuity-go/continuity/internal/vfs"
)

// Reader reads records in LSN order from a starting LSN and follows the
// tail of the log: at the end, Next waits for new records. It sees only
// records visible to readers (under SyncBatch: durable ones). A Reader is
// not safe for concurrent use; any number of Readers may read one Log
// while it is written, without blocking the writer.
type Reader struct {
	l        *Log
	unsynced bool // NewUnsyncedReader
	next     LSN
	seg      *segment
	gen      uint64
	f        vfs.File
	fr       *frameReader
}

// NewReader returns a Reader whose first record is from. A from below
// First makes Next fail with ErrTruncated; a from beyond Last()+1 makes
// Next wait until the log reaches it. Close the Reader when done.
func (l *Log) NewReader(from LSN) *Reader {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return &Reader{l: l, next: max(from, 1), gen: l.gen}
}

// NewUnsyncedReader is NewReader for a reader that sees each batch as
// soon as it is written to the operating system, while it is being
// synced, instead of once it is durable: a primary ships records to its
// standbys this way, so that their syncs overlap its own. A record it
// returns past Synced() is lost if the machine crashes before the sync
// completes, and if the sync fails the log is poisoned without ever
// making it durable: its consumer must not treat it as committed until
// Synced() reaches it.
func (l *Log) NewUnsyncedReader(from LSN) *Reader {
	r := l.NewReader(from)
	r.unsynced = true
	return r
}

// Next returns the next record, waiting for it if the reader is at the
// end of the log until ctx is done (returning ctx.Err()) or the log is
// closed (ErrClosed). Its Data is the caller's to keep. Other errors:
// ErrTruncated (wrapped) if the next record was removed, a
// *CorruptionError if it is damaged.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	rec, err := r.NextView(ctx)
	rec.Data = bytes.Clone(rec.Data)
	return rec, err
}

// NextView is Next without the copy: the record's Data aliases the
// reader's buffer and is valid only until the next call on r. For a
// caller that copies the data anyway, as a primary encoding records
// into a frame does.
func (r *Reader) NextView(ctx context.Context) (Record, error) {
	l := r.l
	for {
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			r.release()
			return Record{}, ErrClosed
		}
		if r.next < l.first {
			first := l.first
			l.mu.RUnlock()
			return Record{}, fmt.Errorf("%w: LSN %d is before the first retained LSN %d", ErrTruncated, r.next, first)
		}
		if r.gen != l.gen {
			// TruncateBack ran: drop the file (it may have been replaced)
			// and check that no cut since went below what the reader
			// already returned, even if the log has grown back since.
			cut := slices.Min(l.cuts[r.gen:l.gen])
			if r.next-1 > cut {
				l.mu.RUnlock()
				return Record{}, fmt.Errorf("%w: the reader returned up to LSN %d, and TruncateBack cut the log at LSN %d", ErrTruncated, r.next-1, cut)
			}
			r.gen = l.gen
			r.release()
		}
		end, sig := l.last, &l.notify
		if r.unsynced {
			end, sig = l.wlast, &l.wnotify
		}
		ch := sig.Changed() // under l.mu, as the Broadcasts are
		if r.next > end {
			l.mu.RUnlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return Record{}, ctx.Err()
			}
		}
		if err := ctx.Err(); err != nil {
			l.mu.RUnlock()
			return Record{}, err
		}
		seg := r.seg
		if seg == nil || r.next > seg.last {
			seg = l.segmentFor(r.next)
		}
		limit := seg.end
		var start indexEntry
		if seg != r.seg {
			start = seg.seek(r.next)
		}
		l.mu.RUnlock()

		if seg != r.seg {
			r.release()
			f, err := l.fs.Open(seg.path)
			if errors.Is(err, fs.ErrNotExist) {
				return Record{}, fmt.Errorf("%w: LSN %d was removed while opening its segment", ErrTruncated, r.next)
			}
			if err != nil {
				return Record{}, fmt.Errorf("wal: open segment: %w", err)
			}
			r.seg, r.f = seg, f
			r.fr = newFrameReader(f, seg.salt, start.off, limit)
		} else {
			r.fr.seek(r.fr.off, limit)
		}
		return r.read(seg)
	}
}

// read decodes frames until the one holding r.next.
func (r *Reader) read(seg *segment) (Record, error) {
	for {
		off := r.fr.off
		h, p, err := r.fr.next()
		if err != nil {
			r.release()
			if first, gone := r.l.truncatedPast(r.next); gone {
				// TruncateFront dropped the segment while it was read,
				// and recycling reused its file: not damage.
				return Record{}, fmt.Errorf("%w: LSN %d is before the first retained LSN %d", ErrTruncated, r.next, first)
			}
			return Record{}, asCorruption(err, seg.path, off, r.next)
		}
		if h.LSN < r.next {
			continue // seeking forward from an index entry
		}
		if h.LSN != r.next {
			r.release()
			return Record{}, &CorruptionError{Segment: seg.path, Offset: off, LSN: r.next, Err: fmt.Errorf("%w: frame holds LSN %d", ErrMissingRecords, h.LSN)}
		}
		r.next++
		return Record{LSN: h.LSN, Epoch: h.Epoch, Time: time.Unix(0, h.Nanos), Kind: h.Kind, Data: p}, nil
	}
}

// Close releases the reader's file. It is safe to call more than once.
func (r *Reader) Close() error {
	return r.release()
}

func (r *Reader) release() error {
	var err error
	if r.f != nil {
		err = r.f.Close()
	}
	r.seg, r.f, r.fr = nil, nil, nil
	return err
}

// truncatedPast reports whether TruncateFront has dropped lsn, and the
// first LSN retained.
func (l *Log) truncatedPast(lsn LSN) (LSN, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.first, lsn < l.first
}

// segmentFor returns the segment holding lsn, which must be in
// [l.first, l.wlast]. l.mu must be held.
func (l *Log) segmentFor(lsn LSN) *segment {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > lsn })
	return l.segs[i-1]
}

// seek returns the last index entry at or before lsn, or the start of the
// segment. Log.mu must be held.
func (s *segment) seek(lsn LSN) indexEntry {
	i := sort.Search(len(s.index), func(i int) bool { return s.index[i].lsn > lsn })
	if i == 0 {
		return indexEntry{lsn: s.first, off: segmentHeaderSize, nanos: s.firstNanos}
	}
	return s.index[i-1]
}

// LSNAt returns the LSN of the last record whose Time is at or before t:
// the position to restore to for "the state as it was at t". It fails with
// ErrNotFound if the first retained record is after t. It reads at most
// one index interval of one segment.
func (l *Log) LSNAt(t time.Time) (LSN, error) {
	nanos := t.UnixNano()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	// Segments holding visible records, in time order.
	i := sort.Search(len(l.segs), func(i int) bool {
		s := l.segs[i]
		return s.empty() || s.firstNanos > nanos
	})
	if i == 0 {
		l.mu.RUnlock()
		return 0, ErrNotFound
	}
	seg := l.segs[i-1]
	if nanos >= seg.lastNanos {
		last := seg.last
		l.mu.RUnlock()
		return last, nil
	}
	j := sort.Search(len(seg.index), func(j int) bool { return seg.index[j].nanos > nanos })
	start := seg.index[max(j-1, 0)]
	limit := seg.end
	last := seg.last
	l.mu.RUnlock()

	f, err := l.fs.Open(seg.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("%w: segment removed during lookup", ErrTruncated)
		}
		return 0, fmt.Errorf("wal: open segment: %w", err)
	}
	defer f.Close()
	fr := newFrameReader(f, seg.salt, start.off, limit)
	found := start.lsn
	for found < last {
		off := fr.off
		h, _, err := fr.next()
		if err != nil {
			if _, gone := l.truncatedPast(found + 1); gone {
				return 0, fmt.Errorf("%w: segment removed during lookup", ErrTruncated)
			}
			return 0, asCorruption(err, seg.path, off, found+1)
		}
		if h.LSN <= found {
			continue
		}
		if h.Nanos > nanos {
			break
		}
		found = h.LSN
	}
	return found, nil
}
