package wal

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
)

const recycleSegBytes = 16 << 10

// recycledTail builds, on a MemFS, a closed log whose last segment lives
// in a recycled file and holds n records after the segment's first; it
// returns the file system, the last segment's path, its bytes before the
// n-th of those records was appended (the earlier segment's bytes where
// that record went) and after.
func recycledTail(t *testing.T, n int) (fs *vfs.MemFS, path string, before, after []byte) {
	t.Helper()
	fs = vfs.NewMem()
	opts := Options{FS: fs, SegmentBytes: recycleSegBytes}
	l, err := Open(memDir, opts)
	require.NoError(t, err)
	for len(segments(t, fs)) < 5 {
		appendN(t, l, 10)
	}
	require.NoError(t, l.TruncateFront(l.Last()))
	require.Zero(t, l.Stats().Recycled)
	// Fill the current segment until the next one starts, in a recycled
	// file.
	segs := len(segments(t, fs))
	for len(segments(t, fs)) == segs {
		appendN(t, l, 1)
	}
	require.Equal(t, uint64(1), l.Stats().Recycled, "the new segment reuses a released file")
	path = lastSegment(t, fs)
	appendN(t, l, n-2)
	before, err = fs.ReadFile(path)
	require.NoError(t, err)
	appendN(t, l, 1)
	require.NoError(t, l.Close())
	after, err = fs.ReadFile(path)
	require.NoError(t, err)
	h, err := decodeSegmentHeader(after)
	require.NoError(t, err)
	require.Equal(t, recycledVersion, h.Version)
	require.NotZero(t, h.PrevSalt)
	return fs, path, before, after
}

// TestRecycleSegments: TruncateFront keeps two released files, the next
// segments reuse them (no zero-fill), and the log reopens whole, with no
// torn tail reported, over and over.
func TestRecycleSegments(t *testing.T) {
	fs := vfs.NewMem()
	var logs logCapture
	opts := Options{FS: fs, SegmentBytes: recycleSegBytes, Logger: logs.logger()}
	l, err := Open(memDir, opts)
	require.NoError(t, err)
	for len(segments(t, fs)) < 6 {
		appendN(t, l, 20)
	}
	require.NoError(t, l.TruncateFront(l.Last()))
	names, err := fs.List(memDir)
	require.NoError(t, err)
	pooled := 0
	for _, n := range names {
		if strings.HasPrefix(n, "recycled-") {
			pooled++
		}
	}
	assert.Equal(t, recyclePool, pooled, "files kept for reuse: %v", names)
	for round := range 20 {
		st := l.Stats()
		for range 3 {
			segs := len(segments(t, fs))
			for len(segments(t, fs)) == segs {
				appendN(t, l, 7)
			}
		}
		after := l.Stats()
		assert.Equal(t, st.Recycled+recyclePool, after.Recycled, "round %d: the pooled files are reused first", round)
		assert.Equal(t, st.Filled+1, after.Filled, "round %d: only the third new segment is zero-filled", round)
		// Restart with a recycled file as the last segment.
		require.NoError(t, l.Close(), "round %d", round)
		l, err = Open(memDir, opts)
		require.NoError(t, err, "round %d", round)
		readAll(t, l, l.First())
		require.NoError(t, l.TruncateFront(l.Last()-5))
	}
	require.NoError(t, l.Close())
	assert.Empty(t, logs.find("torn"), "a recycled file's earlier frames were taken for a torn write")
	for _, p := range segments(t, fs) {
		data, err := fs.ReadFile(p)
		require.NoError(t, err)
		_, err = decodeSegmentHeader(data)
		require.NoError(t, err, p)
	}
}

// TestTornTailRecycled is TestTornTailEveryOffset on a segment in a
// recycled file, with a fourth way: the last write never reached the
// disk, so the earlier segment's bytes are still where it went. Exactly
// the complete records survive; a torn write is cut and logged; the
// earlier segment's bytes are a clean end, kept and not logged.
func TestTornTailRecycled(t *testing.T) {
	const n = 6
	base, path, before, data := recycledTail(t, n)
	offs := frameOffsets(t, data)
	require.Len(t, offs, n)
	h, err := decodeSegmentHeader(data)
	require.NoError(t, err)
	lastLSN := h.First + LSN(n) - 1
	start, end := offs[n-1], offs[n-1]+frameSize(sizeFor(lastLSN))
	require.False(t, allZero(before[start:end]), "the earlier segment's bytes lie where the last record went")

	rng := rand.New(rand.NewPCG(3, 4))
	for _, mode := range []string{"lost", "zeroed", "garbage", "half-lost"} {
		t.Run(mode, func(t *testing.T) {
			stop := start + frameHeaderSize + int64(sizeFor(lastLSN))
			for o := start; o < stop; o++ {
				fs := base.CrashClone()
				torn := bytes.Clone(data)
				switch mode {
				case "lost": // from o on, the write never reached the disk
					copy(torn[o:end], before[o:end])
				case "zeroed":
					clear(torn[o:end])
				case "garbage":
					for i := o; i < end; i++ {
						torn[i] = byte(rng.Uint32())
					}
				case "half-lost": // the header sector lost, the rest written
					copy(torn[start:o+1], before[start:o+1])
				}
				require.NoError(t, fs.WriteFile(path, torn))
				var logs logCapture
				opts := Options{FS: fs, SegmentBytes: recycleSegBytes, Logger: logs.logger()}
				l, err := Open(memDir, opts)
				require.NoError(t, err, "offset %d", o)
				require.Equal(t, lastLSN-1, l.Last(), "offset %d", o)
				readAll(t, l, l.First())
				// A header at start naming the record is a torn write of
				// this segment: cut and logged. Anything else there is
				// the earlier segment's bytes: a clean end.
				cut := logs.find("wal cut torn tail") != ""
				hdr, _ := parseFrameHeader(torn[start:])
				assert.Equal(t, hdr.LSN == lastLSN, cut, "offset %d: cut logged", o)
				if mode == "lost" && o == start {
					assert.False(t, cut, "nothing of the write reached the disk: a clean end")
				}
				appendN(t, l, 2)
				require.NoError(t, l.Close())

				l, err = Open(memDir, opts)
				require.NoError(t, err, "offset %d", o)
				require.Equal(t, lastLSN+1, l.Last())
				readAll(t, l, l.First())
				require.NoError(t, l.Close())
			}
		})
	}
}

// TestPowerLossRecycled is TestPowerLossKeepsAcknowledged with retention
// running: segments are released and recycled while writers append, and
// the crash (in-order or torn) keeps every acknowledged record at or
// after the recovered log's first.
func TestPowerLossRecycled(t *testing.T) {
	for round := range powerLossRounds {
		powerLossRound(t, round, true)
	}
}
