package archive

import (
	"crypto/sha256"
	"encoding/binary"
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
