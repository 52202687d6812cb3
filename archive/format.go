package archive

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/continuity-go/continuity/internal/binenc"
	"github.com/continuity-go/continuity/wal"
)

// Archive format constants: part of the archive format, not to be changed
// without a new archiveVersion.
const (
	archivePrefix  = "wal/"
	timelineName   = "timeline"
	archiveVersion = 2 // of the timeline, head and pin objects
	// segVersion is the newest format of WAL objects. Version 4 stores
	// the records' opaque tails (Options.Opaque) uncompressed after the
	// body's encoded stream, and is written only for objects that have
	// any; version 3 (the others) stores each record's kind; version 2
	// objects (still read) hold events only.
	segVersion    = 4
	segVersion3   = 3
	minSegVersion = 2

	// segPrefixSize is the clear, authenticated prefix of a WAL object,
	// integers little-endian:
	//
	//	off  size  field
	//	  0     2  format version (4 or 3; 2 is read)
	//	  2     1  codec of the record stream: 0 raw, 1 lz4 block
	//	  3     1  reserved, 0
	//	  4     4  record count
	//	  8     8  epoch of the timeline that wrote the object
	//	 16     8  first LSN
	//	 24     8  last LSN
	//	 32     8  first record's time, Unix ns
	//	 40     8  last record's time, Unix ns
	//	 48     4  record stream's raw (decoded) length
	//	 52     4  version 4: opaque bytes (> 0); before: reserved, 0
	//	 56    32  chain before the first record (Prev, see chain.go)
	//	 88    32  chain after the last record (End)
	//
	// The body is the record stream, encoded by the codec, then (version
	// 4) the opaque bytes as they are. The stream holds per record, as
	// uvarints: its epoch, its time less the previous record's (the
	// first's: less the object's first time), its kind (version 3 on),
	// its data's length, (version 4) how many of its data's last bytes
	// are opaque; then the data less those, which follow in the opaque
	// bytes in record order.
	segPrefixSize = 120

	codecRaw = 0
	codecLZ4 = 1

	// maxSegmentBytes bounds an archived object's decoded body, so a
	// planted object cannot make a reader allocate without bound.
	maxSegmentBytes = 1 << 30
	// maxTimelineBytes bounds a timeline object.
	maxTimelineBytes = 1 << 20
	maxTimelineLen   = 1 << 16
)

// segName is the parsed name of an archived WAL object:
// wal/<epoch>/<first>-<last>-<first time>-<last time>, each field 16 hex
// digits (times in Unix nanoseconds), so names sort by epoch, then LSN.
// The epoch is that of the timeline that archived the object (records
// inside may carry older epochs: a promoted standby archives what it
// inherited).
type segName struct {
	Epoch       uint64
	First, Last wal.LSN
	FirstNanos  int64
	LastNanos   int64
}

func (n segName) String() string {
	return fmt.Sprintf("%s%016x/%016x-%016x-%016x-%016x", archivePrefix, n.Epoch, uint64(n.First), uint64(n.Last), uint64(n.FirstNanos), uint64(n.LastNanos))
}

func timelineObject(epoch uint64) string {
	return fmt.Sprintf("%s%016x/%s", archivePrefix, epoch, timelineName)
}

// parseArchiveName parses an object name under wal/: a WAL object
// (isTimeline false) or a timeline object. Names that are neither give an
// error.
func parseArchiveName(name string) (n segName, isTimeline bool, err error) {
	rest, ok := strings.CutPrefix(name, archivePrefix)
	if !ok {
		return n, false, fmt.Errorf("not under %s", archivePrefix)
	}
	dir, file, ok := strings.Cut(rest, "/")
	if !ok || len(dir) != 16 {
		return n, false, fmt.Errorf("want %s<epoch>/<object>", archivePrefix)
	}
	if n.Epoch, err = strconv.ParseUint(dir, 16, 64); err != nil {
		return n, false, fmt.Errorf("epoch %q: not 16 hex digits", dir)
	}
	if file == timelineName {
		return n, true, nil
	}
	f := strings.Split(file, "-")
	if len(f) != 4 {
		return n, false, fmt.Errorf("want <first>-<last>-<first time>-<last time>")
	}
	var v [4]uint64
	for i, s := range f {
		if len(s) != 16 {
			return n, false, fmt.Errorf("field %q: not 16 hex digits", s)
		}
		if v[i], err = strconv.ParseUint(s, 16, 64); err != nil {
			return n, false, fmt.Errorf("field %q: not 16 hex digits", s)
		}
	}
	n.First, n.Last, n.FirstNanos, n.LastNanos = wal.LSN(v[0]), wal.LSN(v[1]), int64(v[2]), int64(v[3])
	if n.First == 0 || n.Last < n.First || n.LastNanos < n.FirstNanos {
		return n, false, fmt.Errorf("impossible range %d-%d", n.First, n.Last)
	}
	return n, false, nil
}

// segment is an encoded or decoded WAL object.
type segment struct {
	name         segName
	prefix, body []byte       // encoded: the clear prefix and the body to seal
	recs         []wal.Record // decoded: the records
	prev, end    chainHash    // the chain before the first record and after the last
	size         int64        // read: the prefix and body's bytes
}

// segEncoder is what encoding WAL objects keeps between objects: the
// compressor's tables, which bytes of a record are opaque, and a scratch
// list of them.
type segEncoder struct {
	comp   lz4.Compressor
	opaque func(wal.Record) int // Options.Opaque; nil: none
	tails  []int                // tailsOf's answer, reused
}

// tailsOf returns how many of each record's last bytes e stores
// uncompressed, and their sum; nil if none are (or e is nil).
func (e *segEncoder) tailsOf(recs []wal.Record) ([]int, int) {
	if e == nil || e.opaque == nil {
		return nil, 0
	}
	e.tails = e.tails[:0]
	total := 0
	for _, r := range recs {
		t := min(max(e.opaque(r), 0), len(r.Data))
		e.tails = append(e.tails, t)
		total += t
	}
	if total == 0 {
		return nil, 0
	}
	return e.tails, total
}

// encodeSegment builds the clear prefix and the body of a WAL object
// holding recs (contiguous LSNs, non-decreasing times), whose chain
// before the first record is prev. The record stream is lz4 compressed
// unless that does not make it smaller; records' opaque tails (enc's
// opaque, none if enc is nil) are not compressed: they make a version 4
// object, which holds them after the stream.
func encodeSegment(epoch uint64, prev chainHash, recs []wal.Record, enc *segEncoder) (segment, error) {
	if len(recs) == 0 {
		return segment{}, errors.New("archive: empty archive object")
	}
	n := segName{
		Epoch: epoch, First: recs[0].LSN, Last: recs[len(recs)-1].LSN,
		FirstNanos: recs[0].Time.UnixNano(), LastNanos: recs[len(recs)-1].Time.UnixNano(),
	}
	size := 0
	for _, r := range recs {
		size += len(r.Data) + 5*binaryMaxVarint
	}
	tails, opaqueLen := enc.tailsOf(recs)
	version := uint16(segVersion3)
	if tails != nil {
		version = segVersion
	}
	// Room for the whole data: a raw stream takes the tails after it
	// without growing.
	e := binenc.Encoder{B: make([]byte, 0, size)}
	prevT := n.FirstNanos
	for i, r := range recs {
		t := r.Time.UnixNano()
		if r.LSN != n.First+wal.LSN(i) || t < prevT {
			return segment{}, fmt.Errorf("archive: archive batch not contiguous at LSN %d", r.LSN)
		}
		e.Uvarint(r.Epoch)
		e.Uvarint(uint64(t - prevT))
		e.Uvarint(uint64(r.Kind))
		e.Uvarint(uint64(len(r.Data)))
		clear := r.Data
		if tails != nil {
			e.Uvarint(uint64(tails[i]))
			clear = r.Data[:len(r.Data)-tails[i]]
		}
		e.Raw(clear)
		prevT = t
	}
	raw := e.B
	if len(raw)+opaqueLen > maxSegmentBytes {
		return segment{}, fmt.Errorf("archive: object of %d bytes exceeds %d", len(raw)+opaqueLen, maxSegmentBytes)
	}
	codec, body := byte(codecRaw), raw
	if len(raw) > 64 {
		if enc == nil {
			enc = new(segEncoder)
		}
		bound := lz4.CompressBlockBound(len(raw))
		dst := make([]byte, bound, bound+opaqueLen)
		if k, err := enc.comp.CompressBlock(raw, dst); err == nil && k > 0 && k < len(raw) {
			codec, body = codecLZ4, dst[:k]
		}
	}
	for i, t := range tails {
		body = append(body, recs[i].Data[len(recs[i].Data)-t:]...)
	}
	p := binenc.Encoder{B: make([]byte, 0, segPrefixSize)}
	p.U16(version)
	p.U8(codec)
	p.U8(0)
	p.U32(uint32(len(recs)))
	p.U64(epoch)
	p.U64(uint64(n.First))
	p.U64(uint64(n.Last))
	p.U64(uint64(n.FirstNanos))
	p.U64(uint64(n.LastNanos))
	p.U32(uint32(len(raw)))
	p.U32(uint32(opaqueLen))
	end := newChainer().over(prev, recs)
	p.Raw(prev[:])
	p.Raw(end[:])
	return segment{name: n, prefix: p.B, body: body, prev: prev, end: end}, nil
}

const binaryMaxVarint = 10

// recordMinBytes is the fewest body bytes a record takes in a WAL object
// of the given version: one byte per varint.
func recordMinBytes(version uint16) int {
	switch {
	case version >= 4:
		return 5
	case version >= 3:
		return 4
	}
	return 3
}

// segPrefix is a WAL object's clear prefix, checked against its name.
type segPrefix struct {
	version   uint16
	codec     byte
	count     uint32
	rawLen    uint32 // of the record stream
	opaque    uint32 // bytes after the stream (version 4)
	prev, end chainHash
}

// checkPrefix decodes an object's clear prefix and checks it against the
// object's name. Once the object authenticated (the prefix is sealed
// with the body), that is all it takes to know the object holds the
// records its name promises, written by a holder of the key, with the
// chain values it states.
func checkPrefix(n segName, prefix []byte) (segPrefix, error) {
	var p segPrefix
	d := binenc.Decoder{B: prefix}
	p.version = d.U16()
	version := p.version
	p.codec = d.U8()
	res1 := d.U8()
	p.count = d.U32()
	epoch := d.U64()
	first, last := wal.LSN(d.U64()), wal.LSN(d.U64())
	firstNanos, lastNanos := int64(d.U64()), int64(d.U64())
	p.rawLen = d.U32()
	p.opaque = d.U32()
	copy(p.prev[:], d.Take(len(p.prev)))
	copy(p.end[:], d.Take(len(p.end)))
	if err := d.Done(); err != nil {
		return p, fmt.Errorf("prefix: %w", err)
	}
	switch {
	case version > segVersion:
		return p, fmt.Errorf("archive format version %d, written by a newer build of continuity (this one reads %d to %d): upgrade this program to read it", version, minSegVersion, segVersion)
	case version < minSegVersion:
		return p, fmt.Errorf("archive format version %d, this build reads %d to %d", version, minSegVersion, segVersion)
	case res1 != 0 || (version < segVersion && p.opaque != 0):
		return p, errors.New("reserved prefix field not zero")
	case version == segVersion && p.opaque == 0:
		return p, errors.New("a version 4 object without opaque bytes")
	case epoch != n.Epoch || first != n.First || last != n.Last || firstNanos != n.FirstNanos || lastNanos != n.LastNanos:
		return p, errors.New("prefix does not match the object's name")
	case uint64(p.count) != uint64(last-first)+1:
		return p, fmt.Errorf("count %d for LSNs %d-%d", p.count, first, last)
	case uint64(p.rawLen)+uint64(p.opaque) > maxSegmentBytes:
		return p, fmt.Errorf("body of %d bytes exceeds %d", uint64(p.rawLen)+uint64(p.opaque), maxSegmentBytes)
	case uint64(p.count)*uint64(recordMinBytes(version)) > uint64(p.rawLen):
		return p, fmt.Errorf("count %d cannot fit %d bytes", p.count, p.rawLen)
	}
	return p, nil
}

// decodeSegment checks an object's clear prefix against its name and
// decodes the records in its (decrypted) body. Every inconsistency is an
// error; records alias nothing in body. The chain values are the
// prefix's, not recomputed (verifyChain does that).
func decodeSegment(n segName, prefix, body []byte) (segment, error) {
	p, err := checkPrefix(n, prefix)
	if err != nil {
		return segment{}, err
	}
	recs, err := decodeRecords(n, p, body)
	if err != nil {
		return segment{}, err
	}
	return segment{name: n, recs: recs, prev: p.prev, end: p.end}, nil
}

// verifyChain recomputes the chain over a decoded object's records and
// checks it against the End its prefix states: a check of the writer, as
// the object authenticated already (CPU-bound: SHA-256 over every
// record).
func verifyChain(s segment) error {
	if got := newChainer().over(s.prev, s.recs); got != s.end {
		return fmt.Errorf("records chain to %s, the prefix says %s", got, s.end)
	}
	return nil
}

// decodeRecords decodes the body of the object n whose prefix is p.
func decodeRecords(n segName, p segPrefix, body []byte) ([]wal.Record, error) {
	codec, count, rawLen := p.codec, p.count, p.rawLen
	first, epoch, firstNanos, lastNanos := n.First, n.Epoch, n.FirstNanos, n.LastNanos
	if uint64(len(body)) < uint64(p.opaque) {
		return nil, fmt.Errorf("body of %d bytes, less than its %d opaque bytes", len(body), p.opaque)
	}
	stream, opaque := body[:len(body)-int(p.opaque)], body[len(body)-int(p.opaque):]
	raw := stream
	switch codec {
	case codecRaw:
		if len(stream) != int(rawLen) {
			return nil, fmt.Errorf("raw record stream of %d bytes, prefix says %d", len(stream), rawLen)
		}
	case codecLZ4:
		raw = make([]byte, rawLen)
		k, err := lz4.UncompressBlock(stream, raw)
		if err != nil || k != int(rawLen) {
			return nil, fmt.Errorf("lz4 record stream does not decode to %d bytes", rawLen)
		}
	default:
		return nil, fmt.Errorf("unknown codec %d", codec)
	}
	// Version 4 records with an opaque tail are put together again from
	// the stream and the opaque bytes, in an arena that holds them all;
	// the others stay where they are, as in version 3.
	var arena []byte
	if len(opaque) > 0 {
		arena = make([]byte, 0, len(raw)+len(opaque))
	}
	recs := make([]wal.Record, count)
	d := binenc.Decoder{B: raw}
	t := firstNanos
	var prevEpoch uint64
	for i := range recs {
		ep := d.Uvarint()
		dt := d.Uvarint()
		var kind, tail uint64
		if p.version >= 3 {
			kind = d.Uvarint()
		}
		size := d.Uvarint()
		if p.version >= 4 {
			tail = d.Uvarint()
		}
		if d.Err != nil {
			break
		}
		if ep > epoch || ep < prevEpoch {
			return nil, fmt.Errorf("record %d: epoch %d out of order (object epoch %d)", first+wal.LSN(i), ep, epoch)
		}
		if dt > uint64(lastNanos-t) {
			return nil, fmt.Errorf("record %d: time beyond the object's last time", first+wal.LSN(i))
		}
		if kind > 0xff {
			return nil, fmt.Errorf("record %d: kind %d", first+wal.LSN(i), kind)
		}
		if tail > size || tail > uint64(len(opaque)) {
			return nil, fmt.Errorf("record %d: %d opaque bytes of %d, %d left", first+wal.LSN(i), tail, size, len(opaque))
		}
		if size-tail > uint64(d.Left()) {
			d.Fail(binenc.ErrShort)
			break
		}
		t += int64(dt)
		prevEpoch = ep
		data := d.Take(int(size - tail))
		if tail > 0 {
			start := len(arena)
			arena = append(arena, data...)
			arena = append(arena, opaque[:tail]...)
			opaque = opaque[tail:]
			data = arena[start:len(arena):len(arena)]
		}
		recs[i] = wal.Record{LSN: first + wal.LSN(i), Epoch: ep, Time: time.Unix(0, t), Kind: wal.Kind(kind), Data: data}
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	if len(opaque) > 0 {
		return nil, fmt.Errorf("%d opaque bytes no record holds", len(opaque))
	}
	if t != lastNanos {
		return nil, errors.New("last record's time does not match the object's")
	}
	return recs, nil
}

// timeline is the history of an epoch: which epoch's records hold which
// LSNs. Entry k says that epoch Epochs[k] wrote the history after LSN
// Forks[k] (Forks[0] is 0), up to Forks[k+1]. The last entry is the
// timeline's own epoch. This is PostgreSQL's timeline history file.
type timeline struct {
	Epochs []uint64
	Forks  []wal.LSN
}

// epoch is the timeline's own epoch.
func (t timeline) epoch() uint64 { return t.Epochs[len(t.Epochs)-1] }

// bound returns the last LSN of the history that epoch e's objects may
// supply, and whether e is on this history at all: objects of an ancestor
// are valid up to where its successor forked, the timeline's own without
// limit.
func (t timeline) bound(e uint64) (wal.LSN, bool) {
	for k, x := range t.Epochs {
		if x == e {
			if k+1 < len(t.Epochs) {
				return t.Forks[k+1], true
			}
			return wal.LSN(1<<63 - 1), true
		}
	}
	return 0, false
}

// fork returns t's history cut at lsn and continued by epoch e: the
// timeline of a new primary whose log ends at lsn when it takes over.
func (t timeline) fork(e uint64, lsn wal.LSN) timeline {
	var n timeline
	for k, x := range t.Epochs {
		if t.Forks[k] > lsn && k > 0 {
			break
		}
		n.Epochs = append(n.Epochs, x)
		n.Forks = append(n.Forks, t.Forks[k])
	}
	if n.epoch() == e {
		return n
	}
	n.Epochs = append(n.Epochs, e)
	n.Forks = append(n.Forks, lsn)
	return n
}

func (t timeline) String() string {
	var b strings.Builder
	for k, e := range t.Epochs {
		if k > 0 {
			fmt.Fprintf(&b, " → after %d: ", t.Forks[k])
		}
		fmt.Fprintf(&b, "epoch %d", e)
	}
	return b.String()
}

func encodeTimeline(t timeline) []byte {
	e := binenc.Encoder{}
	e.U16(archiveVersion)
	e.U32(uint32(len(t.Epochs)))
	for k := range t.Epochs {
		e.U64(t.Epochs[k])
		e.U64(uint64(t.Forks[k]))
	}
	return e.B
}

func decodeTimeline(epoch uint64, b []byte) (timeline, error) {
	var t timeline
	d := binenc.Decoder{B: b}
	if v := d.U16(); d.Err == nil && v != archiveVersion {
		return t, fmt.Errorf("archive format version %d, this build reads %d", v, archiveVersion)
	}
	n := d.Count(16, maxTimelineLen)
	for k := 0; k < n; k++ {
		e, f := d.U64(), wal.LSN(d.U64())
		if d.Err != nil {
			break
		}
		if k == 0 && f != 0 || k > 0 && (e <= t.Epochs[k-1] || f < t.Forks[k-1]) {
			return t, fmt.Errorf("entry %d (epoch %d after LSN %d) out of order", k, e, f)
		}
		t.Epochs = append(t.Epochs, e)
		t.Forks = append(t.Forks, f)
	}
	if err := d.Done(); err != nil {
		return t, err
	}
	if len(t.Epochs) == 0 || t.epoch() != epoch {
		return t, fmt.Errorf("history does not end in its own epoch %d", epoch)
	}
	return t, nil
}

// SealedPrefixLen is the clear prefix length of the archive's sealed
// object name (snapshot.ReencryptOptions.SealedPrefix): a WAL object's
// segPrefixSize, 0 for timelines, heads and pins; false for a name that
// is not the archive's.
func SealedPrefixLen(name string) (int, bool) {
	if _, ok := parseAnchorName(headPrefix, name); ok {
		return 0, true
	}
	if _, ok := parseAnchorName(pinPrefix, name); ok {
		return 0, true
	}
	_, isTimeline, err := parseArchiveName(name)
	switch {
	case err != nil:
		return 0, false
	case isTimeline:
		return 0, true
	}
	return segPrefixSize, true
}
