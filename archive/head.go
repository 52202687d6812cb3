package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/continuity-go/continuity/internal/binenc"
	"github.com/continuity-go/continuity/wal"
)

// The head and the pin are small sealed objects that anchor both ends of
// the archive's history, so that deleting its newest or oldest objects,
// which no per-object check can see, shows:
//
//	wal/head/<seq>   the newest archived record: written by the archiver
//	                 as the archive grows, at most once per ShipInterval and
//	                 on Flush; the previous two are kept
//	wal/pin/<seq>    the first record the archive keeps: written when an
//	                 archiver starts an empty archive, and by retention
//	                 before it deletes WAL; the previous one is kept
//
// <seq> is 16 hex digits; a sequence number is written once and the
// newest one that authenticates counts. Bodies (sealed, no clear prefix,
// integers little-endian):
//
//	head: version (2), seq (8), epoch (8), LSN (8), record time ns (8),
//	      chain after LSN (32), written at ns (8)            = 74 bytes
//	pin:  version (2), seq (8), LSN (8), chain before LSN (32),
//	      written at ns (8)                                  = 58 bytes
const (
	headPrefix = archivePrefix + "head/"
	pinPrefix  = archivePrefix + "pin/"
	headSize   = 74
	pinSize    = 58
	// maxAnchorReads bounds how many head or pin names are read,
	// newest first, looking for one that authenticates: names planted
	// above the real ones cannot make a reader download without end.
	maxAnchorReads = 16
	// keepAnchors is how many older heads or pins are kept besides the
	// newest.
	keepAnchors = 2
)

// head says how far the archive reached when it was written.
type head struct {
	Seq     uint64
	Epoch   uint64    // epoch of the archiver that wrote it
	LSN     wal.LSN   // the newest record archived, every one before it too
	Time    time.Time // that record's time
	Chain   chainHash // the chain after it
	Written time.Time // when the head was written
}

// pin says where the archive's retained history starts.
type pin struct {
	Seq     uint64
	LSN     wal.LSN   // the first record the archive keeps
	Prev    chainHash // the chain before it
	Written time.Time
}

func anchorName(prefix string, seq uint64) string { return fmt.Sprintf("%s%016x", prefix, seq) }

// parseAnchorName parses wal/head/<seq> or wal/pin/<seq> under prefix.
func parseAnchorName(prefix, name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok || len(s) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 16, 64)
	return seq, err == nil
}

func encodeHead(h head) []byte {
	e := binenc.Encoder{B: make([]byte, 0, headSize)}
	e.U16(archiveVersion)
	e.U64(h.Seq)
	e.U64(h.Epoch)
	e.U64(uint64(h.LSN))
	e.U64(uint64(h.Time.UnixNano()))
	e.Raw(h.Chain[:])
	e.U64(uint64(h.Written.UnixNano()))
	return e.B
}

func decodeHead(seq uint64, b []byte) (head, error) {
	var h head
	d := binenc.Decoder{B: b}
	if v := d.U16(); d.Err == nil && v != archiveVersion {
		return h, fmt.Errorf("archive format version %d, this build reads %d", v, archiveVersion)
	}
	h.Seq, h.Epoch, h.LSN = d.U64(), d.U64(), wal.LSN(d.U64())
	h.Time = time.Unix(0, int64(d.U64()))
	copy(h.Chain[:], d.Take(len(h.Chain)))
	h.Written = time.Unix(0, int64(d.U64()))
	if err := d.Done(); err != nil {
		return h, err
	}
	if h.Seq != seq {
		return h, fmt.Errorf("sequence number %d under the name of %d", h.Seq, seq)
	}
	return h, nil
}

func encodePin(p pin) []byte {
	e := binenc.Encoder{B: make([]byte, 0, pinSize)}
	e.U16(archiveVersion)
	e.U64(p.Seq)
	e.U64(uint64(p.LSN))
	e.Raw(p.Prev[:])
	e.U64(uint64(p.Written.UnixNano()))
	return e.B
}

func decodePin(seq uint64, b []byte) (pin, error) {
	var p pin
	d := binenc.Decoder{B: b}
	if v := d.U16(); d.Err == nil && v != archiveVersion {
		return p, fmt.Errorf("archive format version %d, this build reads %d", v, archiveVersion)
	}
	p.Seq, p.LSN = d.U64(), wal.LSN(d.U64())
	copy(p.Prev[:], d.Take(len(p.Prev)))
	p.Written = time.Unix(0, int64(d.U64()))
	if err := d.Done(); err != nil {
		return p, err
	}
	switch {
	case p.Seq != seq:
		return p, fmt.Errorf("sequence number %d under the name of %d", p.Seq, seq)
	case p.LSN == 0:
		return p, errors.New("pins LSN 0")
	}
	return p, nil
}

// anchors is what a listing of heads or pins found.
type anchors struct {
	seqs []uint64 // every parsable name, ascending
	// bad lists names above the newest authentic one that did not
	// authenticate (planted or damaged), each an *ObjectError.
	bad []error
}

// readNewest lists prefix and reads its objects newest first until one
// authenticates and decodes; found is false if none does among the
// newest maxAnchorReads. Storage errors other than a missing object are
// returned.
func readNewest[T any](ctx context.Context, store Store, prefix string, maxBody int, decode func(uint64, []byte) (T, error)) (v T, found bool, a anchors, err error) {
	objs, err := store.ListObjects(ctx, prefix, "")
	if err != nil {
		return v, false, a, fmt.Errorf("archive: list %s: %w", prefix, err)
	}
	for _, o := range objs {
		if seq, ok := parseAnchorName(prefix, o.Name); ok {
			a.seqs = append(a.seqs, seq)
		}
	}
	slices.Sort(a.seqs)
	for i := len(a.seqs) - 1; i >= 0 && i >= len(a.seqs)-maxAnchorReads; i-- {
		name := anchorName(prefix, a.seqs[i])
		_, body, err := store.GetSealed(ctx, name, 0, int64(maxBody))
		if err == nil {
			if v, err = decode(a.seqs[i], body); err == nil {
				return v, true, a, nil
			}
			err = &ObjectError{Object: name, Err: ErrCorrupt, Detail: err.Error()}
		}
		err = archiveErr(name, 0, err)
		var oe *ObjectError
		if !errors.As(err, &oe) || oe.Err != ErrCorrupt && oe.Err != ErrGap {
			return v, false, a, err
		}
		if oe.Err == ErrCorrupt {
			a.bad = append(a.bad, err)
		}
	}
	return v, false, a, nil
}

func readHead(ctx context.Context, store Store) (head, bool, anchors, error) {
	return readNewest(ctx, store, headPrefix, headSize, decodeHead)
}

func readPin(ctx context.Context, store Store) (pin, bool, anchors, error) {
	return readNewest(ctx, store, pinPrefix, pinSize, decodePin)
}

// writeAnchor writes body (made by enc for a sequence number) under the
// first free sequence number after after; a name that exists (a writer
// racing, or one planted) moves it on. It returns the sequence number
// written.
func writeAnchor(ctx context.Context, store Store, prefix string, after uint64, enc func(seq uint64) []byte) (uint64, error) {
	seq := after + 1
	for tries := 0; ; tries++ {
		if seq == 0 || seq >= 1<<63 {
			return 0, fmt.Errorf("archive: no free sequence number under %s (names up to %016x exist; remove planted ones)", prefix, after)
		}
		name := anchorName(prefix, seq)
		_, err := store.PutSealed(ctx, name, nil, enc(seq))
		if err == nil {
			return seq, nil
		}
		if !isExists(err) || tries == maxAnchorReads {
			return 0, fmt.Errorf("archive: write %s: %w", name, err)
		}
		seq++
	}
}

// dropAnchors deletes the objects under prefix with a sequence number
// below keepFrom: older heads or pins, or names planted below them.
func dropAnchors(ctx context.Context, store Store, prefix string, seqs []uint64, keepFrom uint64) error {
	for _, s := range seqs {
		if s >= keepFrom {
			break
		}
		if err := store.DeleteObject(ctx, anchorName(prefix, s)); err != nil {
			return err
		}
	}
	return nil
}
