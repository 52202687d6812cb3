package snapshot

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
)

// On-disk format constants. They are part of the repository format and
// must not be changed; a change needs a new format version.
const (
	// magic starts every object the repository writes.
	magic = "\x89CSNAP\r\n"

	// formatVersion is the version this build writes; minVersion and
	// maxVersion the range it reads.
	formatVersion uint16 = 1
	minVersion    uint16 = 1
	maxVersion    uint16 = 1

	// headerSize is the common object header: magic (8), version (2),
	// kind (1), reserved zero (5), salt (32). The per-object key is
	// derived from the salt, and the whole header is authenticated as
	// additional data.
	headerSize = 48
	saltSize   = 32

	repoIDSize = 16
	// IDSize is the size of a chunk or tree blob ID.
	blobIDSize = 32
	// SnapshotIDSize is the size of a snapshot ID.
	snapIDSize = 16

	tagSize   = 16 // AES-GCM tag
	nonceSize = 12

	// maxChunk bounds one stored blob (chunk or tree block).
	maxChunk = 64 << 20
	// maxRootIDs bounds the IDs stored in a manifest's root.
	maxRootIDs = 1 << 16
)

// Object kinds, stored in the header byte at offset 10.
const (
	kindConfig   byte = 1
	kindKey      byte = 2
	kindPack     byte = 3
	kindIndex    byte = 4
	kindManifest byte = 5
	kindLock     byte = 6
)

// Codecs, recorded per blob so an archive tier can recompress.
const (
	codecRaw  byte = 0
	codecLZ4  byte = 1
	codecZstd byte = 2
)

// Blob types within packs.
const (
	blobData byte = 1 // a chunk of the state stream
	blobTree byte = 2 // a block of the chunk list
)

// Object name prefixes within the repository's bucket (or prefix).
const (
	configName   = "config"
	keysPrefix   = "keys/"
	dataPrefix   = "data/"
	indexPrefix  = "index/"
	snapsPrefix  = "snapshots/"
	locksPrefix  = "locks/"
	objNameBytes = 16 // random object names: 16 bytes, 32 hex digits
)

// blobID is the keyed hash identifying a chunk or tree block.
type blobID [blobIDSize]byte

func (id blobID) String() string { return hex.EncodeToString(id[:]) }

// key64 projects an ID on 64 bits for hash tables. IDs are outputs of a
// keyed hash, so any 8 bytes are uniformly distributed; equality is
// always decided on all 32 bytes.
func (id blobID) key64() uint64 { return binary.LittleEndian.Uint64(id[:8]) }

// ID names a snapshot: 16 random bytes, shown as 32 hex digits.
type ID [snapIDSize]byte

// String returns the ID as 32 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, as listings show it.
func (id ID) Short() string { return id.String()[:8] }

// IsZero reports whether id is the zero ID (no snapshot).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the 32 hex digits ID.String returns.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*snapIDSize {
		return id, fmt.Errorf("snapshot: ID %q: want %d hex digits", s, 2*snapIDSize)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("snapshot: ID %q: %w", s, err)
	}
	return id, nil
}

func packName(id [objNameBytes]byte) string {
	h := hex.EncodeToString(id[:])
	return dataPrefix + h[:2] + "/" + h
}

// errShort is the decoder's error for input that ends too early.
var errShort = errors.New("input too short")

// encoder appends little-endian fields to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) u8(v byte)      { e.b = append(e.b, v) }
func (e *encoder) u32(v uint32)   { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64)   { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) raw(p []byte)   { e.b = append(e.b, p...) }
func (e *encoder) bytes(p []byte) { e.u32(uint32(len(p))); e.b = append(e.b, p...) }
func (e *encoder) str(s string)   { e.u32(uint32(len(s))); e.b = append(e.b, s...) }

// decoder reads little-endian fields, bounds-checking every length
// against the bytes left before anything is allocated. The first error
// sticks; later reads return zero values.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("offset %d: %w", d.off, err)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(errShort)
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u8() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// count reads a u32 element count and checks that count elements of at
// least minSize bytes each fit in what is left and that count <= max.
func (d *decoder) count(minSize, max int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		d.fail(fmt.Errorf("count %d exceeds limit %d", n, max))
		return 0
	}
	if minSize > 0 && uint64(n)*uint64(minSize) > uint64(len(d.b)-d.off) {
		d.fail(fmt.Errorf("count %d: %w", n, errShort))
		return 0
	}
	return int(n)
}

// bytes reads a u32-length-prefixed byte string of at most max bytes. The
// result aliases the input.
func (d *decoder) bytes(max int) []byte {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		d.fail(fmt.Errorf("length %d exceeds limit %d", n, max))
		return nil
	}
	return d.take(int(n))
}

func (d *decoder) str(max int) string { return string(d.bytes(max)) }

// done reports the sticky error, or an error if bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail(fmt.Errorf("%d trailing bytes", len(d.b)-d.off))
	}
	return d.err
}

// header is the common 48-byte object header.
type header struct {
	version uint16
	kind    byte
	salt    [saltSize]byte
}

func (h header) append(b []byte) []byte {
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint16(b, h.version)
	b = append(b, h.kind, 0, 0, 0, 0, 0)
	return append(b, h.salt[:]...)
}

// parseHeader checks magic, version range, kind and the reserved bytes of
// an object header.
func parseHeader(name string, b []byte, kind byte) (header, error) {
	var h header
	if len(b) < headerSize {
		return h, objErr(name, -1, fmt.Errorf("%w: %d bytes, shorter than a header", ErrTruncated, len(b)))
	}
	if string(b[:8]) != magic {
		return h, corrupt(name, 0, "bad magic")
	}
	h.version = binary.LittleEndian.Uint16(b[8:])
	if h.version < minVersion || h.version > maxVersion {
		return h, &VersionError{Object: name, Version: h.version, Min: minVersion, Max: maxVersion}
	}
	h.kind = b[10]
	if h.kind != kind {
		return h, corrupt(name, 10, fmt.Sprintf("object kind %d, want %d", h.kind, kind))
	}
	for i := 11; i < 16; i++ {
		if b[i] != 0 {
			return h, corrupt(name, int64(i), "reserved header byte not zero")
		}
	}
	copy(h.salt[:], b[16:headerSize])
	return h, nil
}

func checkedInt(v uint64, max int) (int, bool) {
	if v > uint64(max) || v > math.MaxInt {
		return 0, false
	}
	return int(v), true
}
