package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// seedSegments returns encoded WAL objects (prefix || body) of a few
// shapes: one record, many small compressible ones, random payloads.
func seedSegments() [][]byte {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out [][]byte
	for _, shape := range [][]int{{0}, {5, 5, 5}, {300, 1, 0, 70}} {
		var recs []wal.Record
		for i, n := range shape {
			data := bytes.Repeat([]byte{byte('a' + i)}, n)
			recs = append(recs, wal.Record{LSN: wal.LSN(40 + i), Epoch: uint64(i / 2), Time: base.Add(time.Duration(i) * time.Millisecond), Data: data})
		}
		seg, err := encodeSegment(2, chainHash{byte(len(shape))}, recs, nil)
		if err != nil {
			panic(err)
		}
		out = append(out, append(seg.prefix, seg.body...))
	}
	return out
}

// segNameOf builds the name an encoded object's prefix claims.
func segNameOf(prefix []byte) segName {
	return segName{
		Epoch: binary.LittleEndian.Uint64(prefix[8:]), First: wal.LSN(binary.LittleEndian.Uint64(prefix[16:])),
		Last: wal.LSN(binary.LittleEndian.Uint64(prefix[24:])), FirstNanos: int64(binary.LittleEndian.Uint64(prefix[32:])),
		LastNanos: int64(binary.LittleEndian.Uint64(prefix[40:])),
	}
}

// FuzzArchiveSegment decodes arbitrary WAL object contents under the name
// their prefix claims: never a panic or an unbounded allocation, and what
// decodes re-encodes to the same records.
func FuzzArchiveSegment(f *testing.F) {
	for _, s := range seedSegments() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < segPrefixSize {
			return
		}
		n := segNameOf(b)
		seg, err := decodeSegment(n, b[:segPrefixSize], b[segPrefixSize:])
		if err != nil {
			return
		}
		recs := seg.recs
		enc, err := encodeSegment(n.Epoch, seg.prev, recs, nil)
		require.NoError(t, err, "decoded records do not re-encode")
		require.Equal(t, n, enc.name, "decoded records re-encode under another name")
		require.Equal(t, seg.end, enc.end, "decoded records re-encode to another chain")
		dec, err := decodeSegment(enc.name, enc.prefix, enc.body)
		require.NoError(t, err, "round trip")
		again := dec.recs
		require.Len(t, again, len(recs), "records after a round trip")
		for i := range recs {
			// bytes.Equal: a nil and an empty payload are the same record.
			assert.True(t, bytes.Equal(recs[i].Data, again[i].Data), "record %d's data differs after a round trip", i)
			assert.True(t, again[i].Time.Equal(recs[i].Time), "record %d's time differs after a round trip: %v, was %v", i, again[i].Time, recs[i].Time)
			assert.Equal(t, recs[i].Epoch, again[i].Epoch, "record %d's epoch after a round trip", i)
		}
	})
}

func seedNames() [][]byte {
	return [][]byte{
		[]byte(segName{Epoch: 1, First: 1, Last: 9, FirstNanos: 5, LastNanos: 7}.String()),
		[]byte(timelineObject(3)),
		[]byte("wal/00000000000000ff/0000000000000001-0000000000000001-0000000000000000-0000000000000000"),
		[]byte("wal/zz/timeline"),
	}
}

// FuzzArchiveName parses arbitrary object names: what parses prints back
// to a name that parses to the same thing.
func FuzzArchiveName(f *testing.F) {
	for _, s := range seedNames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, isTL, err := parseArchiveName(string(b))
		if err != nil || isTL {
			return
		}
		n2, isTL2, err := parseArchiveName(n.String())
		require.NoError(t, err, "%q parses to %+v, which prints as %q", b, n, n.String())
		assert.False(t, isTL2, "%q parses to %+v, which prints as %q: a timeline", b, n, n.String())
		assert.Equal(t, n, n2, "%q parses to %+v, which prints as %q", b, n, n.String())
	})
}

func seedTimelines() [][]byte {
	return [][]byte{
		append(binary.LittleEndian.AppendUint64(nil, 1), encodeTimeline(timeline{Epochs: []uint64{1}, Forks: []wal.LSN{0}})...),
		append(binary.LittleEndian.AppendUint64(nil, 7), encodeTimeline(timeline{Epochs: []uint64{1, 2, 7}, Forks: []wal.LSN{0, 80, 80}})...),
	}
}

// FuzzArchiveTimeline decodes arbitrary timeline bodies (the first 8
// bytes are the epoch the name claims).
func FuzzArchiveTimeline(f *testing.F) {
	for _, s := range seedTimelines() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		tl, err := decodeTimeline(binary.LittleEndian.Uint64(b), b[8:])
		if err != nil {
			return
		}
		assert.True(t, bytes.Equal(encodeTimeline(tl), b[8:]), "a decoded timeline does not re-encode to its bytes")
		for _, e := range tl.Epochs {
			_, ok := tl.bound(e)
			assert.True(t, ok, "epoch %d of the timeline has no bound", e)
		}
	})
}

// FuzzArchiveObject reads arbitrary bytes stored as an archived object,
// through decryption: the only outcome is the records or an
// *ObjectError saying the object is damaged.
func FuzzArchiveObject(f *testing.F) {
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, "mem://")
	require.NoError(f, err)
	f.Cleanup(func() { b.Close() })
	repo, err := snapshot.Init(ctx, b, snapshot.RawKey([32]byte{3}), snapshot.Format{}, snapshot.Options{})
	require.NoError(f, err)
	n := segName{Epoch: 2, First: 40, Last: 42, FirstNanos: 1, LastNanos: 2}
	for _, s := range seedSegments() {
		name := segNameOf(s).String()
		_, err := repo.PutSealed(ctx, name, s[:segPrefixSize], s[segPrefixSize:])
		require.NoError(f, err)
		sealed, err := b.ReadAll(ctx, name)
		require.NoError(f, err)
		f.Add(sealed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		require.NoError(t, b.WriteAll(ctx, n.String(), data, nil))
		_, err := readSegment(ctx, repo, n)
		if err == nil {
			return
		}
		var ae *ObjectError
		require.ErrorAs(t, err, &ae, "untyped error")
		assert.ErrorIs(t, err, ErrCorrupt, "the error does not say the object is damaged")
		assert.Equal(t, n.String(), ae.Object, "misattributed error: %v", err)
	})
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz")

func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzArchiveSegment": seedSegments(), "FuzzArchiveName": seedNames(), "FuzzArchiveTimeline": seedTimelines(),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, s := range seeds {
			err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s), 0o644)
			require.NoError(t, err)
		}
	}
}
