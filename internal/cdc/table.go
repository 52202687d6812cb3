package cdc

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
)

// tableInfo is the HKDF info string that derives a gear table from a seed.
// It is part of the on-disk format (it decides chunk boundaries) and must
// not be changed.
const tableInfo = "continuity cdc gear table v1"

// Table is the gear table: one random 64-bit value per byte value, added
// into the rolling hash for each byte of input. Boundaries depend on it, so
// a repository keeps the seed of its table secret and fixed for its life:
// see the package documentation's security note.
type Table [256]uint64

// NewTable derives a gear table from a 32-byte secret seed with
// HKDF-SHA-256 (RFC 5869, empty salt, info "continuity cdc gear table v1"),
// reading the table's 256 entries as little-endian uint64s from the 2048
// bytes of output. The same seed always gives the same table; the
// derivation is part of the on-disk format. A repository should draw its
// seed from crypto/rand when it is created and store it with its other
// keys.
func NewTable(seed [32]byte) *Table {
	out, err := hkdf.Key(sha256.New, seed[:], nil, tableInfo, 256*8)
	if err != nil {
		// hkdf.Key fails only for outputs longer than 255 hash blocks.
		panic("cdc: derive gear table: " + err.Error())
	}
	var t Table
	for i := range t {
		t[i] = binary.LittleEndian.Uint64(out[8*i:])
	}
	return &t
}
