package tenant

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/continuity-go/continuity/internal/cdc"
)

// A tenant's state in a base snapshot (a section), sealed under the
// tenant's key:
//
//	off  size  field
//	  0     1  1 (a section; 0 ends the list of sections)
//	  1    16  tenant tag
//	 17     8  key ID
//	 25     .  frames: u32 length n, then n bytes: a sealed chunk and
//	           its 12-byte nonce
//	  .     4  0xFFFFFFFF: the end of the section
//	  .    32  HMAC-SHA-256 under HKDF(data key, "continuity/tenant/v1/
//	           state-mac") of the tag, the key ID, each frame's nonce in
//	           order and the frame count (u64)
//
// The end's MAC makes the section whole: without the tenant's key,
// frames cannot be dropped, repeated, reordered or cut off (the snapshot
// store's own encryption already keeps out whoever lacks the archive's
// key; this keeps out whoever has that key but not the tenant's). It
// does not tell a section from an older whole section of the same key:
// that is the snapshot's to tell.
//
// The state is cut into content-defined chunks (4, 16, 64 KiB min, avg,
// max; the gear table derives from the tenant's key, so boundaries say
// nothing across tenants), each sealed with AES-256-GCM under
// HKDF(data key, "continuity/tenant/v1/state") with a synthetic nonce:
// the first 12 bytes of HMAC-SHA-256 of the chunk under HKDF(data key,
// "continuity/tenant/v1/state-nonce"), the tag and key ID as additional
// data. So a chunk the tenant did not change seals to the same bytes
// (the snapshot store deduplicates it) and the same chunk of another
// tenant to other bytes (nothing is shared across tenants, so dedup
// tells nothing). Nonces repeat only for equal chunks, which seal
// equally; distinct chunks collide with probability n²/2^97.
//
// The shared state (no tenant) uses the same frames without sealing
// (WritePlainFrames), under the snapshot's own encryption.
const (
	sectionHeaderSize = 25
	stateChunkMin     = 4 << 10
	stateChunkAvg     = 16 << 10
	stateChunkMax     = 64 << 10
	maxFrame          = stateChunkMax + tagSize
	sectionEnd        = 0xFFFFFFFF
	sectionMACSize    = sha256.Size
)

// stateKeys are a key's derived keys for sections, built once. The
// chunker's 2 KiB gear table is built by each SectionWriter from gear
// instead of kept: readers never need it, and 10,000 tenants' keys stay
// in memory.
type stateKeys struct {
	aead  cipher.AEAD
	nonce []byte   // HMAC key of the synthetic nonces
	mac   []byte   // HMAC key of a section's end
	gear  [32]byte // seed of the chunker's gear table
}

// sectionMAC accumulates a section's end MAC.
type sectionMAC struct {
	h     hash.Hash
	count uint64
}

func newSectionMAC(sk *stateKeys, ad []byte) *sectionMAC {
	m := &sectionMAC{h: hmac.New(sha256.New, sk.mac)}
	m.h.Write(ad)
	return m
}

func (m *sectionMAC) frame(nonce []byte) {
	m.h.Write(nonce)
	m.count++
}

func (m *sectionMAC) sum() []byte {
	var c [8]byte
	binary.LittleEndian.PutUint64(c[:], m.count)
	m.h.Write(c[:])
	return m.h.Sum(nil)
}

func (k *Key) state() (*stateKeys, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stateKeys != nil {
		return k.stateKeys, nil
	}
	aead, err := k.gcmLocked([]byte("continuity/tenant/v1/state"))
	if err != nil {
		return nil, err
	}
	nonce, err := k.deriveLocked([]byte("continuity/tenant/v1/state-nonce"))
	if err != nil {
		return nil, err
	}
	seed, err := k.deriveLocked([]byte("continuity/tenant/v1/gear"))
	if err != nil {
		return nil, err
	}
	mac, err := k.deriveLocked([]byte("continuity/tenant/v1/state-mac"))
	if err != nil {
		return nil, err
	}
	k.stateKeys = &stateKeys{aead: aead, nonce: nonce, mac: mac, gear: [32]byte(seed)}
	return k.stateKeys, nil
}

// SectionWriter seals one tenant's state as it is written. Close ends
// the section.
type SectionWriter struct {
	w       io.Writer
	k       *Key
	sk      *stateKeys
	chunker *cdc.Chunker
	mac     *sectionMAC
	buf     []byte
	ad      [24]byte
	closed  bool
	err     error
}

// NewSectionWriter writes the section header of k's tenant to w and
// returns the writer of its state.
func NewSectionWriter(w io.Writer, k *Key) (*SectionWriter, error) {
	sk, err := k.state()
	if err != nil {
		return nil, err
	}
	ch, err := cdc.New(cdc.Params{Min: stateChunkMin, Avg: stateChunkAvg, Max: stateChunkMax}, cdc.NewTable(sk.gear))
	if err != nil {
		return nil, err
	}
	s := &SectionWriter{w: w, k: k, sk: sk, chunker: ch}
	copy(s.ad[:16], k.Tag[:])
	copy(s.ad[16:], k.ID[:])
	s.mac = newSectionMAC(sk, s.ad[:])
	hdr := append([]byte{1}, s.ad[:]...)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	return s, nil
}

// Write buffers p and seals every chunk it completes. It fails after
// Close.
func (s *SectionWriter) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("tenant: write to a closed section")
	}
	if s.err != nil {
		return 0, s.err
	}
	s.buf = append(s.buf, p...)
	// What is left moves to the front once per Write: moving it after
	// every chunk is quadratic in the size of one Write.
	off := 0
	for len(s.buf)-off >= stateChunkMax && s.err == nil {
		off += s.emit(s.buf[off:])
	}
	s.buf = s.buf[:copy(s.buf, s.buf[off:])]
	return len(p), s.err
}

// Close seals what is buffered and ends the section. A second Close
// writes nothing and returns what the first did: the end's MAC is summed
// once, and a second end would be read as damage.
func (s *SectionWriter) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	for len(s.buf) > 0 && s.err == nil {
		s.buf = s.buf[s.emit(s.buf):]
	}
	if s.err == nil {
		end := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+sectionMACSize), sectionEnd)
		_, s.err = s.w.Write(append(end, s.mac.sum()...))
	}
	return s.err
}

// emit seals the first chunk of buf and returns its length.
func (s *SectionWriter) emit(buf []byte) int {
	n := s.chunker.Cut(buf)
	chunk := buf[:n]
	m := hmac.New(sha256.New, s.sk.nonce)
	m.Write(chunk)
	nonce := m.Sum(nil)[:12]
	frame := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+n+tagSize+12), uint32(n+tagSize+12))
	frame = s.sk.aead.Seal(frame, nonce, chunk, s.ad[:])
	frame = append(frame, nonce...)
	s.mac.frame(nonce)
	if _, err := s.w.Write(frame); err != nil {
		s.err = err
	}
	return n
}

// ReadSectionHeader reads the next section's header: ok false at the end
// of the list.
func ReadSectionHeader(r io.Reader) (tag Tag, id KeyID, ok bool, err error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return tag, id, false, fmt.Errorf("%w: tenant section: %v", ErrDamaged, err)
	}
	switch b[0] {
	case 0:
		return tag, id, false, nil
	case 1:
	default:
		return tag, id, false, fmt.Errorf("%w: tenant section marker %d", ErrDamaged, b[0])
	}
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return tag, id, false, fmt.Errorf("%w: tenant section: %v", ErrDamaged, err)
	}
	copy(tag[:], hdr[:16])
	copy(id[:], hdr[16:])
	return tag, id, true, nil
}

// EndSections writes the end of the list of sections.
func EndSections(w io.Writer) error {
	_, err := w.Write([]byte{0})
	return err
}

// SectionReader reads a section's state, opening each chunk under k;
// with k nil it skips the section's frames (a shredded tenant). It
// returns io.EOF at the section's end, only once the end's MAC matches
// the frames read, and reads nothing past it. Each chunk it gives is the
// tenant's, but that none was dropped, repeated or moved is known only
// at io.EOF: a caller must not take a state as whole before it. An
// error is returned again by every later Read and Skip.
type SectionReader struct {
	r     io.Reader
	k     *Key
	sk    *stateKeys
	mac   *sectionMAC
	ad    [24]byte
	chunk []byte
	frame []byte
	done  bool
	err   error
}

// NewSectionReader reads the section of (tag, id) whose header was just
// read, under k (nil: skip).
func NewSectionReader(r io.Reader, tag Tag, id KeyID, k *Key) (*SectionReader, error) {
	s := &SectionReader{r: r, k: k}
	copy(s.ad[:16], tag[:])
	copy(s.ad[16:], id[:])
	if k != nil {
		if k.Tag != tag || k.ID != id {
			return nil, errors.New("tenant: opening a section with another tenant's key")
		}
		var err error
		if s.sk, err = k.state(); err != nil {
			return nil, err
		}
		s.mac = newSectionMAC(s.sk, s.ad[:])
	}
	return s, nil
}

// Read reads the state.
func (s *SectionReader) Read(p []byte) (int, error) {
	for len(s.chunk) == 0 {
		if s.done {
			return 0, io.EOF
		}
		// Not past a damaged frame: the state would have a hole.
		if s.err == nil {
			s.err = s.next()
		}
		if s.err != nil {
			return 0, s.err
		}
	}
	n := copy(p, s.chunk)
	s.chunk = s.chunk[n:]
	return n, nil
}

// Skip reads to the section's end.
func (s *SectionReader) Skip() error {
	_, err := io.Copy(io.Discard, s)
	return err
}

func (s *SectionReader) next() error {
	size, err := readFrameLen(s.r)
	if err != nil {
		return err
	}
	if size == sectionEnd {
		var mac [sectionMACSize]byte
		if _, err := io.ReadFull(s.r, mac[:]); err != nil {
			return fmt.Errorf("%w: the end of tenant %x's section: %v", ErrDamaged, s.ad[:16], err)
		}
		if s.mac != nil && !hmac.Equal(s.mac.sum(), mac[:]) {
			return fmt.Errorf("%w: tenant %x's section does not end as written (frames dropped, repeated, reordered or cut)", ErrDamaged, s.ad[:16])
		}
		s.done = true
		return nil
	}
	frame, err := readFrameBody(s.r, s.frame[:0], size)
	if err != nil {
		return err
	}
	s.frame = frame
	if s.k == nil {
		return nil
	}
	if len(frame) < tagSize+12 {
		return fmt.Errorf("%w: tenant section frame of %d bytes", ErrDamaged, len(frame))
	}
	nonce := frame[len(frame)-12:]
	plain, err := s.sk.aead.Open(frame[:0], nonce, frame[:len(frame)-12], s.ad[:])
	if err != nil {
		return fmt.Errorf("%w: a state chunk of tenant %x does not open", ErrDamaged, s.ad[:16])
	}
	m := hmac.New(sha256.New, s.sk.nonce)
	m.Write(plain)
	if !hmac.Equal(m.Sum(nil)[:12], nonce) {
		return fmt.Errorf("%w: a state chunk of tenant %x has another chunk's nonce", ErrDamaged, s.ad[:16])
	}
	s.mac.frame(nonce)
	s.chunk = plain
	return nil
}

// readFrame reads one frame into buf: length-prefixed, bounded.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	size, err := readFrameLen(r)
	if err != nil {
		return nil, err
	}
	return readFrameBody(r, buf, size)
}

// readFrameLen reads a frame's length.
func readFrameLen(r io.Reader) (uint32, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return 0, fmt.Errorf("%w: frame: %v", ErrDamaged, err)
	}
	return binary.LittleEndian.Uint32(n[:]), nil
}

// readFrameBody reads a frame of size bytes into buf, bounded.
func readFrameBody(r io.Reader, buf []byte, size uint32) ([]byte, error) {
	if size > maxFrame+12 {
		return nil, fmt.Errorf("%w: a frame of %d bytes, more than %d", ErrDamaged, size, maxFrame+12)
	}
	buf = append(buf[:0], make([]byte, size)...)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: frame: %v", ErrDamaged, err)
	}
	return buf, nil
}

// PlainWriter frames a state that is not sealed (the shared state), so a
// reader finds its end. Close ends it.
type PlainWriter struct{ w io.Writer }

// NewPlainWriter returns a PlainWriter onto w.
func NewPlainWriter(w io.Writer) *PlainWriter { return &PlainWriter{w: w} }

// Write writes p as frames.
func (p *PlainWriter) Write(b []byte) (int, error) {
	total := len(b)
	for len(b) > 0 {
		n := min(len(b), maxFrame)
		var hdr [4]byte
		binary.LittleEndian.PutUint32(hdr[:], uint32(n))
		if _, err := p.w.Write(hdr[:]); err != nil {
			return total - len(b), err
		}
		if _, err := p.w.Write(b[:n]); err != nil {
			return total - len(b), err
		}
		b = b[n:]
	}
	return total, nil
}

// Close ends the framed state.
func (p *PlainWriter) Close() error {
	_, err := p.w.Write([]byte{0, 0, 0, 0})
	return err
}

// PlainReader reads a PlainWriter's frames, up to their end. An error
// is returned again by every later Read.
type PlainReader struct {
	r     io.Reader
	frame []byte
	left  []byte
	done  bool
	err   error
}

// NewPlainReader returns a PlainReader from r.
func NewPlainReader(r io.Reader) *PlainReader { return &PlainReader{r: r} }

// Read reads the state; io.EOF at its end.
func (p *PlainReader) Read(b []byte) (int, error) {
	for len(p.left) == 0 {
		if p.done {
			return 0, io.EOF
		}
		if p.err != nil {
			return 0, p.err
		}
		f, err := readFrame(p.r, p.frame[:0])
		if err != nil {
			p.err = err
			return 0, err
		}
		p.frame = f
		if len(f) == 0 {
			p.done = true
		}
		p.left = f
	}
	n := copy(b, p.left)
	p.left = p.left[n:]
	return n, nil
}
