package wal

import (
	"errors"
	"io"

	"github.com/cespare/xxhash/v2"

	"github.com/continuity-go/continuity/internal/vfs"
)

// readAheadBytes is how much a frameReader reads from the file at a time.
const readAheadBytes = 256 << 10

// frameReader decodes frames from a segment file sequentially, reading
// ahead through a buffer but never at or past limit: the writer may be
// writing there.
type frameReader struct {
	f      vfs.File
	salt   uint64
	d      *xxhash.Digest
	off    int64 // file offset of the next frame
	limit  int64 // no byte at or past limit is read
	buf    []byte
	bufOff int64 // file offset of buf[0]
}

func newFrameReader(f vfs.File, salt uint64, off, limit int64) *frameReader {
	return &frameReader{f: f, salt: salt, d: xxhash.New(), off: off, limit: limit}
}

// seek moves to a new frame offset and limit, keeping buffered bytes that
// are still below the limit.
func (r *frameReader) seek(off, limit int64) {
	r.off, r.limit = off, limit
	if end := r.bufOff + int64(len(r.buf)); end > limit {
		// Bytes at or past limit are not ours to trust.
		if limit <= r.bufOff {
			r.buf = r.buf[:0]
		} else {
			r.buf = r.buf[:limit-r.bufOff]
		}
	}
}

// window returns up to n bytes of the file starting at off, fewer if the
// limit or the end of the file comes first. The result aliases the buffer
// and is valid until the next call.
func (r *frameReader) window(off, n int64) ([]byte, error) {
	if off+n > r.limit {
		n = r.limit - off
	}
	if n <= 0 {
		return nil, nil
	}
	if off >= r.bufOff && off+n <= r.bufOff+int64(len(r.buf)) {
		return r.buf[off-r.bufOff : off-r.bufOff+n], nil
	}
	want := max(n, readAheadBytes)
	if off+want > r.limit {
		want = r.limit - off
	}
	if int64(cap(r.buf)) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	got, err := r.f.ReadAt(r.buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		r.buf = r.buf[:0]
		return nil, err
	}
	r.buf, r.bufOff = r.buf[:got], off
	return r.buf[:min(n, int64(got))], nil
}

// next decodes the frame at r.off and advances past it. The payload
// aliases the buffer and is valid until the next call. Errors are those of
// decodeFrame, read errors from the file, and io.EOF when r.off is at the
// limit.
func (r *frameReader) next() (frameHeader, []byte, error) {
	if r.off >= r.limit {
		return frameHeader{}, nil, io.EOF
	}
	b, err := r.window(r.off, frameHeaderSize)
	if err != nil {
		return frameHeader{}, nil, err
	}
	if len(b) == frameHeaderSize {
		h, _ := parseFrameHeader(b)
		if h.Length <= maxPayloadBytes {
			// Bounded by the limit (at most the file size), so a corrupt
			// length cannot make us allocate more than the file holds.
			if b, err = r.window(r.off, frameSize(int(h.Length))); err != nil {
				return frameHeader{}, nil, err
			}
		}
	}
	if len(b) == 0 {
		// The file ends before the limit.
		return frameHeader{}, nil, io.ErrUnexpectedEOF
	}
	h, payload, size, err := decodeFrame(b, r.d, r.salt)
	if err != nil {
		return h, nil, err
	}
	r.off += size
	return h, payload, nil
}

// asCorruption turns an error of next, met at offset off of the segment at
// path while looking for record want in a range that must hold whole
// records, into a *CorruptionError; read errors pass through.
func asCorruption(err error, path string, off int64, want LSN) error {
	if !isDecodeError(err) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, errZeroFrame) {
		err = ErrMissingRecords // the range ended before want
	}
	return &CorruptionError{Segment: path, Offset: off, LSN: want, Err: err}
}
