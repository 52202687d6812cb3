// Package testsm holds state machines for tests of the packages that
// apply a log (archive, replication, the root).
package testsm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/continuity-go/continuity/wal"
)

// Chain is a state machine whose state is a hash chain over the records
// folded into it: equal states mean equal record sequences. It refuses a
// record that does not follow the last one. Safe for concurrent use.
type Chain struct {
	mu    sync.Mutex
	lsn   wal.LSN
	count int64
	sum   [32]byte
}

// Next is the chain after prev and rec.
func Next(prev [32]byte, rec wal.Record) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	binary.Write(h, binary.LittleEndian, uint64(rec.LSN))
	h.Write(rec.Data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Apply folds rec, which must follow the last record folded.
func (s *Chain) Apply(rec wal.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.LSN != s.lsn+1 {
		return fmt.Errorf("testsm.Chain: LSN %d after %d", rec.LSN, s.lsn)
	}
	s.sum = Next(s.sum, rec)
	s.lsn = rec.LSN
	s.count++
	return nil
}

// State returns the last LSN folded, how many records were, and the
// chain.
func (s *Chain) State() (lsn wal.LSN, count int64, sum [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lsn, s.count, s.sum
}

// Reset sets the chain as if a history ending in sum had been folded up
// to lsn (a state imported from elsewhere).
func (s *Chain) Reset(lsn wal.LSN, sum [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lsn, s.count, s.sum = lsn, int64(lsn), sum
}

// Snapshot writes the state and 8 KiB derived from it, so snapshots have
// several chunks.
func (s *Chain) Snapshot(w io.Writer) error {
	s.mu.Lock()
	b := s.encode()
	s.mu.Unlock()
	_, err := w.Write(b)
	return err
}

func (s *Chain) encode() []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(s.lsn))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.count))
	b = append(b, s.sum[:]...)
	pad := s.sum
	for len(b) < 8<<10 {
		pad = sha256.Sum256(pad[:])
		b = append(b, pad[:]...)
	}
	return b
}

// Restore replaces the state with one Snapshot wrote, checking that it
// is one.
func (s *Chain) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(b) < 48 {
		return errors.New("testsm.Chain: short snapshot")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lsn = wal.LSN(binary.LittleEndian.Uint64(b))
	s.count = int64(binary.LittleEndian.Uint64(b[8:]))
	copy(s.sum[:], b[16:48])
	if !bytes.Equal(s.encode(), b) {
		return errors.New("testsm.Chain: snapshot does not match its state")
	}
	return nil
}

// Capture is an archive.CaptureFunc over the chain: the state at once,
// written later.
func (s *Chain) Capture(context.Context) (wal.LSN, func(io.Writer) error, error) {
	s.mu.Lock()
	b, lsn := s.encode(), s.lsn
	s.mu.Unlock()
	return lsn, func(w io.Writer) error { _, err := w.Write(b); return err }, nil
}
