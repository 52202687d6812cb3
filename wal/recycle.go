package wal

import (
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/continuity-go/continuity/internal/vfs"
)

// Segment recycling. A steady log creates a segment as often as
// retention drops one; zero-filling each new file writes as many bytes
// again as the records (bench/README.md). TruncateFront instead renames
// the files it releases into a small pool, and the next segments reuse
// them, as pebble and etcd do.
//
// A recycled file still holds the frames of its earlier segments. They
// cannot pass for this segment's records: every frame's checksum is
// seeded with its segment's salt. Recovery must still tell them from a
// torn write at the segment's end, exactly, without a warning or a
// rewrite at every restart. The new segment's header (version 2) says
// the file is recycled (prevSalt, the salt of the segment it held). At
// the first frame of the tail segment that does not decode, at offset t,
// recovery then finds:
//   - zeros only: a clean end (a fresh file);
//   - a whole frame of this segment after t whose committed field says
//     a record at or after t was durable: corruption, as in any file;
//   - in a recycled file, no whole frame of this segment after t and no
//     header at t naming the record expected there: the earlier
//     segments' bytes, a clean end, kept as they are;
//   - anything else: a torn write, cut (zeroed) and logged.
//
// A write that tore so that its header never reached the disk but later
// sectors did is then taken for a clean end too: either way nothing of
// it was acknowledged, and the next record overwrites it.

// recyclePool is how many released files wait for reuse; more are
// removed. Two cover a retention pass that drops a couple of segments at
// once; a large pool would only hold disk space.
const recyclePool = 2

var recycleSeq atomic.Uint64

// recycle pools the file of s, released by TruncateFront, or reports
// false if it should be removed instead: recycling is off (no
// preallocation), the pool is full, or the file is not a whole segment
// of today's size. tmu is held.
func (l *Log) recycle(s *segment) (bool, error) {
	if l.opts.DisablePreallocation || l.noRecycle || len(l.recycled) >= cap(l.recycled) {
		return false, nil
	}
	f, err := l.fs.OpenReadWrite(s.path)
	if err != nil {
		return false, fmt.Errorf("wal: open segment to recycle: %w", err)
	}
	size, err := f.Size()
	if err != nil || size != l.opts.SegmentBytes {
		f.Close()
		return false, nil
	}
	name := filepath.Join(l.dir, fmt.Sprintf("recycled-%d%s", recycleSeq.Add(1), tmpSuffix))
	if err := l.fs.Rename(s.path, name); err != nil {
		f.Close()
		return false, fmt.Errorf("wal: recycle %s: %w", s.path, err)
	}
	// The rename must be durable before the file is rewritten as another
	// segment: else a crash could leave the old name on the new contents.
	if err := l.fs.SyncDir(l.dir); err != nil {
		spareFile{f: f, name: name}.discard(l.fs)
		return false, fmt.Errorf("wal: recycle %s: sync directory: %w", s.path, err)
	}
	select {
	case l.recycled <- spareFile{f: f, name: name, prevSalt: s.salt}:
		return true, nil
	default: // another TruncateFront filled the pool meanwhile (it is serialized: never)
		spareFile{f: f, name: name}.discard(l.fs)
		return true, nil
	}
}

// takeRecycled returns a pooled file, if any.
func (l *Log) takeRecycled() (spareFile, bool) {
	select {
	case sp := <-l.recycled:
		return sp, true
	default:
		return spareFile{}, false
	}
}

// drainRecycled removes the pooled files (Close).
func (l *Log) drainRecycled() {
	for {
		sp, ok := l.takeRecycled()
		if !ok {
			return
		}
		sp.discard(l.fs)
	}
}

// zeroRange writes zeros over [from, to) of f.
func zeroRange(f vfs.File, from, to int64) error {
	if to <= from {
		return nil
	}
	zero := make([]byte, min(to-from, 1<<20))
	for off := from; off < to; off += int64(len(zero)) {
		if _, err := f.WriteAt(zero[:min(int64(len(zero)), to-off)], off); err != nil {
			return err
		}
	}
	return nil
}
