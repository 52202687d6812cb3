package tenant

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/continuity-go/continuity/wal"
)

// Sealed event format: see the package doc.
const (
	envelopeVersion = 1
	headerSize      = 49
	tagSize         = 16 // GCM's
	// Overhead is what sealing adds to an event.
	Overhead = headerSize + tagSize
)

// Envelope is a sealed event's clear header and its sealed bytes.
type Envelope struct {
	Tag     Tag
	Key     KeyID
	Gen     Generation
	Counter uint64
	raw     []byte // the whole envelope
}

// Seal appends to dst the envelope of event sealed under k with the
// generation g and the seal's counter. The caller guarantees (g, counter)
// is never used twice with k (Sealer).
func Seal(dst []byte, k *Key, g Generation, counter uint64, event []byte) ([]byte, error) {
	aead, err := k.record(g)
	if err != nil {
		return nil, err
	}
	start := len(dst)
	dst = append(dst, envelopeVersion)
	dst = append(dst, k.Tag[:]...)
	dst = append(dst, k.ID[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, g.Epoch)
	dst = binary.LittleEndian.AppendUint64(dst, g.LSN)
	dst = binary.LittleEndian.AppendUint64(dst, counter)
	nonce := nonces.Get().(*[12]byte)
	defer nonces.Put(nonce)
	binary.LittleEndian.PutUint64(nonce[:], counter)
	return aead.Seal(dst, nonce[:], event, dst[start:start+headerSize]), nil
}

// nonces keeps nonce buffers: one passed to the AEAD's interface method
// escapes, and sealing or opening every event would allocate one.
var nonces = sync.Pool{New: func() any { return new([12]byte) }}

// Ciphertext is how many of r's last bytes are ciphertext: a sealed
// event's AES-GCM output (the event and the tag), which no compressor
// shrinks (archive.Options.Opaque). Records of the other kinds, and
// sealed events of another format, have none. It authenticates nothing.
func Ciphertext(r wal.Record) int {
	if r.Kind != KindSealed || len(r.Data) < Overhead || r.Data[0] != envelopeVersion {
		return 0
	}
	return len(r.Data) - headerSize
}

// ParseEnvelope reads a sealed event's header. The envelope aliases b.
func ParseEnvelope(b []byte) (Envelope, error) {
	if len(b) < Overhead {
		return Envelope{}, fmt.Errorf("%w: a sealed event of %d bytes, less than %d", ErrDamaged, len(b), Overhead)
	}
	if b[0] != envelopeVersion {
		return Envelope{}, fmt.Errorf("%w: sealed event format %d, this build reads %d", ErrDamaged, b[0], envelopeVersion)
	}
	var e Envelope
	copy(e.Tag[:], b[1:17])
	copy(e.Key[:], b[17:25])
	e.Gen = Generation{Epoch: binary.LittleEndian.Uint64(b[25:]), LSN: binary.LittleEndian.Uint64(b[33:])}
	e.Counter = binary.LittleEndian.Uint64(b[41:])
	e.raw = b
	return e, nil
}

// Open appends the event to dst once it authenticates under k, which
// must be the key the envelope names.
func (e Envelope) Open(dst []byte, k *Key) ([]byte, error) {
	if k.Tag != e.Tag || k.ID != e.Key {
		return nil, errors.New("tenant: opening a sealed event with another tenant's key")
	}
	aead, err := k.record(e.Gen)
	if err != nil {
		return nil, err
	}
	nonce := nonces.Get().(*[12]byte)
	defer nonces.Put(nonce)
	binary.LittleEndian.PutUint64(nonce[:], e.Counter)
	out, err := aead.Open(dst, nonce[:], e.raw[headerSize:], e.raw[:headerSize])
	if err != nil {
		return nil, fmt.Errorf("%w: tenant %s, key %s, generation %d/%d, seal %d", ErrDamaged, e.Tag, e.Key, e.Gen.Epoch, e.Gen.LSN, e.Counter)
	}
	return out, nil
}
