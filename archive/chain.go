package archive

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"github.com/continuity-go/continuity/wal"
)

// The chain authenticates the set of archived objects, not only each
// object: c(0) is 32 zero bytes and
//
//	c(L) = SHA-256(c(L-1) || LSN || epoch || time in Unix ns || data)
//
// (the three integers as 8-byte little-endian) for an event (wal.KindEvent),
// and SHA-256(0x01 || kind || c(L-1) || ...) for a record of another kind,
// so that no record chains as one of another kind. It is a function of the history
// alone, independent of how its records are cut into objects. Every WAL
// object carries, sealed in its prefix, the chain before its first record
// (Prev) and after its last (End); a reader recomputes End from Prev over
// the records. Where one object follows another on the history, the later
// one's chain before its first record must equal the earlier one's after
// it: an object of another history (a deposed primary's tail in the same
// epoch, a restored copy of an old archive) does not link. A compacted
// object keeps the Prev of its first piece and the End of its last. The
// head object (head.go) seals the chain at the archive's newest record,
// the pin the chain before the first record retention kept, so a deleted
// first or last object shows too.
type chainHash [32]byte

// String is the first 8 bytes in hex, for messages.
func (c chainHash) String() string { return hex.EncodeToString(c[:8]) }

// chainer computes chain values; it reuses one SHA-256 state.
type chainer struct {
	h   hash.Hash
	hdr [24]byte
	sum []byte
}

func newChainer() *chainer { return &chainer{h: sha256.New(), sum: make([]byte, 0, sha256.Size)} }

// next returns the chain after rec, given the chain before it.
func (c *chainer) next(prev chainHash, rec wal.Record) chainHash {
	c.h.Reset()
	if rec.Kind != wal.KindEvent {
		c.h.Write([]byte{0x01, byte(rec.Kind)})
	}
	c.h.Write(prev[:])
	binary.LittleEndian.PutUint64(c.hdr[0:], uint64(rec.LSN))
	binary.LittleEndian.PutUint64(c.hdr[8:], rec.Epoch)
	binary.LittleEndian.PutUint64(c.hdr[16:], uint64(rec.Time.UnixNano()))
	c.h.Write(c.hdr[:])
	c.h.Write(rec.Data)
	var out chainHash
	copy(out[:], c.h.Sum(c.sum[:0]))
	return out
}

// over returns the chain after recs, given the chain before the first.
func (c *chainer) over(prev chainHash, recs []wal.Record) chainHash {
	for _, r := range recs {
		prev = c.next(prev, r)
	}
	return prev
}

// chainBefore is the chain before record lsn of the decoded object s:
// its sealed Prev at its first record, else hashed over the records
// before lsn.
func (s segment) chainBefore(c *chainer, lsn wal.LSN) chainHash {
	if lsn == s.name.First {
		return s.prev
	}
	return c.over(s.prev, s.recs[:lsn-s.name.First])
}

// chainAfter is the chain after record lsn of the decoded object s: its
// sealed End at its last record, else hashed over the records up to lsn.
func (s segment) chainAfter(c *chainer, lsn wal.LSN) chainHash {
	if lsn == s.name.Last {
		return s.end
	}
	return c.over(s.prev, s.recs[:lsn-s.name.First+1])
}
