package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// PrimaryOptions configures a Primary.
type PrimaryOptions struct {
	// Transport is the listening side's TLS and handshake setup.
	Transport Options
	// Node is this node's ID, sent in Welcome (with TLS it must be the
	// certificate's).
	Node string
	// MaxBatchBytes bounds the record bytes sent in one frame. Default
	// 1 MiB.
	MaxBatchBytes int
	// Heartbeat is how often an idle stream sends an empty Records frame,
	// which the standby acknowledges, so both ends notice a dead peer or
	// a black-holed connection. Default 1 s.
	Heartbeat time.Duration
	// Timeout is how long the primary waits for an ack before it drops
	// the connection. Default 5 × Heartbeat.
	Timeout time.Duration
	// Logger receives connection events. nil discards them.
	Logger *slog.Logger
}

// StandbyStatus is a connected standby's position as the primary sees it.
type StandbyStatus struct {
	Node string // the standby's node ID
	Addr string // its network address
	// Sent is the last LSN sent; Received, Flushed and Applied the
	// standby's last acknowledged positions.
	Sent, Received, Flushed, Applied wal.LSN
	// Lag is how far behind the primary's newest record the standby's
	// flushed position is, in time: the age, on the primary's clock, of
	// the oldest record it has not flushed (0 when caught up).
	Lag time.Duration
}

// Primary streams its WAL to standbys that connect to it. A slow standby
// never slows Append: each standby reads the log at its own pace (the WAL
// is the buffer), and a standby whose position the log no longer holds is
// refused with RejectNotReady and a reason.
type Primary struct {
	log  *wal.Log
	opts PrimaryOptions
	l    *Listener
	lg   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	standbys map[*Conn]*StandbyStatus
	changed  chan struct{} // closed and replaced when any ack arrives
}

// NewPrimary listens on addr and serves standbys from log.
func NewPrimary(log *wal.Log, addr string, opts PrimaryOptions) (*Primary, error) {
	if opts.Node == "" {
		return nil, errors.New("replication: PrimaryOptions.Node is empty")
	}
	if opts.MaxBatchBytes == 0 {
		opts.MaxBatchBytes = 1 << 20
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * opts.Heartbeat
	}
	if opts.MaxBatchBytes < 0 || opts.MaxBatchBytes > MaxFrameBytes/2 {
		return nil, fmt.Errorf("replication: PrimaryOptions.MaxBatchBytes %d: want 0 (default) to %d", opts.MaxBatchBytes, MaxFrameBytes/2)
	}
	l, err := Listen(addr, opts.Transport)
	if err != nil {
		return nil, err
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	p := &Primary{log: log, opts: opts, l: l, lg: lg.With("component", "replication", "role", "primary"),
		standbys: make(map[*Conn]*StandbyStatus), changed: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.acceptLoop()
	}()
	return p, nil
}

// Addr is the address standbys connect to.
func (p *Primary) Addr() net.Addr { return p.l.Addr() }

// Close stops listening, disconnects every standby and waits for its
// goroutines.
func (p *Primary) Close() error {
	p.cancel()
	err := p.l.Close()
	p.mu.Lock()
	for c := range p.standbys {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// Standbys returns the connected standbys' positions, by node ID.
func (p *Primary) Standbys() []StandbyStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]StandbyStatus, 0, len(p.standbys))
	for _, s := range p.standbys {
		st := *s
		st.Lag = p.lag(st.Flushed)
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b StandbyStatus) int { return cmpStr(a.Node, b.Node) })
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lag is the age of the oldest record after flushed.
func (p *Primary) lag(flushed wal.LSN) time.Duration {
	if flushed >= p.log.Last() {
		return 0
	}
	r := p.log.NewReader(flushed + 1)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec, err := r.Next(ctx)
	if err != nil {
		return 0
	}
	return time.Since(rec.Time)
}

// WaitFlushed waits until k standbys have flushed lsn to their WAL (sync
// replication: call it after Append, before acknowledging the write), or
// until ctx is done.
func (p *Primary) WaitFlushed(ctx context.Context, lsn wal.LSN, k int) error {
	for {
		p.mu.Lock()
		n := 0
		for _, s := range p.standbys {
			if s.Flushed >= lsn {
				n++
			}
		}
		ch := p.changed
		p.mu.Unlock()
		if n >= k {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("replication: %d of %d standbys flushed LSN %d: %w", n, k, lsn, context.Cause(ctx))
		}
	}
}

func (p *Primary) acceptLoop() {
	for {
		c, h, err := p.l.Accept(p.ctx)
		var he *HandshakeError
		if errors.As(err, &he) {
			p.lg.Warn("standby refused", "remote", he.Remote, "err", he.Err)
			continue
		}
		if err != nil {
			return // listener closed
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c, h)
		}()
	}
}

// serve streams to one standby until the connection fails or the primary
// closes.
func (p *Primary) serve(c *Conn, h Hello) {
	defer c.Close()
	epoch := p.log.Epoch()
	if h.Epoch > epoch {
		p.lg.Warn("standby has seen a newer epoch; this primary is deposed", "node", h.Node, "standby epoch", h.Epoch, "epoch", epoch)
		_ = c.RejectPeer(Reject{Code: RejectEpoch, Reason: fmt.Sprintf("standby has seen epoch %d, this primary is at %d", h.Epoch, epoch)})
		return
	}
	if h.LastLSN > p.log.Last() {
		_ = c.RejectPeer(Reject{Code: RejectNotReady, Reason: fmt.Sprintf("standby holds LSN %d, past this primary's last %d: it must truncate to the fork point first", h.LastLSN, p.log.Last())})
		return
	}
	if first := p.log.First(); h.LastLSN+1 < first {
		_ = c.RejectPeer(Reject{Code: RejectNotReady, Reason: fmt.Sprintf("standby needs LSN %d; the primary's WAL starts at %d: bootstrap it from the archive", h.LastLSN+1, first)})
		return
	}
	if err := c.Welcome(Welcome{Version: ProtocolVersion, Cluster: p.opts.Transport.cluster(), Node: p.opts.Node, Epoch: epoch}); err != nil {
		return
	}
	st := &StandbyStatus{Node: h.Node, Addr: c.RemoteAddr().String(), Sent: h.LastLSN, Received: h.LastLSN, Flushed: h.LastLSN, Applied: h.LastLSN}
	p.mu.Lock()
	p.standbys[c] = st
	p.notifyLocked() // it may already hold what WaitFlushed waits for
	p.mu.Unlock()
	p.lg.Info("standby connected", "node", h.Node, "from", h.LastLSN+1)
	defer func() {
		p.mu.Lock()
		delete(p.standbys, c)
		p.notifyLocked()
		p.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	// Acks arrive on the same connection; the reader ends the stream
	// when the connection fails.
	done := make(chan error, 1)
	go func() {
		done <- p.readAcks(c, st)
		cancel()
	}()
	err := p.stream(ctx, c, h.LastLSN+1, st)
	c.Close()
	ackErr := <-done
	p.lg.Info("standby disconnected", "node", h.Node, "err", errors.Join(err, ackErr))
}

func (p *Primary) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Primary) readAcks(c *Conn, st *StandbyStatus) error {
	for {
		c.SetReadDeadline(time.Now().Add(p.opts.Timeout))
		f, err := c.ReadFrame()
		if err != nil {
			return err
		}
		if f.Type != FrameAck {
			return &FrameError{Type: f.Type, Err: ErrFrameMalformed, Detail: "primary expects acks only"}
		}
		if f.Epoch > p.log.Epoch() {
			p.lg.Warn("standby acknowledges a newer epoch; this primary is deposed", "node", st.Node, "epoch", f.Epoch)
			return fmt.Errorf("replication: standby %s is at epoch %d, past ours", st.Node, f.Epoch)
		}
		a, err := DecodeAck(f.Payload)
		if err != nil {
			return err
		}
		p.mu.Lock()
		if a.Received > st.Sent || a.Flushed < st.Flushed {
			p.mu.Unlock()
			return &FrameError{Type: FrameAck, Err: ErrFrameMalformed, Detail: "ack of records not sent, or flushed position going back"}
		}
		st.Received, st.Flushed, st.Applied = a.Received, a.Flushed, a.Applied
		p.notifyLocked()
		p.mu.Unlock()
	}
}

// stream sends records from LSN next on, batching what is already in the
// log up to MaxBatchBytes per frame.
func (p *Primary) stream(ctx context.Context, c *Conn, next wal.LSN, st *StandbyStatus) error {
	r := p.log.NewReader(next)
	defer r.Close()
	var batch []wal.Record
	var payload []byte
	for {
		hctx, cancel := context.WithTimeout(ctx, p.opts.Heartbeat)
		rec, err := r.Next(hctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			// Idle: a heartbeat (no records) that the standby acks.
			if err := c.WriteFrame(FrameRecords, p.log.Epoch(), AppendRecords(payload[:0], nil)); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		batch = append(batch[:0], rec)
		size := len(rec.Data)
		for size < p.opts.MaxBatchBytes && rec.LSN < p.log.Last() {
			if rec, err = r.Next(ctx); err != nil {
				return err
			}
			batch = append(batch, rec)
			size += len(rec.Data)
		}
		payload = AppendRecords(payload[:0], batch)
		// Sent moves before the write: the standby may acknowledge the
		// batch before WriteFrame returns.
		p.mu.Lock()
		st.Sent = batch[len(batch)-1].LSN
		p.mu.Unlock()
		if err := c.WriteFrame(FrameRecords, p.log.Epoch(), payload); err != nil {
			return err
		}
	}
}
