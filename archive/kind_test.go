package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/binenc"
	"github.com/continuity-go/continuity/wal"
)

// TestSegmentKinds: WAL objects keep each record's kind; version 2
// objects (no kind field) still decode, as events; an event chains as
// before kinds existed, and a record of another kind chains differently.
func TestSegmentKinds(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	recs := []wal.Record{
		{LSN: 5, Epoch: 1, Time: base, Data: []byte("event")},
		{LSN: 6, Epoch: 1, Time: base.Add(time.Millisecond), Kind: 1, Data: []byte("sealed")},
		{LSN: 7, Epoch: 2, Time: base.Add(2 * time.Millisecond), Kind: 200, Data: nil},
	}
	seg, err := encodeSegment(2, chainHash{9}, recs, nil)
	require.NoError(t, err)
	dec, err := decodeSegment(seg.name, seg.prefix, seg.body)
	require.NoError(t, err)
	require.NoError(t, verifyChain(dec))
	for i, r := range dec.recs {
		assert.Equal(t, recs[i].Kind, r.Kind, "LSN %d", r.LSN)
	}

	// A version 2 object, as earlier builds wrote it.
	events := recs[:1]
	v2, err := encodeSegment(2, chainHash{9}, events, nil)
	require.NoError(t, err)
	body := binenc.Encoder{}
	body.Uvarint(1)
	body.Uvarint(0)
	body.Uvarint(uint64(len(events[0].Data)))
	body.Raw(events[0].Data)
	prefix := append([]byte(nil), v2.prefix...)
	binary.LittleEndian.PutUint16(prefix[0:], 2)
	prefix[2] = codecRaw
	binary.LittleEndian.PutUint32(prefix[48:], uint32(len(body.B)))
	old, err := decodeSegment(v2.name, prefix, body.B)
	require.NoError(t, err, "a version 2 object")
	require.Len(t, old.recs, 1)
	assert.Equal(t, wal.KindEvent, old.recs[0].Kind)
	assert.Equal(t, events[0].Data, old.recs[0].Data)

	// The chain of an event is the formula of format version 2.
	h := sha256.New()
	prev := chainHash{9}
	h.Write(prev[:])
	var hdr [24]byte
	binary.LittleEndian.PutUint64(hdr[0:], 5)
	binary.LittleEndian.PutUint64(hdr[8:], 1)
	binary.LittleEndian.PutUint64(hdr[16:], uint64(base.UnixNano()))
	h.Write(hdr[:])
	h.Write([]byte("event"))
	var want chainHash
	copy(want[:], h.Sum(nil))
	c := newChainer()
	assert.Equal(t, want, c.next(prev, recs[0]), "an event's chain changed")
	other := recs[0]
	other.Kind = 1
	assert.NotEqual(t, want, c.next(prev, other), "a record of another kind chains as an event")
}

// TestSegmentOpaque: records' opaque tails (Options.Opaque) make a
// version 4 object that keeps them out of the compressed stream and
// decodes to the same records and chain; objects with none stay version
// 3; a version 3 object as earlier builds wrote it still decodes; a
// version 4 object whose opaque bytes do not add up is refused; and a
// newer format's error says to upgrade.
func TestSegmentOpaque(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	header := bytes.Repeat([]byte("header-"), 7)
	var recs []wal.Record
	for i := range 200 {
		data := append([]byte(nil), header...)
		cipher := make([]byte, 144)
		for j := range cipher {
			cipher[j] = byte(rng.Uint32())
		}
		kind := wal.Kind(1)
		switch i % 5 {
		case 3:
			kind, data = wal.KindEvent, bytes.Repeat([]byte("event "), 20) // compressible, no tail
		case 4:
			kind, data = 7, cipher // all of it opaque
		default:
			data = append(data, cipher...)
		}
		recs = append(recs, wal.Record{LSN: wal.LSN(10 + i), Epoch: 1, Time: base.Add(time.Duration(i) * time.Microsecond), Kind: kind, Data: data})
	}
	tails := func(r wal.Record) int {
		switch r.Kind {
		case 1:
			return len(r.Data) - len(header)
		case 7:
			return len(r.Data) + 5 // clamped to the data
		}
		return -1 // clamped to 0
	}
	enc := &segEncoder{opaque: tails}
	seg, err := encodeSegment(3, chainHash{4}, recs, enc)
	require.NoError(t, err)
	assert.Equal(t, uint16(4), binary.LittleEndian.Uint16(seg.prefix), "format version")
	assert.Equal(t, byte(codecLZ4), seg.prefix[2], "the stream compresses")
	opaque := 0 // what tails asks for, clamped to each record's data
	for _, r := range recs {
		switch r.Kind {
		case 1:
			opaque += len(r.Data) - len(header)
		case 7:
			opaque += len(r.Data)
		}
	}
	assert.Equal(t, uint32(opaque), binary.LittleEndian.Uint32(seg.prefix[52:]), "opaque bytes in the prefix")
	assert.Equal(t, recs[1].Data[len(header):], seg.body[len(seg.body)-opaque+144:][:144], "the second record's tail, stored as it is")
	dec, err := decodeSegment(seg.name, seg.prefix, seg.body)
	require.NoError(t, err)
	require.NoError(t, verifyChain(dec))
	require.Len(t, dec.recs, len(recs))
	for i, r := range dec.recs {
		assert.Equal(t, recs[i], r, "LSN %d", recs[i].LSN)
	}
	plain, err := encodeSegment(3, chainHash{4}, recs, nil)
	require.NoError(t, err)
	assert.Equal(t, plain.end, seg.end, "the chain does not depend on the format")
	assert.Equal(t, uint16(3), binary.LittleEndian.Uint16(plain.prefix), "an object without opaque bytes")
	assert.Zero(t, binary.LittleEndian.Uint32(plain.prefix[52:]))

	// A version 3 object, as earlier builds wrote it.
	body := binenc.Encoder{}
	prevT := base.UnixNano()
	for _, r := range recs[:3] {
		body.Uvarint(r.Epoch)
		body.Uvarint(uint64(r.Time.UnixNano() - prevT))
		body.Uvarint(uint64(r.Kind))
		body.Uvarint(uint64(len(r.Data)))
		body.Raw(r.Data)
		prevT = r.Time.UnixNano()
	}
	v3, err := encodeSegment(3, chainHash{4}, recs[:3], enc)
	require.NoError(t, err)
	prefix := append([]byte(nil), v3.prefix...)
	binary.LittleEndian.PutUint16(prefix[0:], 3)
	prefix[2] = codecRaw
	binary.LittleEndian.PutUint32(prefix[48:], uint32(len(body.B)))
	binary.LittleEndian.PutUint32(prefix[52:], 0)
	old, err := decodeSegment(v3.name, prefix, body.B)
	require.NoError(t, err, "a version 3 object")
	assert.Equal(t, recs[:3], old.recs)

	// Opaque counts that do not add up.
	for name, mend := range map[string]func(p []byte){
		"more opaque bytes than the body":  func(p []byte) { binary.LittleEndian.PutUint32(p[52:], uint32(len(seg.body)+1)) },
		"one opaque byte no record holds":  func(p []byte) { binary.LittleEndian.PutUint32(p[52:], uint32(opaque+1)) },
		"one opaque byte short":            func(p []byte) { binary.LittleEndian.PutUint32(p[52:], uint32(opaque-1)) },
		"version 4 without opaque bytes":   func(p []byte) { binary.LittleEndian.PutUint32(p[52:], 0) },
		"version 3 with opaque bytes":      func(p []byte) { binary.LittleEndian.PutUint16(p[0:], 3) },
		"opaque bytes past the size limit": func(p []byte) { binary.LittleEndian.PutUint32(p[52:], maxSegmentBytes) },
	} {
		p := append([]byte(nil), seg.prefix...)
		mend(p)
		_, err := decodeSegment(seg.name, p, seg.body)
		assert.Error(t, err, name)
	}

	// A format this build does not know yet says to upgrade.
	p := append([]byte(nil), seg.prefix...)
	binary.LittleEndian.PutUint16(p[0:], segVersion+1)
	_, err = decodeSegment(seg.name, p, seg.body)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer build")
}
