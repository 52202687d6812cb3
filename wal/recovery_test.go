package wal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
)

const memDir = "/wal"

// frameOffsets returns the offset of every frame in a segment file,
// walking it with the real decoder.
func frameOffsets(t *testing.T, data []byte) []int64 {
	t.Helper()
	h, err := decodeSegmentHeader(data)
	require.NoError(t, err)
	d := newFrameReader(nil, h.Salt, 0, 0).d
	var offs []int64
	for off := int64(segmentHeaderSize); ; {
		_, _, size, err := decodeFrame(data[off:], d, h.Salt)
		if err != nil {
			return offs
		}
		offs = append(offs, off)
		off += size
	}
}

// segments returns the paths of the segment files in memDir, in order.
func segments(t *testing.T, fs *vfs.MemFS) []string {
	t.Helper()
	names, err := fs.List(memDir)
	require.NoError(t, err)
	var paths []string
	for _, n := range names {
		if strings.HasSuffix(n, segmentSuffix) {
			paths = append(paths, filepath.Join(memDir, n))
		}
	}
	return paths
}

func lastSegment(t *testing.T, fs *vfs.MemFS) string {
	t.Helper()
	segs := segments(t, fs)
	require.NotEmpty(t, segs)
	return segs[len(segs)-1]
}

// memLog makes a closed log of n records on a new MemFS.
func memLog(t *testing.T, segmentBytes int64, n int) *vfs.MemFS {
	t.Helper()
	fs := vfs.NewMem()
	l, err := Open(memDir, Options{FS: fs, SegmentBytes: segmentBytes})
	require.NoError(t, err)
	appendN(t, l, n)
	require.NoError(t, l.Close())
	return fs
}

// openDamaged opens a crash clone of fs in which the byte at off of the
// file at path (whose contents were data) has bit flipped, and returns
// the *CorruptionError Open must fail with.
func openDamaged(t *testing.T, fs *vfs.MemFS, path string, data []byte, off int64, bit byte, segmentBytes int64) (*CorruptionError, error) {
	t.Helper()
	bad := bytes.Clone(data)
	bad[off] ^= bit
	c := fs.CrashClone()
	require.NoError(t, c.WriteFile(path, bad))
	_, err := Open(memDir, Options{FS: c, SegmentBytes: segmentBytes})
	var ce *CorruptionError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, path, ce.Segment)
	return ce, err
}

// logCapture collects log records for assertions.
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (c *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(captureWriter{c}, nil))
}

type captureWriter struct{ c *logCapture }

func (w captureWriter) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	w.c.msgs = append(w.c.msgs, string(p))
	return len(p), nil
}

func (c *logCapture) find(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if strings.Contains(m, s) {
			return m
		}
	}
	return ""
}

// TestTornTailEveryOffset cuts the last frame at every byte offset, in
// three ways a crash can leave it, and checks that exactly the complete
// records survive, the cut is logged, and appends continue.
func TestTornTailEveryOffset(t *testing.T) {
	const n = 12
	base := memLog(t, 64<<10, n)
	path := lastSegment(t, base)
	data, err := base.ReadFile(path)
	require.NoError(t, err)
	offs := frameOffsets(t, data)
	require.Len(t, offs, n)
	start, end := offs[n-1], offs[n-1]+frameSize(sizeFor(n))

	rng := rand.New(rand.NewPCG(1, 2))
	for _, mode := range []string{"truncated", "zeroed", "garbage"} {
		t.Run(mode, func(t *testing.T) {
			stop := end
			if mode != "truncated" {
				// Padding is not part of the record: damage there is harmless.
				stop = start + frameHeaderSize + int64(sizeFor(n))
			}
			for o := start; o < stop; o++ {
				fs := base.CrashClone()
				torn := bytes.Clone(data)
				switch mode {
				case "truncated":
					torn = torn[:o]
				case "zeroed":
					clear(torn[o:end])
				case "garbage":
					for i := o; i < end; i++ {
						torn[i] = byte(rng.Uint32())
					}
				}
				require.NoError(t, fs.WriteFile(path, torn))
				var logs logCapture
				opts := Options{FS: fs, SegmentBytes: 64 << 10, Logger: logs.logger()}
				l, err := Open(memDir, opts)
				require.NoError(t, err, "offset %d", o)
				require.Equal(t, LSN(n-1), l.Last(), "offset %d", o)
				readAll(t, l, 1)
				if mode != "truncated" || o > start {
					if !allZero(torn[o:min(int64(len(torn)), end)]) {
						assert.NotEmpty(t, logs.find("wal cut torn tail"), "offset %d: cut not logged", o)
					}
				}
				appendN(t, l, 2)
				require.NoError(t, l.Close())

				l, err = Open(memDir, opts)
				require.NoError(t, err, "offset %d", o)
				require.Equal(t, LSN(n+1), l.Last())
				readAll(t, l, 1)
				require.NoError(t, l.Close())
			}
		})
	}
}

// TestTornBatch damages a frame in the middle of the last batch: the
// frames after it were written in the same unsynced batch (their
// committed field says so), so this is a torn write and the whole batch
// goes.
func TestTornBatch(t *testing.T) {
	fs := vfs.NewMem()
	l, err := Open(memDir, Options{FS: fs, SegmentBytes: 64 << 10})
	require.NoError(t, err)
	appendN(t, l, 5)
	_, _, err = l.Append(t.Context(), payload(6, sizeFor(6)), payload(7, sizeFor(7)), payload(8, sizeFor(8)))
	require.NoError(t, err)
	require.NoError(t, l.Close())

	path := lastSegment(t, fs)
	data, err := fs.ReadFile(path)
	require.NoError(t, err)
	offs := frameOffsets(t, data)
	data[offs[6]+frameHeaderSize+1] ^= 0x10 // payload of LSN 7
	require.NoError(t, fs.WriteFile(path, data))

	l, err = Open(memDir, Options{FS: fs, SegmentBytes: 64 << 10})
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, LSN(6), l.Last(), "LSN 8 was in the same unsynced batch as LSN 7")
	readAll(t, l, 1)
}

// TestDamageBeforeDurableRecord damages a record in the last segment that
// a later frame says was already durable: that is lost acknowledged data,
// and Open must refuse rather than cut it.
func TestDamageBeforeDurableRecord(t *testing.T) {
	fs := memLog(t, 64<<10, 8)
	path := lastSegment(t, fs)
	data, err := fs.ReadFile(path)
	require.NoError(t, err)
	offs := frameOffsets(t, data)
	for _, tc := range []struct {
		name string
		off  int64
	}{
		{"payload", offs[4] + frameHeaderSize + 3},
		{"length", offs[4] + 9},
		{"lsn", offs[4] + 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ce, _ := openDamaged(t, fs, path, data, tc.off, 0x01, 64<<10)
			assert.Equal(t, offs[4], ce.Offset)
			assert.Equal(t, LSN(5), ce.LSN)
		})
	}
}

// TestBitFlipSealedSegment flips bits in a sealed segment: Open and
// readers report a *CorruptionError naming the segment, offset and LSN.
func TestBitFlipSealedSegment(t *testing.T) {
	fs := memLog(t, 4<<10, 60)
	segs := segments(t, fs)
	require.Greater(t, len(segs), 3)
	path := segs[1]
	data, err := fs.ReadFile(path)
	require.NoError(t, err)
	h, err := decodeSegmentHeader(data)
	require.NoError(t, err)
	offs := frameOffsets(t, data)
	require.GreaterOrEqual(t, len(offs), 3)

	for _, tc := range []struct {
		name    string
		flipAt  int64
		wantOff int64
		wantLSN LSN
		cause   error
	}{
		{"magic", 2, 0, h.First, ErrBadHeader},
		{"header first LSN", 17, 0, h.First, ErrBadHeader},
		{"header checksum", 60, 0, h.First, ErrBadHeader},
		{"frame checksum", offs[1] + 3, offs[1], h.First + 1, ErrChecksum},
		{"frame LSN", offs[1] + 16, offs[1], h.First + 1, ErrChecksum},
		{"frame time", offs[2] + 33, offs[2], h.First + 2, ErrChecksum},
		{"payload", offs[2] + frameHeaderSize, offs[2], h.First + 2, ErrChecksum},
		{"last payload byte", offs[len(offs)-1] + frameHeaderSize + int64(sizeFor(h.First+LSN(len(offs))-1)) - 1, offs[len(offs)-1], h.First + LSN(len(offs)) - 1, ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ce, err := openDamaged(t, fs, path, data, tc.flipAt, 0x04, 4<<10)
			assert.Equal(t, tc.wantOff, ce.Offset)
			assert.Equal(t, tc.wantLSN, ce.LSN)
			assert.ErrorIs(t, err, tc.cause)
			assert.Contains(t, err.Error(), path)
		})
	}

	t.Run("reader after open", func(t *testing.T) {
		c := fs.CrashClone()
		l, err := Open(memDir, Options{FS: c, SegmentBytes: 4 << 10})
		require.NoError(t, err)
		defer l.Close()
		bad := bytes.Clone(data)
		bad[offs[1]+frameHeaderSize] ^= 0x80
		// Damage after Open, as bit rot would: the reader must notice.
		f, err := c.OpenReadWrite(path)
		require.NoError(t, err)
		_, err = f.WriteAt(bad, 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		r := l.NewReader(h.First)
		defer r.Close()
		_, err = r.Next(t.Context())
		require.NoError(t, err)
		_, err = r.Next(t.Context())
		var ce *CorruptionError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, offs[1], ce.Offset)
		assert.Equal(t, h.First+1, ce.LSN)
	})
}

// TestMissingSegment removes a middle segment: the gap is corruption.
func TestMissingSegment(t *testing.T) {
	fs := memLog(t, 4<<10, 60)
	segs := segments(t, fs)
	require.NoError(t, fs.Remove(segs[2]))
	_, err := Open(memDir, Options{FS: fs, SegmentBytes: 4 << 10})
	var ce *CorruptionError
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, ErrMissingRecords)
	assert.Equal(t, segs[1], ce.Segment)
}

func TestUnsupportedVersion(t *testing.T) {
	fs := memLog(t, 64<<10, 3)
	path := lastSegment(t, fs)
	data, err := fs.ReadFile(path)
	require.NoError(t, err)
	h, err := decodeSegmentHeader(data)
	require.NoError(t, err)
	h.Version = maxFormatVersion + 1
	copy(data, h.encode())
	require.NoError(t, fs.WriteFile(path, data))
	_, err = Open(memDir, Options{FS: fs, SegmentBytes: 64 << 10})
	var ve *VersionError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, path, ve.Segment)
	assert.Equal(t, maxFormatVersion+1, ve.Version)
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	_, err := Open(dir, Options{})
	require.ErrorIs(t, err, vfs.ErrLocked)
	require.NoError(t, l.Close())
	l2, err := Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, l2.Close())
}

func TestUnexpectedFileRefused(t *testing.T) {
	fs := vfs.NewMem()
	require.NoError(t, fs.MkdirAll(memDir, 0o755))
	require.NoError(t, fs.WriteFile(filepath.Join(memDir, "notes.wal"), []byte("x")))
	_, err := Open(memDir, Options{FS: fs, SegmentBytes: 64 << 10})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "notes.wal")
}

// TestPowerLossKeepsAcknowledged crashes while writers are appending,
// dropping everything unsynced or a random subset of the unsynced writes,
// and checks that the log opens with every acknowledged record, at many
// crash points.
func TestPowerLossKeepsAcknowledged(t *testing.T) {
	for round := range powerLossRounds {
		powerLossRound(t, round, false)
	}
}

// powerLossRound runs four writers (and, with retention, TruncateFront
// keeping the last 30 records, so that segment files are recycled),
// crashes the file system while they run (in order, or, on odd rounds,
// with unsynced writes torn), and checks that the recovered log holds
// every acknowledged record at or after its first.
func powerLossRound(t *testing.T, round int, retention bool) {
	fs := vfs.NewMem()
	opts := Options{FS: fs, SegmentBytes: 4 << 10}
	l, err := Open(memDir, opts)
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		acked = map[LSN][]byte{}
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(t.Context())
	for w := range 4 {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil; seq++ {
				p := crashPayload(w, seq)
				lsn, _, err := l.Append(ctx, p)
				if err != nil {
					return
				}
				mu.Lock()
				acked[lsn] = p
				mu.Unlock()
			}
		})
	}
	enough := 20 + (round%50)*10
	if retention {
		enough += 180
		wg.Go(func() {
			for ctx.Err() == nil {
				if last := l.Last(); last > 30 {
					if err := l.TruncateFront(last - 30); err != nil && ctx.Err() == nil {
						t.Errorf("TruncateFront: %v", err)
						return
					}
				}
				r := l.NewReader(l.Last() + 1)
				_, _ = r.Next(ctx)
				r.Close()
			}
		})
	}
	// Crash once enough has been acknowledged (and, with retention, a
	// file recycled); appends keep running while the clone is taken, so
	// it catches writes in flight.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n > enough && (!retention || l.Stats().Recycled > 0) {
			break
		}
		// Wait for the next record (retention may drop it first).
		r := l.NewReader(l.Last() + 1)
		_, err := r.Next(ctxWithin(t))
		if !errors.Is(err, ErrTruncated) {
			require.NoError(t, err)
		}
		require.NoError(t, r.Close())
	}
	mu.Lock()
	snapshot := maps.Clone(acked)
	mu.Unlock()
	var crashed *vfs.MemFS
	if round%2 == 0 {
		crashed = fs.CrashClone()
	} else {
		// Unsynced writes reach the disk in any order, or not at all.
		rng := rand.New(rand.NewPCG(uint64(round), 7))
		crashed = fs.CrashCloneTorn(func(string, int64, int) bool { return rng.IntN(2) == 0 })
	}
	cancel()
	wg.Wait()
	require.NoError(t, l.Close())

	l2, err := Open(memDir, Options{FS: crashed, SegmentBytes: 4 << 10})
	require.NoError(t, err, "round %d", round)
	defer l2.Close()
	r := l2.NewReader(l2.First())
	defer r.Close()
	for lsn := l2.First(); lsn <= l2.Last(); lsn++ {
		rec, err := r.Next(t.Context())
		require.NoError(t, err, "round %d LSN %d", round, lsn)
		if want, ok := snapshot[lsn]; ok {
			require.Equal(t, want, rec.Data, "round %d LSN %d", round, lsn)
		}
	}
	for lsn := range snapshot {
		require.False(t, lsn >= l2.First() && lsn > l2.Last(), "round %d: acknowledged LSN %d lost (log %d-%d)", round, lsn, l2.First(), l2.Last())
	}
	if !retention {
		require.Equal(t, LSN(1), l2.First(), "round %d: nothing was truncated", round)
	}
}

func ctxWithin(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10e9)
	t.Cleanup(cancel)
	return ctx
}
