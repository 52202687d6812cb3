package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
)

// The seed corpora of the fuzz targets are in testdata/fuzz/<target>/, in
// the format of go test. Regenerate them with
//
//	go test -run '^TestWriteFuzzCorpus$' ./wal/ -update-corpus
//
// The segments are written by the real Log, whose salts are random: each
// run writes different bytes.
var updateFuzzCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpora in testdata/fuzz")

// fuzzDir is the log directory on the MemFS of FuzzOpenSegment.
const fuzzDir = "/fuzz"

// fuzzSalt salts the frames built by hand.
const fuzzSalt uint64 = 0x5eed5a17

// fuzzSegment returns a small segment written by the real Log (a few
// records of different sizes and epochs, each appended and synced on its
// own, so their committed fields differ) without preallocated space.
func fuzzSegment(tb testing.TB) []byte {
	tb.Helper()
	fs := vfs.NewMem()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := Options{
		FS: fs, SegmentBytes: 4 << 10, DisablePreallocation: true,
		Now: func() time.Time { clock = clock.Add(time.Second); return clock },
	}
	l, err := Open(fuzzDir, opts)
	require.NoError(tb, err)
	for i, n := range []int{0, 1, 7, 8, 9, 100, 300} {
		if i == 3 {
			require.NoError(tb, l.SetEpoch(2))
		}
		_, _, err := l.Append(context.Background(), payload(LSN(i+1), n))
		require.NoError(tb, err)
	}
	require.NoError(tb, l.Close())
	seg, err := fs.ReadFile(filepath.Join(fuzzDir, segmentName(1)))
	require.NoError(tb, err)
	return seg
}

// fuzzFrame returns one frame built by hand.
func fuzzFrame(lsn LSN, n int) []byte {
	return appendFrame(nil, xxhash.New(), fuzzSalt, frameHeader{
		LSN: lsn, Epoch: 3, Nanos: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), Committed: lsn - 1,
	}, payload(lsn, n))
}

// fuzzFlip returns a copy of b with bit bit of byte i inverted.
func fuzzFlip(b []byte, i, bit int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1 << bit
	return b
}

// frameSeed is an input of FuzzDecodeFrame.
type frameSeed struct {
	data []byte
	salt uint64
}

// fuzzFrameSeeds are the seeds of FuzzDecodeFrame, by name.
func fuzzFrameSeeds(tb testing.TB) map[string]frameSeed {
	seg := fuzzSegment(tb)
	h, err := decodeSegmentHeader(seg)
	require.NoError(tb, err)
	frame := fuzzFrame(5, 13) // 13 bytes: 3 bytes of padding
	huge := bytes.Clone(fuzzFrame(6, 0))
	binary.LittleEndian.PutUint32(huge[8:], maxPayloadBytes+1)
	return map[string]frameSeed{
		"empty":            {nil, fuzzSalt},
		"zero-header":      {make([]byte, frameHeaderSize), fuzzSalt},
		"zero-short":       {make([]byte, 10), fuzzSalt},
		"frame-empty":      {fuzzFrame(1, 0), fuzzSalt},
		"frame-padded":     {frame, fuzzSalt},
		"frame-aligned":    {fuzzFrame(9, 64), fuzzSalt},
		"frame-wrong-salt": {frame, fuzzSalt + 1},
		"frame-torn":       {frame[:len(frame)-4], fuzzSalt},
		"frame-header":     {frame[:frameHeaderSize], fuzzSalt},
		"frame-flip-len":   {fuzzFlip(frame, 8, 0), fuzzSalt},
		"frame-flip-data":  {fuzzFlip(frame, frameHeaderSize+2, 5), fuzzSalt},
		"frame-huge-len":   {huge, fuzzSalt},
		"segment-frames":   {seg[segmentHeaderSize:], h.Salt},
		"segment-frame-7":  {seg[segmentHeaderSize+frameSize(0)+frameSize(1)+frameSize(7)+frameSize(8)+frameSize(9)+frameSize(100):], h.Salt},
	}
}

// segmentHeaderSeeds are the seeds of FuzzDecodeSegmentHeader, by name.
func segmentHeaderSeeds(tb testing.TB) map[string][]byte {
	valid := fuzzSegment(tb)[:segmentHeaderSize]
	// resum recomputes the header checksum after a change.
	resum := func(b []byte) []byte {
		binary.LittleEndian.PutUint64(b[56:], xxhash.Sum64(b[:56]))
		return b
	}
	v2 := bytes.Clone(valid)
	binary.LittleEndian.PutUint16(v2[8:], 2)
	recycled := bytes.Clone(v2)
	binary.LittleEndian.PutUint64(recycled[48:], 0x5eed5a17)
	v3 := bytes.Clone(valid)
	binary.LittleEndian.PutUint16(v3[8:], 3)
	reserved := bytes.Clone(valid)
	reserved[50] = 1
	first0 := bytes.Clone(valid)
	binary.LittleEndian.PutUint64(first0[16:], 0)
	magic := bytes.Clone(valid)
	magic[4] = 'X'
	return map[string][]byte{
		"valid":         valid,
		"valid-frames":  fuzzSegment(tb)[:segmentHeaderSize+frameSize(0)],
		"short":         valid[:segmentHeaderSize-1],
		"empty":         nil,
		"version-2":     resum(v2),
		"recycled":      resum(recycled),
		"version-3":     resum(v3),
		"reserved-set":  resum(reserved),
		"first-lsn-0":   resum(first0),
		"bad-magic":     resum(magic),
		"bad-checksum":  fuzzFlip(valid, 57, 3),
		"flipped-epoch": fuzzFlip(valid, 25, 1),
	}
}

// openSegmentSeeds are the seeds of FuzzOpenSegment, by name.
func openSegmentSeeds(tb testing.TB) map[string][]byte {
	seg := fuzzSegment(tb)
	last := len(seg) - int(frameSize(300))
	v2 := bytes.Clone(seg)
	binary.LittleEndian.PutUint16(v2[8:], 2)
	binary.LittleEndian.PutUint64(v2[56:], xxhash.Sum64(v2[:56]))
	return map[string][]byte{
		"valid":              seg,
		"preallocated":       append(bytes.Clone(seg), make([]byte, 4<<10-len(seg))...),
		"header-only":        seg[:segmentHeaderSize],
		"short-header":       seg[:segmentHeaderSize/2],
		"torn-last-frame":    seg[:len(seg)-100],
		"torn-frame-header":  seg[:last+20],
		"garbage-after-tail": append(bytes.Clone(seg), bytes.Repeat([]byte{0xa5}, 100)...),
		"flip-last-frame":    fuzzFlip(seg, last+frameHeaderSize+10, 2),
		"flip-first-frame":   fuzzFlip(seg, segmentHeaderSize+16, 0), // its LSN: damage before durable records
		"flip-header":        fuzzFlip(seg, 30, 7),
		"version-2":          v2,
		"empty":              nil,
	}
}

// fuzzCorpusFile encodes values in the corpus file format of go test.
func fuzzCorpusFile(vals ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint64:
			fmt.Fprintf(&b, "uint64(%d)\n", v)
		default:
			panic(fmt.Sprintf("fuzzCorpusFile: unsupported type %T", v))
		}
	}
	return b.Bytes()
}

// fuzzCorpusSeeds names the seeds committed under testdata/fuzz, a few of
// each kind; f.Add adds all of them.
var fuzzCorpusSeeds = map[string][]string{
	"FuzzDecodeFrame":         {"segment-frames", "segment-frame-7", "frame-padded", "frame-torn", "frame-flip-data", "zero-header", "frame-huge-len"},
	"FuzzDecodeSegmentHeader": {"valid", "version-2", "recycled", "version-3", "reserved-set", "bad-checksum", "short"},
	"FuzzOpenSegment":         {"valid", "preallocated", "torn-last-frame", "garbage-after-tail", "flip-first-frame", "version-2"},
}

// TestWriteFuzzCorpus rewrites the seed corpora under testdata/fuzz when
// run with -update-corpus. Inputs the fuzzer found (files not named
// seed-*) stay.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateFuzzCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	frames := fuzzFrameSeeds(t)
	headers := segmentHeaderSeeds(t)
	segments := openSegmentSeeds(t)
	for target, names := range fuzzCorpusSeeds {
		dir := filepath.Join("testdata", "fuzz", target)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		old, err := filepath.Glob(filepath.Join(dir, "seed-*"))
		require.NoError(t, err)
		for _, name := range old {
			require.NoError(t, os.Remove(name))
		}
		for _, name := range names {
			var file []byte
			switch target {
			case "FuzzDecodeFrame":
				s, ok := frames[name]
				require.True(t, ok, name)
				file = fuzzCorpusFile(s.data, s.salt)
			case "FuzzDecodeSegmentHeader":
				data, ok := headers[name]
				require.True(t, ok, name)
				file = fuzzCorpusFile(data)
			case "FuzzOpenSegment":
				data, ok := segments[name]
				require.True(t, ok, name)
				file = fuzzCorpusFile(data)
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, "seed-"+name), file, 0o644))
		}
	}
}

// fuzzIsOneOf reports whether errors.Is(err, target) for one of targets.
func fuzzIsOneOf(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// FuzzDecodeFrame checks that decodeFrame never panics nor reads beyond
// its input, fails only with its documented errors, and that what it
// decodes encodes back to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	seeds := fuzzFrameSeeds(f)
	for _, name := range slices.Sorted(maps.Keys(seeds)) {
		f.Add(seeds[name].data, seeds[name].salt)
	}
	f.Fuzz(func(t *testing.T, data []byte, salt uint64) {
		orig := bytes.Clone(data)
		d := xxhash.New()
		// A full slice expression: any access past len(data), even within
		// the capacity of the fuzzer's buffer, panics.
		h, p, size, err := decodeFrame(data[:len(data):len(data)], d, salt)
		require.Equal(t, orig, data, "decodeFrame modified its input")
		if err != nil {
			require.True(t, fuzzIsOneOf(err, io.EOF, io.ErrUnexpectedEOF, errZeroFrame, ErrChecksum, ErrFrameLength), "unexpected error %v", err)
			// io.EOF is the clean end, and only that.
			require.Equal(t, len(data) == 0, errors.Is(err, io.EOF), "io.EOF for %d bytes", len(data))
			if errors.Is(err, errZeroFrame) {
				require.True(t, allZero(data[:min(len(data), frameHeaderSize)]), "errZeroFrame for a header that is not zero")
			}
			return
		}
		require.LessOrEqual(t, size, int64(len(data)))
		require.Equal(t, frameSize(len(p)), size)
		require.Equal(t, int(h.Length), len(p))
		require.NotZero(t, h.LSN)
		if len(p) > 0 {
			require.Same(t, &data[frameHeaderSize], &p[0], "the payload aliases the input")
		}
		require.Zero(t, testing.AllocsPerRun(1, func() { _, _, _, _ = decodeFrame(data, d, salt) }), "decodeFrame allocated")

		// Encode what was decoded: the same bytes, padding included.
		enc := appendFrame(nil, xxhash.New(), salt, frameHeader{LSN: h.LSN, Epoch: h.Epoch, Nanos: h.Nanos, Committed: h.Committed}, p)
		require.Equal(t, data[:size], enc, "decode→encode differs")
		h2, p2, size2, err := decodeFrame(enc, d, salt)
		require.NoError(t, err)
		require.Equal(t, h, h2)
		require.Equal(t, p, p2)
		require.Equal(t, size, size2)

		// Every strict prefix of a frame is incomplete.
		for _, n := range []int64{0, 1, frameHeaderSize - 1, frameHeaderSize, size - 1} {
			if n < 0 || n >= size {
				continue
			}
			_, _, _, err := decodeFrame(data[:n:n], d, salt)
			require.Error(t, err, "a prefix of %d bytes of a %d-byte frame decoded", n, size)
		}
	})
}

// FuzzDecodeSegmentHeader checks that decodeSegmentHeader never panics,
// fails only with its documented errors, and that a header it accepts
// encodes back to the same bytes.
func FuzzDecodeSegmentHeader(f *testing.F) {
	seeds := segmentHeaderSeeds(f)
	for _, name := range slices.Sorted(maps.Keys(seeds)) {
		f.Add(seeds[name])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		h, err := decodeSegmentHeader(data[:len(data):len(data)])
		require.Equal(t, orig, data, "decodeSegmentHeader modified its input")
		if err != nil {
			var ve *VersionError
			switch {
			case errors.Is(err, io.ErrUnexpectedEOF):
				require.Less(t, len(data), segmentHeaderSize)
			case errors.Is(err, ErrBadHeader):
			case errors.As(err, &ve):
				require.True(t, ve.Version < minFormatVersion || ve.Version > maxFormatVersion, "VersionError for version %d", ve.Version)
			default:
				require.Failf(t, "unexpected error", "%v", err)
			}
			return
		}
		require.GreaterOrEqual(t, len(data), segmentHeaderSize)
		enc := h.encode()
		require.Equal(t, data[:segmentHeaderSize], enc, "decode→encode differs")
		h2, err := decodeSegmentHeader(enc)
		require.NoError(t, err)
		require.Equal(t, h, h2)
	})
}

// FuzzOpenSegment opens a log whose only segment holds the fuzzed bytes.
// Open must fail with a *CorruptionError or a *VersionError, or open a
// log that reads back whole and takes a new record that survives a
// reopen.
func FuzzOpenSegment(f *testing.F) {
	seeds := openSegmentSeeds(f)
	for _, name := range slices.Sorted(maps.Keys(seeds)) {
		f.Add(seeds[name])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := vfs.NewMem()
		require.NoError(t, fs.MkdirAll(fuzzDir, 0o755))
		require.NoError(t, fs.WriteFile(filepath.Join(fuzzDir, segmentName(1)), data))
		opts := Options{FS: fs, SegmentBytes: 4 << 10, DisablePreallocation: true}
		l, err := Open(fuzzDir, opts)
		if err != nil {
			var ce *CorruptionError
			var ve *VersionError
			require.True(t, errors.As(err, &ce) || errors.As(err, &ve), "Open failed with %v", err)
			return
		}
		defer l.Close()
		require.Equal(t, LSN(1), l.First())
		last := l.Last()
		fuzzReadAll(t, l, last)

		_, lsn, err := l.Append(t.Context(), []byte("after"))
		require.NoError(t, err)
		require.Equal(t, last+1, lsn)
		require.NoError(t, l.Close())

		l, err = Open(fuzzDir, opts)
		require.NoError(t, err, "reopen after Append")
		defer l.Close()
		require.Equal(t, LSN(1), l.First())
		require.Equal(t, last+1, l.Last())
		recs := fuzzReadAll(t, l, last+1)
		assert.Equal(t, []byte("after"), recs[len(recs)-1].Data)
	})
}

// fuzzReadAll reads records 1 to last of l.
func fuzzReadAll(t *testing.T, l *Log, last LSN) []Record {
	t.Helper()
	r := l.NewReader(1)
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var recs []Record
	for lsn := LSN(1); lsn <= last; lsn++ {
		rec, err := r.Next(ctx)
		require.NoError(t, err, "LSN %d of [1, %d]", lsn, last)
		require.Equal(t, lsn, rec.LSN)
		recs = append(recs, rec)
	}
	return recs
}

// TestDecodeFrameRejectsNonZeroPadding: the bytes that pad a payload to
// frameAlign are zeros by the format and not covered by the checksum, so
// decodeFrame must check them; it did not, and a frame with other padding
// decoded and did not encode back to the same bytes. FuzzDecodeFrame
// found it (testdata/fuzz/FuzzDecodeFrame/882aa52f95c56df2).
func TestDecodeFrameRejectsNonZeroPadding(t *testing.T) {
	frame := fuzzFrame(1, 5) // 3 bytes of padding
	frame[len(frame)-1] = '0'
	_, _, _, err := decodeFrame(frame, xxhash.New(), fuzzSalt)
	require.ErrorIs(t, err, ErrChecksum)
}
