package tenant

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/continuity-go/continuity/internal/binenc"
	"github.com/continuity-go/continuity/wal"
)

// Sealed event formats: see the package doc.
const (
	// envelopeVersion is the format Seal writes: no tag, the key ID and
	// the numbers as uvarints.
	envelopeVersion = 3
	// envelopeV2 and envelopeV1 are read only: a tag before the key ID,
	// and the numbers as uvarints (2) or 8 bytes each (1).
	envelopeV2 = 2
	envelopeV1 = 1
	// fixedSize is the header before the numbers in format 3: version,
	// key ID.
	fixedSize = 1 + 8
	// taggedSize is the same in formats 1 and 2: version, tag, key ID.
	taggedSize = 1 + 16 + 8
	// headerV1 is format 1's whole header.
	headerV1 = taggedSize + 3*8
	// minHeader is the shortest header: format 3 with three one-byte
	// numbers.
	minHeader = fixedSize + 3
	tagSize   = 16 // GCM's
)

// Overhead is what sealing adds to an event under the generation g with
// the seal's counter: the header and GCM's tag.
func Overhead(g Generation, counter uint64) int {
	return fixedSize + binenc.UvarintLen(g.Epoch) + binenc.UvarintLen(g.LSN) + binenc.UvarintLen(counter) + tagSize
}

// Envelope is a sealed event's clear header and its sealed bytes.
type Envelope struct {
	// Tag is the tenant's tag in formats 1 and 2, zero in format 3,
	// whose events name only their key (Registry.Open finds the tenant).
	Tag     Tag
	Key     KeyID
	Gen     Generation
	Counter uint64
	raw     []byte // the whole envelope
	header  int    // the clear header's length: raw[:header] is the AEAD's additional data
}

// Seal appends to dst the envelope of event sealed under k with the
// generation g and the seal's counter. The caller guarantees (g, counter)
// is never used twice with k (Sealer).
func Seal(dst []byte, k *Key, g Generation, counter uint64, event []byte) ([]byte, error) {
	s, err := k.RecordSealer(g)
	if err != nil {
		return nil, err
	}
	return s.Seal(dst, counter, event)
}

// RecordSealer seals events under one key in one generation: Seal
// without finding the generation's record key each time. A writer that
// keeps one beside its tenant reaches the AES-GCM state through one
// pointer less, and each is a cache miss when 64 tenants' writers take
// turns. It seals nothing once its key is destroyed.
type RecordSealer struct {
	key  *Key
	gen  Generation
	aead cipher.AEAD
}

// RecordSealer returns the sealer of k's events in the generation g.
func (k *Key) RecordSealer(g Generation) (RecordSealer, error) {
	aead, err := k.record(g)
	if err != nil {
		return RecordSealer{}, err
	}
	return RecordSealer{key: k, gen: g, aead: aead}, nil
}

// Seals reports whether s seals under k in the generation g.
func (s *RecordSealer) Seals(k *Key, g Generation) bool { return s.key == k && s.gen == g }

// Seal appends to dst the envelope of event sealed with the seal's
// counter, as the package's Seal does.
func (s *RecordSealer) Seal(dst []byte, counter uint64, event []byte) ([]byte, error) {
	k := s.key
	if k.gone.Load() {
		return nil, &ShreddedError{Tag: k.Tag, Key: k.ID}
	}
	start := len(dst)
	dst = append(dst, envelopeVersion)
	dst = append(dst, k.ID[:]...)
	dst = binary.AppendUvarint(dst, s.gen.Epoch)
	dst = binary.AppendUvarint(dst, s.gen.LSN)
	dst = binary.AppendUvarint(dst, counter)
	nonce := nonces.Get().(*[12]byte)
	defer nonces.Put(nonce)
	binary.LittleEndian.PutUint64(nonce[:], counter)
	return s.aead.Seal(dst, nonce[:], event, dst[start:]), nil
}

// nonces keeps nonce buffers: one passed to the AEAD's interface method
// escapes, and sealing or opening every event would allocate one.
var nonces = sync.Pool{New: func() any { return new([12]byte) }}

// Ciphertext is how many of r's last bytes are ciphertext: a sealed
// event's AES-GCM output (the event and the tag), which no compressor
// shrinks (archive.Options.Opaque). Records of the other kinds, and
// sealed events that do not parse, have none. It authenticates nothing.
func Ciphertext(r wal.Record) int {
	if r.Kind != KindSealed {
		return 0
	}
	e, err := ParseEnvelope(r.Data)
	if err != nil {
		return 0
	}
	return len(r.Data) - e.header
}

// ParseEnvelope reads a sealed event's header, in any format. The
// envelope aliases b.
func ParseEnvelope(b []byte) (Envelope, error) {
	if len(b) < minHeader+tagSize {
		return Envelope{}, fmt.Errorf("%w: a sealed event of %d bytes, less than %d", ErrDamaged, len(b), minHeader+tagSize)
	}
	e := Envelope{raw: b}
	var err error
	switch b[0] {
	case envelopeVersion:
		copy(e.Key[:], b[1:9])
		e.header, err = e.readNumbers(b, fixedSize)
	case envelopeV2:
		copy(e.Tag[:], b[1:17])
		copy(e.Key[:], b[17:25])
		e.header, err = e.readNumbers(b, taggedSize)
	case envelopeV1:
		if len(b) < headerV1+tagSize {
			return Envelope{}, fmt.Errorf("%w: a sealed event of format 1 and %d bytes, less than %d", ErrDamaged, len(b), headerV1+tagSize)
		}
		copy(e.Tag[:], b[1:17])
		copy(e.Key[:], b[17:25])
		e.Gen = Generation{Epoch: binary.LittleEndian.Uint64(b[25:]), LSN: binary.LittleEndian.Uint64(b[33:])}
		e.Counter = binary.LittleEndian.Uint64(b[41:])
		e.header = headerV1
	default:
		return Envelope{}, fmt.Errorf("%w: sealed event format %d, this build reads %d to %d", ErrDamaged, b[0], envelopeV1, envelopeVersion)
	}
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: a sealed event's header has a malformed number: %v", ErrDamaged, err)
	}
	if len(b)-e.header < tagSize {
		return Envelope{}, fmt.Errorf("%w: a sealed event of %d bytes, less than its %d-byte header and the %d-byte tag", ErrDamaged, len(b), e.header, tagSize)
	}
	return e, nil
}

// readNumbers reads the generation and counter of formats 2 and 3,
// minimal uvarints from off, and returns where the header ends.
func (e *Envelope) readNumbers(b []byte, off int) (int, error) {
	d := binenc.Decoder{B: b, Off: off}
	e.Gen.Epoch = d.MinimalUvarint()
	e.Gen.LSN = d.MinimalUvarint()
	e.Counter = d.MinimalUvarint()
	return d.Off, d.Err
}

// tagged reports whether the envelope names its tenant's tag (formats 1
// and 2).
func (e Envelope) tagged() bool { return e.raw[0] != envelopeVersion }

// Open appends the event to dst once it authenticates under k, which
// must be the key the envelope names.
func (e Envelope) Open(dst []byte, k *Key) ([]byte, error) {
	if k.ID != e.Key || e.tagged() && k.Tag != e.Tag {
		return nil, errors.New("tenant: opening a sealed event with another tenant's key")
	}
	aead, err := k.record(e.Gen)
	if err != nil {
		return nil, err
	}
	nonce := nonces.Get().(*[12]byte)
	defer nonces.Put(nonce)
	binary.LittleEndian.PutUint64(nonce[:], e.Counter)
	out, err := aead.Open(dst, nonce[:], e.raw[e.header:], e.raw[:e.header])
	if err != nil {
		return nil, fmt.Errorf("%w: tenant %s, key %s, generation %d/%d, seal %d", ErrDamaged, k.Tag, e.Key, e.Gen.Epoch, e.Gen.LSN, e.Counter)
	}
	return out, nil
}
