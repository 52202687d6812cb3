// Package binenc encodes and decodes the little-endian fields of the
// on-disk and on-wire formats (snapshot objects, replication frames).
// The Decoder bounds-checks every length against the bytes left before
// anything is allocated, and never panics.
package binenc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort is the Decoder's cause for input that ends too early.
var ErrShort = errors.New("input too short")

// Encoder appends little-endian fields to B.
type Encoder struct{ B []byte }

// U8 appends a byte.
func (e *Encoder) U8(v byte) { e.B = append(e.B, v) }

// U16 appends a uint16.
func (e *Encoder) U16(v uint16) { e.B = binary.LittleEndian.AppendUint16(e.B, v) }

// U32 appends a uint32.
func (e *Encoder) U32(v uint32) { e.B = binary.LittleEndian.AppendUint32(e.B, v) }

// U64 appends a uint64.
func (e *Encoder) U64(v uint64) { e.B = binary.LittleEndian.AppendUint64(e.B, v) }

// Raw appends p as it is.
func (e *Encoder) Raw(p []byte) { e.B = append(e.B, p...) }

// Bytes appends p with a uint32 length prefix.
func (e *Encoder) Bytes(p []byte) { e.U32(uint32(len(p))); e.B = append(e.B, p...) }

// Str appends s with a uint32 length prefix.
func (e *Encoder) Str(s string) { e.U32(uint32(len(s))); e.B = append(e.B, s...) }

// Decoder reads little-endian fields from B starting at Off. The first
// error sticks (Err, naming the offset); later reads return zero values.
type Decoder struct {
	B   []byte
	Off int
	Err error
}

// Fail records err (the first one only), with the current offset.
func (d *Decoder) Fail(err error) {
	if d.Err == nil {
		d.Err = fmt.Errorf("offset %d: %w", d.Off, err)
	}
}

// Left is how many bytes are not read yet.
func (d *Decoder) Left() int { return len(d.B) - d.Off }

// Take returns the next n bytes (aliasing B), or nil after an error.
func (d *Decoder) Take(n int) []byte {
	if d.Err != nil {
		return nil
	}
	if n < 0 || n > d.Left() {
		d.Fail(ErrShort)
		return nil
	}
	p := d.B[d.Off : d.Off+n]
	d.Off += n
	return p
}

// U8 reads a byte.
func (d *Decoder) U8() byte {
	if p := d.Take(1); p != nil {
		return p[0]
	}
	return 0
}

// U16 reads a uint16.
func (d *Decoder) U16() uint16 {
	if p := d.Take(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

// U32 reads a uint32.
func (d *Decoder) U32() uint32 {
	if p := d.Take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

// U64 reads a uint64.
func (d *Decoder) U64() uint64 {
	if p := d.Take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// Count reads a uint32 element count and checks that it is at most max
// and that count elements of at least minSize bytes each fit in what is
// left, so a caller may allocate for it.
func (d *Decoder) Count(minSize, max int) int {
	n := d.U32()
	if d.Err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		d.Fail(fmt.Errorf("count %d exceeds limit %d", n, max))
		return 0
	}
	if minSize > 0 && uint64(n)*uint64(minSize) > uint64(d.Left()) {
		d.Fail(fmt.Errorf("count %d: %w", n, ErrShort))
		return 0
	}
	return int(n)
}

// Bytes reads a uint32-length-prefixed byte string of at most max bytes,
// aliasing B.
func (d *Decoder) Bytes(max int) []byte {
	n := d.U32()
	if d.Err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		d.Fail(fmt.Errorf("length %d exceeds limit %d", n, max))
		return nil
	}
	return d.Take(int(n))
}

// Str reads a uint32-length-prefixed string of at most max bytes.
func (d *Decoder) Str(max int) string { return string(d.Bytes(max)) }

// Done returns the sticky error, or an error if bytes are left over.
func (d *Decoder) Done() error {
	if d.Err == nil && d.Off != len(d.B) {
		d.Fail(fmt.Errorf("%d trailing bytes", len(d.B)-d.Off))
	}
	return d.Err
}

// Uvarint appends v as an unsigned varint.
func (e *Encoder) Uvarint(v uint64) { e.B = binary.AppendUvarint(e.B, v) }

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	if d.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.B[d.Off:])
	if n <= 0 {
		if n == 0 {
			d.Fail(ErrShort)
		} else {
			d.Fail(errors.New("varint overflows 64 bits"))
		}
		return 0
	}
	d.Off += n
	return v
}

// UvarintLen is how many bytes Encoder.Uvarint appends for v.
func UvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// MinimalUvarint reads an unsigned varint that must be in its shortest
// form, for formats where one value has one encoding.
func (d *Decoder) MinimalUvarint() uint64 {
	start := d.Off
	v := d.Uvarint()
	if d.Err == nil && d.Off-start != UvarintLen(v) {
		d.Off = start
		d.Fail(errors.New("varint not in its shortest form"))
		return 0
	}
	return v
}
