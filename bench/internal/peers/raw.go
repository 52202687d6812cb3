package peers

import (
	"fmt"
	"os"
)

// RawMode says how a RawFile's writes land on disk.
type RawMode string

const (
	// RawPrealloc overwrites a file that was filled with zeros (real
	// bytes, synced) before the first write, wrapping around at its end:
	// no write changes the file's size, so fdatasync has no metadata to
	// commit. This is what a preallocating WAL can at best achieve.
	RawPrealloc RawMode = "prealloc"

	// RawAppend appends to a file that starts empty: every fdatasync also
	// commits the new file size.
	RawAppend RawMode = "append"
)

// RawPreallocBytes is the size of a RawPrealloc file: the size of one of
// continuity's default segments.
const RawPreallocBytes = 64 << 20

// RawFile is the physical limit of a synced log: a bare loop of one write
// and one fdatasync per call, with no framing, checksums or queueing. It is
// for one goroutine.
type RawFile struct {
	f    *os.File
	mode RawMode
	off  int64
	size int64 // RawPrealloc: the file's size, where writes wrap around
}

var _ Appender = (*RawFile)(nil)

// OpenRaw creates the file path (it must not exist) for mode. For
// RawPrealloc it writes RawPreallocBytes of zeros and syncs them before it
// returns, so that the fill is not part of any timing.
func OpenRaw(path string, mode RawMode) (*RawFile, error) {
	if mode != RawPrealloc && mode != RawAppend {
		return nil, fmt.Errorf("unknown raw mode %q", mode)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	r := &RawFile{f: f, mode: mode}
	if mode == RawPrealloc {
		if err := r.fill(RawPreallocBytes); err != nil {
			f.Close()
			return nil, fmt.Errorf("fill %s: %w", path, err)
		}
	}
	return r, nil
}

func (r *RawFile) fill(size int64) error {
	zero := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zero)) {
		if _, err := r.f.WriteAt(zero[:min(int64(len(zero)), size-off)], off); err != nil {
			return err
		}
	}
	if err := fdatasync(r.f); err != nil {
		return err
	}
	r.size = size
	return nil
}

// Append writes p at the current offset and fdatasyncs the file. In
// RawPrealloc mode a write that would pass the end of the file starts
// again at offset 0; p must not be larger than RawPreallocBytes.
func (r *RawFile) Append(p []byte) error {
	if r.mode == RawPrealloc && r.off+int64(len(p)) > r.size {
		if int64(len(p)) > r.size {
			return fmt.Errorf("raw write of %d bytes is larger than the %d-byte file", len(p), r.size)
		}
		r.off = 0
	}
	if _, err := r.f.WriteAt(p, r.off); err != nil {
		return err
	}
	r.off += int64(len(p))
	return fdatasync(r.f)
}

// Close closes the file; it stays on disk.
func (r *RawFile) Close() error { return r.f.Close() }
