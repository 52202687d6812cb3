package wal

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/continuity-go/continuity/internal/vfs"
)

// recover loads the segments in l.dir, verifies every frame, repairs a
// torn tail and sets up the writer at the end of the log.
func (l *Log) recover() error {
	names, err := l.fs.List(l.dir)
	if err != nil {
		return fmt.Errorf("wal: list %s: %w", l.dir, err)
	}
	var firsts []LSN
	removed := false
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			// A spare or a rewrite that never became a segment.
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil {
				return fmt.Errorf("wal: remove leftover %s: %w", name, err)
			}
			removed = true
		case strings.HasSuffix(name, segmentSuffix):
			hex := strings.TrimSuffix(name, segmentSuffix)
			first, err := strconv.ParseUint(hex, 16, 64)
			if err != nil || len(hex) != 16 || first == 0 {
				return fmt.Errorf("wal: unexpected file %s in the log directory; move it away", filepath.Join(l.dir, name))
			}
			firsts = append(firsts, LSN(first))
		}
	}
	if removed {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("wal: sync directory: %w", err)
		}
	}
	l.first, l.last, l.w.next = 1, 0, 1
	if len(firsts) == 0 {
		return nil
	}

	var epoch uint64
	for i, first := range firsts {
		path := filepath.Join(l.dir, segmentName(first))
		tail := i == len(firsts)-1
		var f vfs.File
		if tail {
			f, err = l.fs.OpenReadWrite(path)
		} else {
			f, err = l.fs.Open(path)
		}
		if err != nil {
			return fmt.Errorf("wal: open segment: %w", err)
		}
		seg, err := l.loadSegment(f, path, first, tail, firsts[min(i+1, len(firsts)-1)]-1)
		if err != nil {
			f.Close()
			return err
		}
		epoch = max(epoch, seg.epoch)
		l.segs = append(l.segs, seg)
		if !tail {
			if err := f.Close(); err != nil {
				return fmt.Errorf("wal: close segment: %w", err)
			}
			continue
		}
		w := &l.w
		w.seg, w.f, w.off, w.bufOff = seg, f, seg.end, seg.end
		w.next = seg.last + 1
		w.lastNanos, w.lastEpoch = seg.timeFloor, seg.epoch
		if !seg.empty() {
			w.lastNanos, w.lastEpoch = seg.lastNanos, seg.lastEpoch
		}
		w.cur = segUpdate{seg: seg, last: seg.last, end: seg.end, lastIdxOff: -indexIntervalBytes}
		if n := len(seg.index); n > 0 {
			w.cur.lastIdxOff = seg.index[n-1].off
		}
	}
	l.first = l.segs[0].first
	l.last = l.w.next - 1
	l.epoch.Store(max(epoch, l.w.lastEpoch))
	return nil
}

// loadSegment reads and verifies one segment. A sealed segment must hold
// exactly the records up to until; the tail holds what it holds, and a
// torn end is repaired.
func (l *Log) loadSegment(f vfs.File, path string, first LSN, tail bool, until LSN) (*segment, error) {
	corrupt := func(off int64, lsn LSN, err error) error {
		return &CorruptionError{Segment: path, Offset: off, LSN: lsn, Err: err}
	}
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("wal: stat segment: %w", err)
	}
	hb := make([]byte, segmentHeaderSize)
	if n, err := f.ReadAt(hb, 0); n < len(hb) {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("wal: read segment header: %w", err)
		}
		return nil, corrupt(0, first, io.ErrUnexpectedEOF)
	}
	hdr, err := decodeSegmentHeader(hb)
	if err != nil {
		var ve *VersionError
		if errors.As(err, &ve) {
			ve.Segment = path
			return nil, ve
		}
		return nil, corrupt(0, first, err)
	}
	if hdr.First != first {
		return nil, corrupt(0, first, fmt.Errorf("%w: header says first LSN %d, name says %d", ErrBadHeader, hdr.First, first))
	}
	seg := &segment{
		first: first, path: path, salt: hdr.Salt, epoch: hdr.Epoch, timeFloor: hdr.TimeFloor,
		prevSalt: hdr.PrevSalt, last: first - 1, end: segmentHeaderSize,
	}
	fr := newFrameReader(f, hdr.Salt, segmentHeaderSize, size)
	lastIdx := int64(-indexIntervalBytes)
	for tail || seg.last < until {
		off := fr.off
		h, _, err := fr.next()
		if err == nil && h.LSN != seg.last+1 {
			err = fmt.Errorf("%w: frame holds LSN %d", ErrMissingRecords, h.LSN)
			return nil, corrupt(off, seg.last+1, err)
		}
		if err != nil {
			switch {
			case !isDecodeError(err):
				return nil, fmt.Errorf("wal: read segment %s: %w", path, err)
			case !tail:
				if errors.Is(err, io.EOF) || errors.Is(err, errZeroFrame) {
					err = fmt.Errorf("%w: segment ends before LSN %d", ErrMissingRecords, until)
				}
				return nil, corrupt(off, seg.last+1, err)
			case errors.Is(err, io.EOF):
			default:
				if err := l.repairTail(seg, fr, off, size, err); err != nil {
					return nil, err
				}
			}
			break
		}
		if off-lastIdx >= indexIntervalBytes {
			seg.index = append(seg.index, indexEntry{lsn: h.LSN, off: off, nanos: h.Nanos})
			lastIdx = off
		}
		if seg.empty() {
			seg.firstNanos = h.Nanos
		}
		seg.last, seg.end, seg.lastNanos, seg.lastEpoch = h.LSN, fr.off, h.Nanos, h.Epoch
	}
	return seg, nil
}

// isDecodeError reports whether err comes from decoding bytes, as opposed
// to failing to read them.
func isDecodeError(err error) bool {
	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, errZeroFrame, ErrChecksum, ErrFrameLength} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// frameStartsAt reports whether the header at off names the record
// recovery wants there: the start of a write of this segment, torn.
func frameStartsAt(fr *frameReader, off int64, want LSN) bool {
	b, err := fr.window(off, frameHeaderSize)
	if err != nil || len(b) < frameHeaderSize {
		return false
	}
	h, _ := parseFrameHeader(b)
	return h.LSN == want
}

// repairTail handles the first undecodable frame of the last segment, at
// offset t. If a frame after it was written after the record expected at
// t had been made durable (its committed field says so), the damage hit
// acknowledged data: that is corruption, not a torn write. Otherwise the
// bytes from t on belong to a write that never completed: they are zeroed
// and synced, so that no later recovery can mistake them for records.
func (l *Log) repairTail(seg *segment, fr *frameReader, t, size int64, cause error) error {
	want := seg.last + 1
	lastNonZero := int64(-1)
	for off := t; off < size; off += readAheadBytes {
		b, err := fr.window(off, readAheadBytes)
		if err != nil {
			return fmt.Errorf("wal: read segment %s: %w", seg.path, err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				lastNonZero = off + int64(i)
				break
			}
		}
	}
	if lastNonZero < 0 {
		return nil // zeros only: the clean end of a preallocated segment
	}
	maxLSN := want + LSN(size/frameHeaderSize)
	later := false // a whole frame of this segment lies after t
	for p := t + frameAlign; p <= lastNonZero; p += frameAlign {
		b, err := fr.window(p, frameHeaderSize)
		if err != nil {
			return fmt.Errorf("wal: read segment %s: %w", seg.path, err)
		}
		if len(b) < frameHeaderSize {
			break
		}
		if h, _ := parseFrameHeader(b); h.LSN < want || h.LSN > maxLSN {
			continue
		}
		fr.seek(p, size)
		h, _, err := fr.next()
		if err != nil {
			continue
		}
		if h.Committed >= want && h.LSN > h.Committed {
			if errors.Is(cause, errZeroFrame) || errors.Is(cause, io.ErrUnexpectedEOF) {
				cause = fmt.Errorf("%w: record missing before durable LSN %d", ErrMissingRecords, h.LSN)
			}
			return &CorruptionError{Segment: seg.path, Offset: t, LSN: want, Err: cause}
		}
		later = true
	}
	if seg.prevSalt != 0 && !later && !frameStartsAt(fr, t, want) {
		// A recycled file: what follows this segment's last frame is
		// the previous segment's bytes (recycle.go), not a write of
		// this one: its clean end.
		l.log.Debug("wal segment ends before a recycled file's earlier frames", "segment", seg.path, "offset", t)
		return nil
	}
	if err := zeroRange(fr.f, t, lastNonZero+1); err != nil {
		return fmt.Errorf("wal: cut torn tail of %s: %w", seg.path, err)
	}
	if err := fr.f.Sync(); err != nil {
		return fmt.Errorf("wal: cut torn tail of %s: %w", seg.path, err)
	}
	l.log.Warn("wal cut torn tail", "segment", seg.path, "offset", t, "bytes", lastNonZero+1-t, "first_lost_lsn", want, "cause", cause.Error())
	return nil
}
