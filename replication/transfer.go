package replication

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/continuity-go/continuity/internal/wire"
	"github.com/continuity-go/continuity/wal"
)

// A state transfer replaces a standby's state with the primary's, as
// Raft's InstallSnapshot does: for a standby whose state applied records
// the cluster's history cut (or that has none) when the archive holds no
// base snapshot to rebuild it from. The standby asks in its Hello
// (wire.WantState); the primary answers Welcome, captures its state at an
// LSN (PrimaryOptions.Capture), sends it in FrameState frames and a
// FrameStateEnd (LSN, size, SHA-256), then streams the records after the
// LSN on the same connection. The standby spools the bytes to a file and
// restores nothing until size and hash match.

// stateChunk is the size of a FrameState payload.
const stateChunk = 1 << 20

// serveState answers a Hello that asks for the state.
func (p *Primary) serveState(c *wire.Conn, h wire.Hello, epoch uint64) {
	if p.opts.Capture == nil {
		_ = c.RejectPeer(wire.Reject{Code: wire.RejectNotReady, Reason: "this primary cannot send its state (no PrimaryOptions.Capture): rebuild the standby from the archive"})
		return
	}
	if err := c.Welcome(wire.Welcome{Version: wire.ProtocolVersion, Cluster: p.opts.Transport.wire().ClusterID(), Node: p.opts.Node, Epoch: epoch}); err != nil {
		return
	}
	start := time.Now()
	lsn, size, err := p.sendState(c, epoch)
	if err != nil {
		p.lg.Warn("state transfer failed", "node", h.Node, "err", err)
		return
	}
	p.lg.Info("state sent", "node", h.Node, "lsn", lsn, "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	h.LastLSN = lsn
	p.follow(c, h)
}

// sendState captures the state and sends it; it returns its LSN and size.
func (p *Primary) sendState(c *wire.Conn, epoch uint64) (wal.LSN, uint64, error) {
	lsn, write, err := p.opts.Capture(p.ctx)
	if err != nil {
		return 0, 0, err
	}
	w := &stateWriter{c: c, epoch: epoch, sum: sha256.New()}
	bw := bufio.NewWriterSize(w, stateChunk)
	if err := write(bw); err != nil {
		return 0, 0, fmt.Errorf("replication: write the state: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, err
	}
	end := wire.StateEnd{LSN: lsn, Size: w.size}
	w.sum.Sum(end.Sum[:0])
	if err := c.WriteFrame(wire.FrameStateEnd, epoch, wire.AppendStateEnd(nil, end)); err != nil {
		return 0, 0, err
	}
	return lsn, w.size, nil
}

// stateWriter sends what is written to it as FrameState frames.
type stateWriter struct {
	c     *wire.Conn
	epoch uint64
	sum   hash.Hash
	size  uint64
}

func (w *stateWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), stateChunk)
		if err := w.c.WriteFrame(wire.FrameState, w.epoch, b[:k]); err != nil {
			return n, err
		}
		w.sum.Write(b[:k])
		w.size += uint64(k)
		n += k
		b = b[k:]
	}
	return n, nil
}

// errStateMismatch: the state received is not what the primary's
// FrameStateEnd says it sent.
var errStateMismatch = errors.New("replication: the state received does not match its size and SHA-256")

// receiveState reads a state transfer into a spool file, checks it, and
// only then restores it: the state machine gets the state, the local WAL
// is emptied (it restarts after the state's LSN), and the positions move
// to that LSN.
func (s *Standby) receiveState(ctx context.Context, c *wire.Conn) (wal.LSN, error) {
	f, err := os.CreateTemp(s.opts.SpoolDir, "state-transfer-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("replication: state transfer: spool file: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	sum := sha256.New()
	var size uint64
	for {
		c.SetReadDeadline(time.Now().Add(s.opts.Timeout))
		fr, err := c.ReadFrame()
		if err != nil {
			return 0, err
		}
		if fr.Epoch < s.log.Epoch() {
			return 0, fmt.Errorf("replication: state of epoch %d, older than ours (%d): the sender was deposed", fr.Epoch, s.log.Epoch())
		}
		switch fr.Type {
		case wire.FrameState:
			if _, err := f.Write(fr.Payload); err != nil {
				return 0, fmt.Errorf("replication: state transfer: spool file: %w", err)
			}
			sum.Write(fr.Payload)
			size += uint64(len(fr.Payload))
			continue
		case wire.FrameStateEnd:
		default:
			return 0, &wire.FrameError{Type: fr.Type, Err: wire.ErrFrameMalformed, Detail: "standby expects the state"}
		}
		end, err := wire.DecodeStateEnd(fr.Payload)
		if err != nil {
			return 0, err
		}
		var got [32]byte
		sum.Sum(got[:0])
		if end.Size != size || end.Sum != got {
			return 0, fmt.Errorf("%w: %d bytes received, %d sent", errStateMismatch, size, end.Size)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		if err := s.sm.Restore(bufio.NewReader(f)); err != nil {
			return 0, &applyError{fmt.Errorf("replication: restore the primary's state at LSN %d: %w", end.LSN, err)}
		}
		// The local WAL restarts after the state: empty it (an empty log
		// accepts any first LSN).
		if _, err := s.log.CutTail(ctx, s.log.First()-1, nil); err != nil {
			return 0, fmt.Errorf("replication: state transfer: empty the local WAL: %w", err)
		}
		if rb, ok := s.sm.(Rebaser); ok {
			rb.Rebase(end.LSN)
		}
		s.notify(func() {
			s.applied, s.received, s.committed = end.LSN, end.LSN, end.LSN
			s.needState = false
		})
		s.lg.Info("restored the primary's state", "lsn", end.LSN, "bytes", size)
		return end.LSN, nil
	}
}
