package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/continuity-go/continuity/internal/binenc"

	"github.com/cespare/xxhash/v2"

	"github.com/continuity-go/continuity/wal"
)

// Wire format constants: part of the protocol, not to be changed without a
// new ProtocolVersion.
const (
	// ProtocolVersion is the version of the protocol this build speaks.
	ProtocolVersion uint16 = 4

	frameHeaderSize = 24

	// MaxFrameBytes bounds a frame's payload: 64 MiB, which holds the
	// largest WAL record (wal.Options.MaxRecordBytes, 16 MiB by default)
	// with room to spare.
	MaxFrameBytes = 64 << 20

	maxIDBytes     = 256
	maxReasonBytes = 4096
)

// FrameType says what a frame's payload is.
type FrameType uint8

// Frame types.
const (
	FrameHello   FrameType = 1 // standby → primary: who I am, where I am
	FrameWelcome FrameType = 2 // primary → standby: accepted
	FrameReject  FrameType = 3 // either way: refused, with a reason
	FrameRecords FrameType = 4 // primary → standby: WAL records
	FrameAck     FrameType = 5 // standby → primary: positions
	// FrameState carries bytes of the primary's state (a state transfer,
	// asked for by Hello.Want); FrameStateEnd ends it (StateEnd).
	FrameState    FrameType = 6
	FrameStateEnd FrameType = 7
)

// String returns the type's name, as logs show it.
func (t FrameType) String() string {
	switch t {
	case FrameHello:
		return "hello"
	case FrameWelcome:
		return "welcome"
	case FrameReject:
		return "reject"
	case FrameRecords:
		return "records"
	case FrameAck:
		return "ack"
	case FrameState:
		return "state"
	case FrameStateEnd:
		return "state-end"
	}
	return fmt.Sprintf("FrameType(%d)", uint8(t))
}

// Errors of the frame and message decoders, inside a *FrameError.
var (
	// ErrFrameTooLarge: the length field exceeds the bound.
	ErrFrameTooLarge = errors.New("wire: frame longer than the bound")
	// ErrFrameChecksum: the checksum does not match.
	ErrFrameChecksum = errors.New("wire: frame checksum mismatch")
	// ErrFrameMalformed: reserved bytes set, an unknown type, or a
	// payload that does not decode as its type.
	ErrFrameMalformed = errors.New("wire: malformed frame")
)

// FrameError reports a frame that could not be read. The connection it
// came from must be closed: the stream cannot be resynchronized.
type FrameError struct {
	// Type is the frame's type field (0 if the header was not read).
	Type FrameType
	// Err is ErrFrameTooLarge, ErrFrameChecksum, ErrFrameMalformed or
	// io.ErrUnexpectedEOF (the connection ended inside a frame).
	Err error
	// Detail says more, for logs.
	Detail string
}

// Error names the frame type and what is wrong.
func (e *FrameError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("wire: %s frame: %v: %s", e.Type, e.Err, e.Detail)
	}
	return fmt.Sprintf("wire: %s frame: %v", e.Type, e.Err)
}

// Unwrap returns the cause.
func (e *FrameError) Unwrap() error { return e.Err }

// Frame is one decoded frame.
type Frame struct {
	Type  FrameType // what the payload is
	Epoch uint64    // the sender's epoch
	// Payload aliases the reader's buffer: valid until the next read.
	Payload []byte
}

// AppendFrame appends the encoding of a frame to dst.
func AppendFrame(dst []byte, t FrameType, epoch uint64, payload []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, byte(t), 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, epoch)
	dst = binary.LittleEndian.AppendUint64(dst, 0) // checksum, below
	dst = append(dst, payload...)
	sum := frameSum(dst[start:])
	binary.LittleEndian.PutUint64(dst[start+16:], sum)
	return dst
}

// frameSum hashes a whole frame except the length and checksum fields.
func frameSum(frame []byte) uint64 {
	d := xxhash.New()
	d.Write(frame[4:16])
	d.Write(frame[frameHeaderSize:])
	return d.Sum64()
}

// FrameReader reads frames from a stream, reusing one buffer. Not safe
// for concurrent use.
type FrameReader struct {
	r   io.Reader
	max int
	buf []byte
}

// NewFrameReader returns a reader of frames of at most max payload bytes
// (MaxFrameBytes if max is 0 or larger).
func NewFrameReader(r io.Reader, max int) *FrameReader {
	if max <= 0 || max > MaxFrameBytes {
		max = MaxFrameBytes
	}
	return &FrameReader{r: r, max: max}
}

// Next reads the next frame. At a clean end of stream (no byte of a new
// frame) it returns io.EOF; anything else wrong is a *FrameError. The
// buffer grows with the frames actually received, never beyond the bound.
func (fr *FrameReader) Next() (Frame, error) {
	var hdr [frameHeaderSize]byte
	if n, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		if err == io.EOF && n == 0 {
			return Frame{}, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, &FrameError{Err: io.ErrUnexpectedEOF, Detail: "in header"}
		}
		return Frame{}, err
	}
	return fr.body(hdr[:])
}

func (fr *FrameReader) body(hdr []byte) (Frame, error) {
	n := binary.LittleEndian.Uint32(hdr[0:])
	t := FrameType(hdr[4])
	if hdr[5] != 0 || hdr[6] != 0 || hdr[7] != 0 {
		return Frame{}, &FrameError{Type: t, Err: ErrFrameMalformed, Detail: "reserved bytes set"}
	}
	if uint64(n) > uint64(fr.max) {
		return Frame{}, &FrameError{Type: t, Err: ErrFrameTooLarge, Detail: fmt.Sprintf("%d bytes, bound %d", n, fr.max)}
	}
	if cap(fr.buf) < frameHeaderSize+int(n) {
		fr.buf = make([]byte, frameHeaderSize+int(n))
	}
	frame := fr.buf[:frameHeaderSize+int(n)]
	copy(frame, hdr)
	if _, err := io.ReadFull(fr.r, frame[frameHeaderSize:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return Frame{}, &FrameError{Type: t, Err: io.ErrUnexpectedEOF, Detail: "in payload"}
		}
		return Frame{}, err
	}
	if frameSum(frame) != binary.LittleEndian.Uint64(hdr[16:]) {
		return Frame{}, &FrameError{Type: t, Err: ErrFrameChecksum}
	}
	return Frame{Type: t, Epoch: binary.LittleEndian.Uint64(hdr[8:]), Payload: frame[frameHeaderSize:]}, nil
}

// Hello is the standby's handshake.
type Hello struct {
	Version uint16 // ProtocolVersion of the standby
	Cluster string // cluster ID; must be the primary's
	Node    string // node ID; must be the certificate's
	Epoch   uint64 // highest epoch the standby has seen
	// LastLSN is the last record the standby holds (0: none).
	LastLSN wal.LSN
	// LastSum is RecordSum of that record: the primary checks that its
	// own record at LastLSN is the same one before it streams what
	// follows. 0 means none to compare (the standby's log is empty, as
	// after a restore from a base snapshot at LastLSN).
	LastSum uint64
	// Want asks for more than records: WantState.
	Want Want
}

// Want is what a standby asks for in its Hello besides records.
type Want uint8

// WantState asks the primary for its state (FrameState frames, then
// FrameStateEnd) before the records after it: a standby whose state
// applied records its history cut, which the archive cannot rebuild.
const WantState Want = 1

// StateEnd ends a state transfer: the state is Size bytes whose SHA-256
// is Sum, as of LSN. The standby checks both before it restores anything.
type StateEnd struct {
	LSN  wal.LSN
	Size uint64
	Sum  [32]byte
}

// Welcome is the primary's answer to an accepted Hello.
type Welcome struct {
	Version uint16 // ProtocolVersion of the primary
	Cluster string // cluster ID
	Node    string // the primary's node ID; must be its certificate's
	Epoch   uint64 // the primary's epoch
}

// RejectCode says why a peer was refused.
type RejectCode uint16

// Reject codes.
const (
	RejectVersion  RejectCode = 1 // protocol versions do not overlap
	RejectCluster  RejectCode = 2 // the peer belongs to another cluster
	RejectIdentity RejectCode = 3 // Hello names another node than the certificate, or one not allowed
	RejectEpoch    RejectCode = 4 // the peer's epoch is older (or newer) than allowed
	RejectNotReady RejectCode = 5 // not a primary, or shutting down
	RejectBehind   RejectCode = 6 // the standby needs records the primary's WAL no longer holds: bootstrap from the archive
	// RejectDiverged: the standby's last record is not the primary's
	// record at that LSN, or the primary holds no such LSN: the standby
	// must cut its log back to a record both hold.
	RejectDiverged RejectCode = 7
)

// Reject refuses a peer.
type Reject struct {
	Code   RejectCode // why, for programs
	Reason string     // why, for people (at most 4 KiB)
}

// Ack carries a standby's positions.
type Ack struct {
	Received wal.LSN // last record received
	Flushed  wal.LSN // last record durable in the standby's WAL
	Applied  wal.LSN // last record applied to its state machine
}

// finish turns the decoder's state into the message's error: trailing
// bytes or any field error is a malformed frame of type t.
func finish(d *binenc.Decoder, t FrameType) error {
	if err := d.Done(); err != nil {
		return &FrameError{Type: t, Err: ErrFrameMalformed, Detail: err.Error()}
	}
	return nil
}

// AppendHello appends h's payload encoding.
func AppendHello(dst []byte, h Hello) []byte {
	e := binenc.Encoder{B: dst}
	e.U16(h.Version)
	e.Str(h.Cluster)
	e.Str(h.Node)
	e.U64(h.Epoch)
	e.U64(uint64(h.LastLSN))
	e.U64(h.LastSum)
	e.U8(uint8(h.Want))
	return e.B
}

// DecodeHello decodes a Hello payload.
func DecodeHello(p []byte) (Hello, error) {
	d := binenc.Decoder{B: p}
	h := Hello{Version: d.U16(), Cluster: d.Str(maxIDBytes), Node: d.Str(maxIDBytes), Epoch: d.U64(), LastLSN: wal.LSN(d.U64()), LastSum: d.U64(), Want: Want(d.U8())}
	if err := finish(&d, FrameHello); err != nil {
		return h, err
	}
	if h.Want&^WantState != 0 {
		return h, &FrameError{Type: FrameHello, Err: ErrFrameMalformed, Detail: fmt.Sprintf("unknown want bits %#x", uint8(h.Want))}
	}
	return h, nil
}

// AppendStateEnd appends e's payload encoding.
func AppendStateEnd(dst []byte, s StateEnd) []byte {
	e := binenc.Encoder{B: dst}
	e.U64(uint64(s.LSN))
	e.U64(s.Size)
	e.Raw(s.Sum[:])
	return e.B
}

// DecodeStateEnd decodes a StateEnd payload.
func DecodeStateEnd(p []byte) (StateEnd, error) {
	d := binenc.Decoder{B: p}
	s := StateEnd{LSN: wal.LSN(d.U64()), Size: d.U64()}
	copy(s.Sum[:], d.Take(32))
	return s, finish(&d, FrameStateEnd)
}

// AppendWelcome appends w's payload encoding.
func AppendWelcome(dst []byte, w Welcome) []byte {
	e := binenc.Encoder{B: dst}
	e.U16(w.Version)
	e.Str(w.Cluster)
	e.Str(w.Node)
	e.U64(w.Epoch)
	return e.B
}

// DecodeWelcome decodes a Welcome payload.
func DecodeWelcome(p []byte) (Welcome, error) {
	d := binenc.Decoder{B: p}
	w := Welcome{Version: d.U16(), Cluster: d.Str(maxIDBytes), Node: d.Str(maxIDBytes), Epoch: d.U64()}
	return w, finish(&d, FrameWelcome)
}

// AppendReject appends r's payload encoding.
func AppendReject(dst []byte, r Reject) []byte {
	e := binenc.Encoder{B: dst}
	e.U16(uint16(r.Code))
	if len(r.Reason) > maxReasonBytes {
		r.Reason = r.Reason[:maxReasonBytes]
	}
	e.Str(r.Reason)
	return e.B
}

// DecodeReject decodes a Reject payload.
func DecodeReject(p []byte) (Reject, error) {
	d := binenc.Decoder{B: p}
	r := Reject{Code: RejectCode(d.U16()), Reason: d.Str(maxReasonBytes)}
	return r, finish(&d, FrameReject)
}

// AppendAck appends a's payload encoding.
func AppendAck(dst []byte, a Ack) []byte {
	e := binenc.Encoder{B: dst}
	e.U64(uint64(a.Received))
	e.U64(uint64(a.Flushed))
	e.U64(uint64(a.Applied))
	return e.B
}

// DecodeAck decodes an Ack payload; positions must not decrease along
// received ≥ flushed ≥ applied.
func DecodeAck(p []byte) (Ack, error) {
	d := binenc.Decoder{B: p}
	a := Ack{Received: wal.LSN(d.U64()), Flushed: wal.LSN(d.U64()), Applied: wal.LSN(d.U64())}
	if err := finish(&d, FrameAck); err != nil {
		return a, err
	}
	if a.Flushed > a.Received || a.Applied > a.Flushed {
		return a, &FrameError{Type: FrameAck, Err: ErrFrameMalformed, Detail: "positions out of order"}
	}
	return a, nil
}

const recordHeaderSize = 29 // LSN, epoch, time, kind, length

// RecordSum identifies a record by its LSN, epoch, time, kind and data (xxhash):
// a standby's Hello carries its last record's, so that a primary that
// lost records and wrote others at their LSNs is noticed.
func RecordSum(r wal.Record) uint64 {
	var hdr [25]byte
	binary.LittleEndian.PutUint64(hdr[0:], uint64(r.LSN))
	binary.LittleEndian.PutUint64(hdr[8:], r.Epoch)
	binary.LittleEndian.PutUint64(hdr[16:], uint64(r.Time.UnixNano()))
	hdr[24] = byte(r.Kind)
	d := xxhash.New()
	d.Write(hdr[:])
	d.Write(r.Data)
	return d.Sum64()
}

// Batch is a Records frame's payload: records, or none (a heartbeat or
// a commit notice), and what the primary says with them.
type Batch struct {
	// Committed is the primary's last durable LSN when it sent the
	// frame. The primary ships records while it syncs them, so a
	// standby applies records only up to Committed: a record past it is
	// lost if the primary's machine crashes before its sync completes.
	Committed wal.LSN
	// Flags ask things of the standby.
	Flags BatchFlags
	// Records are consecutive records, possibly none.
	Records []wal.Record
}

// BatchFlags ask things of a standby.
type BatchFlags uint8

const (
	// FlagSync: a synchronous Append waits for these records; sync them
	// now instead of at the standby's own pace (StandbyOptions.FlushDelay).
	FlagSync BatchFlags = 1 << iota
	// FlagPing: answer with an Ack now (the idle stream's heartbeat).
	FlagPing

	knownFlags = FlagSync | FlagPing
)

// AppendBatch appends the payload encoding of a batch.
func AppendBatch(dst []byte, b Batch) []byte {
	var w BatchWriter
	w.Start(dst, b.Committed)
	for _, r := range b.Records {
		w.Add(r)
	}
	return w.Finish(b.Flags)
}

// BatchWriter encodes a Batch record by record, so that a sender whose
// records' data is valid only until it reads the next one (a
// wal.Reader's NextView) copies each once, into the payload: Start, Add
// for each record, then Finish, which fills in the flags and the count.
// The zero value is ready; not safe for concurrent use.
type BatchWriter struct {
	b  []byte
	at int // offset of the payload in b
	n  uint32
}

// Start begins a batch's payload at the end of dst.
func (w *BatchWriter) Start(dst []byte, committed wal.LSN) {
	w.at, w.n = len(dst), 0
	e := binenc.Encoder{B: dst}
	e.U64(uint64(committed))
	e.U8(0)
	e.U32(0)
	w.b = e.B
}

// Add appends one record, copying its data.
func (w *BatchWriter) Add(r wal.Record) {
	e := binenc.Encoder{B: w.b}
	e.U64(uint64(r.LSN))
	e.U64(r.Epoch)
	e.U64(uint64(r.Time.UnixNano()))
	e.U8(uint8(r.Kind))
	e.U32(uint32(len(r.Data)))
	w.b = append(e.B, r.Data...)
	w.n++
}

// Len is how many records were added since Start.
func (w *BatchWriter) Len() int { return int(w.n) }

// Finish completes the payload with flags and returns dst with it.
func (w *BatchWriter) Finish(flags BatchFlags) []byte {
	w.b[w.at+8] = byte(flags) // after Committed
	binary.LittleEndian.PutUint32(w.b[w.at+9:], w.n)
	return w.b
}

// DecodeBatch decodes a Records payload. The records' Data alias p.
// LSNs must be contiguous and epochs and times must not decrease within
// the batch; unknown flags are refused.
func DecodeBatch(p []byte) (Batch, error) {
	d := binenc.Decoder{B: p}
	b := Batch{Committed: wal.LSN(d.U64())}
	b.Flags = BatchFlags(d.U8())
	if b.Flags&^knownFlags != 0 {
		d.Fail(fmt.Errorf("unknown flags %#x", uint8(b.Flags&^knownFlags)))
	}
	n := d.U32()
	if d.Err == nil && uint64(n)*recordHeaderSize > uint64(d.Left()) {
		d.Fail(fmt.Errorf("%d records cannot fit in %d bytes", n, d.Left()))
	}
	var recs []wal.Record
	if d.Err == nil && n > 0 {
		recs = make([]wal.Record, 0, n)
	}
	for i := uint32(0); i < n && d.Err == nil; i++ {
		r := wal.Record{LSN: wal.LSN(d.U64()), Epoch: d.U64(), Time: time.Unix(0, int64(d.U64())).UTC(), Kind: wal.Kind(d.U8())}
		r.Data = d.Take(int(d.U32()))
		if d.Err != nil {
			break
		}
		if i > 0 {
			prev := recs[i-1]
			switch {
			case r.LSN != prev.LSN+1:
				d.Fail(fmt.Errorf("LSN %d after %d", r.LSN, prev.LSN))
			case r.Epoch < prev.Epoch:
				d.Fail(fmt.Errorf("epoch %d after %d", r.Epoch, prev.Epoch))
			case r.Time.Before(prev.Time):
				d.Fail(fmt.Errorf("time goes back at LSN %d", r.LSN))
			}
		} else if r.LSN == 0 {
			d.Fail(errors.New("LSN 0"))
		}
		recs = append(recs, r)
	}
	b.Records = recs
	if err := finish(&d, FrameRecords); err != nil {
		return Batch{}, err
	}
	return b, nil
}
