package wal

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
)

// On-disk format. Everything in this block is part of the segment file
// format and must not change without a new format version.
const (
	// segmentMagic starts every segment file. The high byte and the CR LF
	// / ^Z sequence catch files mangled by text-mode transfers, as PNG's
	// signature does.
	segmentMagic = "\x89CWAL\r\n\x1a"

	// formatVersion is the version of a segment in a file never used
	// before; recycledVersion that of a segment in a recycled file, whose
	// header names the salt of the frames left in it (prevSalt).
	formatVersion   uint16 = 1
	recycledVersion uint16 = 2
	// minFormatVersion and maxFormatVersion bound the versions this
	// package reads.
	minFormatVersion uint16 = 1
	maxFormatVersion uint16 = 2

	// segmentHeaderSize is the size of the segment header in bytes.
	segmentHeaderSize = 64
	// frameHeaderSize is the size of a frame header in bytes.
	frameHeaderSize = 48
	// frameAlign is the alignment of every frame within a segment. Aligned
	// frames let recovery probe every possible frame start after damage.
	frameAlign = 8

	// maxPayloadBytes bounds a payload length read from disk, whatever
	// Options.MaxRecordBytes says, so a corrupt length can never make the
	// decoder allocate more than this.
	maxPayloadBytes = 1 << 30

	// segmentSuffix is the file name suffix of segment files, whose names
	// are the first LSN as 16 zero-padded hex digits: name order is LSN
	// order.
	segmentSuffix = ".wal"
	// tmpSuffix marks files that are not (yet) part of the log: a
	// segment being rewritten or a preallocated spare. Open removes them.
	tmpSuffix = ".tmp"
	// lockName is the lock file that keeps a second process out.
	lockName = "LOCK"
)

// segmentHeader is the first segmentHeaderSize bytes of a segment file:
//
//	off size field
//	  0    8 magic       "\x89CWAL\r\n\x1a"
//	  8    2 version     format version (1, or 2 in a recycled file)
//	 10    2 flags       reserved, 0
//	 12    4 reserved    0
//	 16    8 first       LSN of the first record the segment holds
//	 24    8 epoch       the log's epoch when the segment was created
//	 32    8 salt        random per segment; seeds every frame checksum
//	 40    8 timeFloor   unix nanoseconds of the log's last record when the
//	                     segment was created (records never go below it)
//	 48    8 prevSalt    version 2: the salt of the frames the file held
//	                     before it was recycled (they follow this
//	                     segment's last frame: its clean end); version 1: 0
//	 56    8 checksum    xxhash64 of bytes [0, 56)
type segmentHeader struct {
	Version   uint16
	First     LSN
	Epoch     uint64
	Salt      uint64
	TimeFloor int64
	PrevSalt  uint64
}

// newSegmentHeader is the header of seg in a file whose earlier frames
// (if recycled) carry prevSalt.
func newSegmentHeader(seg *segment) segmentHeader {
	v := formatVersion
	if seg.prevSalt != 0 {
		v = recycledVersion
	}
	return segmentHeader{Version: v, First: seg.first, Epoch: seg.epoch, Salt: seg.salt, TimeFloor: seg.timeFloor, PrevSalt: seg.prevSalt}
}

func (h segmentHeader) encode() []byte {
	b := make([]byte, segmentHeaderSize)
	copy(b[0:8], segmentMagic)
	binary.LittleEndian.PutUint16(b[8:], h.Version)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.First))
	binary.LittleEndian.PutUint64(b[24:], h.Epoch)
	binary.LittleEndian.PutUint64(b[32:], h.Salt)
	binary.LittleEndian.PutUint64(b[40:], uint64(h.TimeFloor))
	binary.LittleEndian.PutUint64(b[48:], h.PrevSalt)
	binary.LittleEndian.PutUint64(b[56:], xxhash.Sum64(b[:56]))
	return b
}

// decodeSegmentHeader parses a segment header. It returns ErrBadHeader
// (wrapped) for a wrong magic, checksum or reserved field,
// io.ErrUnexpectedEOF if b is short, and a *VersionError for a version
// outside [minFormatVersion, maxFormatVersion].
func decodeSegmentHeader(b []byte) (segmentHeader, error) {
	if len(b) < segmentHeaderSize {
		return segmentHeader{}, io.ErrUnexpectedEOF
	}
	b = b[:segmentHeaderSize]
	if string(b[0:8]) != segmentMagic {
		return segmentHeader{}, fmt.Errorf("%w: bad magic %q", ErrBadHeader, b[0:8])
	}
	if got, want := binary.LittleEndian.Uint64(b[56:]), xxhash.Sum64(b[:56]); got != want {
		return segmentHeader{}, fmt.Errorf("%w: header checksum %016x, want %016x", ErrBadHeader, got, want)
	}
	h := segmentHeader{
		Version:   binary.LittleEndian.Uint16(b[8:]),
		First:     LSN(binary.LittleEndian.Uint64(b[16:])),
		Epoch:     binary.LittleEndian.Uint64(b[24:]),
		Salt:      binary.LittleEndian.Uint64(b[32:]),
		TimeFloor: int64(binary.LittleEndian.Uint64(b[40:])),
		PrevSalt:  binary.LittleEndian.Uint64(b[48:]),
	}
	if h.Version < minFormatVersion || h.Version > maxFormatVersion {
		return segmentHeader{}, &VersionError{Version: h.Version}
	}
	if binary.LittleEndian.Uint16(b[10:]) != 0 || binary.LittleEndian.Uint32(b[12:]) != 0 || h.Version < recycledVersion && h.PrevSalt != 0 {
		return segmentHeader{}, fmt.Errorf("%w: reserved fields set", ErrBadHeader)
	}
	if h.First == 0 {
		return segmentHeader{}, fmt.Errorf("%w: first LSN 0", ErrBadHeader)
	}
	return h, nil
}

// Frame layout. Frames follow the segment header back to back, each
// starting at a multiple of frameAlign:
//
//	off size field
//	  0    8 checksum   xxhash64 seeded with the segment salt, over bytes
//	                    [8, 48) of the header and the payload
//	  8    4 length     payload length in bytes
//	 12    4 flags      bits 0-7: the record's Kind; bits 8-31
//	                    reserved, 0
//	 16    8 lsn
//	 24    8 epoch
//	 32    8 time       unix nanoseconds
//	 40    8 committed  highest LSN known durable when the frame was
//	                    written; recovery uses it to tell a torn tail
//	                    from damage to acknowledged records
//	 48    n payload
//	       p zero padding to the next multiple of frameAlign
//
// A frame header of all zeros (the content of preallocated space) never
// decodes as a frame: LSN 0 does not exist.
type frameHeader struct {
	Sum       uint64
	Length    uint32
	LSN       LSN
	Epoch     uint64
	Nanos     int64
	Kind      Kind
	Committed LSN
}

// frameSize is the number of segment bytes a frame with an n-byte payload
// occupies, padding included.
func frameSize(n int) int64 {
	return frameHeaderSize + (int64(n)+frameAlign-1)&^(frameAlign-1)
}

// appendFrame appends the encoded frame to dst. d is scratch state.
func appendFrame(dst []byte, d *xxhash.Digest, salt uint64, h frameHeader, payload []byte) []byte {
	start := len(dst)
	size := int(frameSize(len(payload)))
	dst = grow(dst, size)
	b := dst[start : start+size]
	binary.LittleEndian.PutUint32(b[8:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[12:], uint32(h.Kind))
	binary.LittleEndian.PutUint64(b[16:], uint64(h.LSN))
	binary.LittleEndian.PutUint64(b[24:], h.Epoch)
	binary.LittleEndian.PutUint64(b[32:], uint64(h.Nanos))
	binary.LittleEndian.PutUint64(b[40:], uint64(h.Committed))
	n := copy(b[frameHeaderSize:], payload)
	clear(b[frameHeaderSize+n:])
	binary.LittleEndian.PutUint64(b[0:], frameSum(d, salt, b[8:frameHeaderSize], payload))
	return dst
}

func frameSum(d *xxhash.Digest, salt uint64, hdr, payload []byte) uint64 {
	d.ResetWithSeed(salt)
	_, _ = d.Write(hdr)
	_, _ = d.Write(payload)
	return d.Sum64()
}

// grow extends b by n bytes, reallocating if needed.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// parseFrameHeader reads the fixed fields of a frame header and the
// flags' reserved bits without checking anything. b must hold
// frameHeaderSize bytes.
func parseFrameHeader(b []byte) (frameHeader, uint32) {
	flags := binary.LittleEndian.Uint32(b[12:])
	return frameHeader{
		Sum:       binary.LittleEndian.Uint64(b[0:]),
		Length:    binary.LittleEndian.Uint32(b[8:]),
		LSN:       LSN(binary.LittleEndian.Uint64(b[16:])),
		Epoch:     binary.LittleEndian.Uint64(b[24:]),
		Nanos:     int64(binary.LittleEndian.Uint64(b[32:])),
		Kind:      Kind(flags),
		Committed: LSN(binary.LittleEndian.Uint64(b[40:])),
	}, flags &^ 0xff
}

// decodeFrame decodes the frame at the start of b. It returns the header,
// the payload (aliasing b) and the frame's size in bytes. Errors:
//
//   - io.EOF: b is empty (a clean end);
//   - errZeroFrame: the header is all zeros (preallocated space, or a
//     sector that was never written);
//   - io.ErrUnexpectedEOF: b ends inside the frame;
//   - ErrFrameLength: the length exceeds maxPayloadBytes;
//   - ErrChecksum: the checksum, flags or LSN field is wrong.
//
// It never allocates and never reads past len(b).
func decodeFrame(b []byte, d *xxhash.Digest, salt uint64) (frameHeader, []byte, int64, error) {
	if len(b) == 0 {
		return frameHeader{}, nil, 0, io.EOF
	}
	if len(b) < frameHeaderSize {
		if allZero(b) {
			return frameHeader{}, nil, 0, errZeroFrame
		}
		return frameHeader{}, nil, 0, io.ErrUnexpectedEOF
	}
	h, reserved := parseFrameHeader(b)
	if h.LSN == 0 && allZero(b[:frameHeaderSize]) {
		return frameHeader{}, nil, 0, errZeroFrame
	}
	if h.Length > maxPayloadBytes {
		return h, nil, 0, fmt.Errorf("%w: %d bytes", ErrFrameLength, h.Length)
	}
	size := frameSize(int(h.Length))
	if int64(len(b)) < size {
		return h, nil, 0, io.ErrUnexpectedEOF
	}
	payload := b[frameHeaderSize : frameHeaderSize+int(h.Length)]
	if sum := frameSum(d, salt, b[8:frameHeaderSize], payload); sum != h.Sum {
		return h, nil, 0, fmt.Errorf("%w: frame checksum %016x, want %016x", ErrChecksum, h.Sum, sum)
	}
	if reserved != 0 || h.LSN == 0 {
		return h, nil, 0, fmt.Errorf("%w: invalid header fields", ErrChecksum)
	}
	if !allZero(b[frameHeaderSize+int(h.Length) : size]) {
		// Padding is not checksummed but must be zero, so that damage
		// there is noticed and a frame has exactly one encoding.
		return h, nil, 0, fmt.Errorf("%w: non-zero padding", ErrChecksum)
	}
	return h, payload, size, nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
