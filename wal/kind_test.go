package wal

import (
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKindRoundTrip: a record's kind survives Append, Write and a reopen,
// and a frame with a reserved flag bit set does not decode.
func TestKindRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 4 << 10})
	_, _, err := l.Append(t.Context(), []byte("event"))
	require.NoError(t, err)
	first, last, err := l.AppendKind(t.Context(), Kind(7), []byte("a"), []byte("b"))
	require.NoError(t, err)
	require.Equal(t, LSN(2), first)
	require.Equal(t, LSN(3), last)
	at := time.Now()
	require.NoError(t, l.Write(t.Context(), Record{LSN: 4, Epoch: l.Epoch(), Time: at, Kind: 255, Data: []byte("c")}))
	want := []Kind{KindEvent, 7, 7, 255}
	check := func(l *Log) {
		r := l.NewReader(1)
		defer r.Close()
		for i, k := range want {
			rec, err := r.Next(t.Context())
			require.NoError(t, err)
			assert.Equal(t, LSN(i+1), rec.LSN)
			assert.Equal(t, k, rec.Kind, "LSN %d", rec.LSN)
		}
	}
	check(l)
	require.NoError(t, l.Close())
	check(openT(t, dir, Options{SegmentBytes: 4 << 10}))

	var d xxhash.Digest
	b := appendFrame(nil, &d, 9, frameHeader{LSN: 1, Kind: 3}, []byte("x"))
	h, p, _, err := decodeFrame(b, &d, 9)
	require.NoError(t, err)
	assert.Equal(t, Kind(3), h.Kind)
	assert.Equal(t, []byte("x"), p)
	b[13] = 1 // a reserved flag bit, with the checksum recomputed
	binaryPutSum(b, &d, 9)
	_, _, _, err = decodeFrame(b, &d, 9)
	require.ErrorIs(t, err, ErrChecksum, "reserved flag bits must be zero")
}

// binaryPutSum recomputes a frame's checksum after a test changed its
// header.
func binaryPutSum(b []byte, d *xxhash.Digest, salt uint64) {
	h, _ := parseFrameHeader(b)
	sum := frameSum(d, salt, b[8:frameHeaderSize], b[frameHeaderSize:frameHeaderSize+int(h.Length)])
	for i := range 8 {
		b[i] = byte(sum >> (8 * i))
	}
}
