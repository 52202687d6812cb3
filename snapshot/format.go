package snapshot

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/continuity-go/continuity/internal/binenc"
	"math"
)

// On-disk format constants. They are part of the repository format and
// must not be changed; a change needs a new format version.
const (
	// magic starts every object the repository writes.
	magic = "\x89CSNAP\r\n"

	// Object versions. 1: the first format. 2: the header carries the
	// key epoch (bytes 11-14) and index bodies carry each pack's epoch;
	// packs are written as version 1 under epoch 0 and 2 after a
	// rotation. 3 (piecesVersion, pieces.go): objects sealed by
	// sealObject and PutSealed, body sealed in pieces. minVersion and
	// maxVersion are the range of the single-piece formats this build
	// reads.
	formatVersion uint16 = 1
	epochVersion  uint16 = 2
	minVersion    uint16 = 1
	maxVersion    uint16 = 2

	// slotVersion is the newest key slot format: version 2
	// authenticates the slot's metadata (kind, label, created, params)
	// with a MAC under the master key; version 3 wraps a key set instead
	// of the master key (epochs.go) and is written once the master key
	// was rotated (a never-rotated repository keeps writing version 2,
	// which older builds open); version 1 slots, with no MAC, are still
	// read. Key slots have their own range because a slot is rewritten
	// on its own (AddKey, RotateKey), never with the rest of the
	// repository.
	slotVersion    uint16 = 3
	minSlotVersion uint16 = 1
	maxSlotVersion uint16 = 3

	// headerSize is the common object header: magic (8), version (2),
	// kind (1), key epoch (4, uint32; zero in version 1 and in key
	// slots), reserved zero (1), salt (32). The per-object key is derived
	// from the epoch's key and the salt, and the whole header is
	// authenticated as additional data.
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
	// kindTombstone is the object DestroyKeys leaves (tombstoneName):
	// header | repository ID (16) | destroyed at, uint64 Unix
	// nanoseconds | xxhash64 of everything before it. Nothing in it is
	// secret or sealed; it only tells Open why nothing opens.
	kindTombstone byte = 8
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
	configName = "config"
	// tombstoneName is the object DestroyKeys writes after deleting
	// every key slot (kindTombstone).
	tombstoneName = "destroyed"
	keysPrefix    = "keys/"
	dataPrefix    = "data/"
	indexPrefix   = "index/"
	snapsPrefix   = "snapshots/"
	locksPrefix   = "locks/"
	objNameBytes  = 16 // random object names: 16 bytes, 32 hex digits
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

// encoder and decoder are the package's names for binenc's.
type (
	encoder = binenc.Encoder
	decoder = binenc.Decoder
)

// header is the common 48-byte object header.
type header struct {
	version uint16
	kind    byte
	epoch   uint32 // the key epoch the object is sealed under
	salt    [saltSize]byte
}

// sealedHeader is the header of a pack sealed under epoch: version 1
// for epoch 0 (as older builds wrote), 2 after.
func sealedHeader(kind byte, epoch uint32, salt [saltSize]byte) header {
	v := formatVersion
	if epoch > 0 {
		v = epochVersion
	}
	return header{version: v, kind: kind, epoch: epoch, salt: salt}
}

func (h header) append(b []byte) []byte {
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint16(b, h.version)
	b = append(b, h.kind)
	b = binary.LittleEndian.AppendUint32(b, h.epoch)
	b = append(b, 0)
	return append(b, h.salt[:]...)
}

// parseHeader checks magic, version range, kind and the reserved bytes of
// an object header.
func parseHeader(name string, b []byte, kind byte) (header, error) {
	hi := maxVersion
	if kind != kindPack && kind != kindKey && kind != kindTombstone {
		hi = piecesVersion // sealed in pieces (pieces.go)
	}
	return parseHeaderRange(name, b, kind, minVersion, hi)
}

// parseHeaderRange is parseHeader for objects read in versions [lo, hi].
func parseHeaderRange(name string, b []byte, kind byte, lo, hi uint16) (header, error) {
	var h header
	if len(b) < headerSize {
		return h, objErr(name, -1, fmt.Errorf("%w: %d bytes, shorter than a header", ErrTruncated, len(b)))
	}
	if string(b[:8]) != magic {
		return h, corrupt(name, 0, "bad magic")
	}
	h.version = binary.LittleEndian.Uint16(b[8:])
	if h.version < lo || h.version > hi {
		return h, &VersionError{Object: name, Version: h.version, Min: lo, Max: hi}
	}
	h.kind = b[10]
	if h.kind != kind {
		return h, corrupt(name, 10, fmt.Sprintf("object kind %d, want %d", h.kind, kind))
	}
	h.epoch = binary.LittleEndian.Uint32(b[11:])
	if h.epoch != 0 && (h.version < epochVersion || kind == kindKey || kind == kindTombstone) {
		return h, corrupt(name, 11, "key epoch set in an object that has none")
	}
	if b[15] != 0 {
		return h, corrupt(name, 15, "reserved header byte not zero")
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
