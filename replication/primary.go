package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuity-go/continuity/internal/watermark"
	"github.com/continuity-go/continuity/internal/wire"
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
	// Window is how many Records frames may be unacknowledged per
	// standby. While the window is full, records build up in the WAL and
	// the next frame carries all of them (up to MaxBatchBytes), so a
	// standby slower than the primary commits bigger batches instead of
	// falling behind frame by frame. Default 2.
	Window int
	// Capture, if set, gives the primary's state as of an LSN, for a
	// standby that asks for it (Hello.Want: a state transfer, as Raft's
	// InstallSnapshot); archive.CaptureFunc's contract. Nil refuses such
	// standbys with RejectNotReady.
	Capture func(ctx context.Context) (wal.LSN, func(io.Writer) error, error)
	// HoldCommit makes standbys apply only what the host commits with
	// Primary.Commit (in sync mode, the writes its cluster acknowledged,
	// which every later history holds) instead of every record durable
	// here, which a fail-over with a lower fork may cut.
	HoldCommit bool
	// EpochReached, if set, says whether the cluster's history has
	// reached epoch (the coordinator's view). A standby's claim of a
	// newer epoch than this primary's (in its Hello or acks) then
	// deposes the primary only if EpochReached confirms it; otherwise the
	// standby is refused and the primary goes on: an authenticated but
	// lying standby cannot depose it, and a primary that really is
	// deposed is fenced by its lease. Unset, the claim is believed.
	EpochReached func(epoch uint64) bool
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
	l    *wire.Listener
	lg   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	standbys map[*wire.Conn]*StandbyStatus
	// changed is broadcast, under mu, when an ack arrives, a standby
	// connects or disconnects, or the primary is deposed: waiters take
	// Changed under mu with the state they check.
	changed watermark.Signal
	// known holds each standby ever connected and the last LSN it
	// flushed, connected or not: the WAL it still needs (Needed).
	known    map[string]wal.LSN
	deposed  error // set once a peer shows a newer epoch
	degraded bool  // Append last returned without its standbys (Degrade)
	// degradedAppends counts the synchronous Appends that returned
	// without their standbys (PolicyDegrade).
	degradedAppends uint64

	// syncing counts the synchronous Appends and WaitFlushed calls in
	// progress: while any runs, frames ask standbys to sync at once.
	syncing atomic.Int64

	// commit is the LSN the host committed (HoldCommit).
	commit watermark.Mark[wal.LSN]
}

// Commit lets standbys apply records up to lsn (with HoldCommit; never
// past what is durable here). It only moves forward.
func (p *Primary) Commit(lsn wal.LSN) { p.commit.Advance(lsn) }

// committed is how far standbys may apply, given what is durable here.
func (p *Primary) committed(synced wal.LSN) wal.LSN {
	if !p.opts.HoldCommit {
		return synced
	}
	return min(synced, p.commit.Load())
}

// commitChanged is closed when Commit moves (nil without HoldCommit:
// never).
func (p *Primary) commitChanged() <-chan struct{} {
	if !p.opts.HoldCommit {
		return nil
	}
	return p.commit.Changed()
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
	if opts.Window <= 0 {
		opts.Window = 2
	}
	if opts.MaxBatchBytes < 0 || opts.MaxBatchBytes > wire.MaxFrameBytes/2 {
		return nil, fmt.Errorf("replication: PrimaryOptions.MaxBatchBytes %d: want 0 (default) to %d", opts.MaxBatchBytes, wire.MaxFrameBytes/2)
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("component", "replication", "role", "primary")
	l, err := wire.ListenConfig{Logger: lg}.Listen(addr, opts.Transport.wire())
	if err != nil {
		return nil, err
	}
	p := &Primary{log: log, opts: opts, l: l, lg: lg,
		standbys: make(map[*wire.Conn]*StandbyStatus), known: make(map[string]wal.LSN)}
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

// HandshakesRefused is how many connections the primary refused before
// they became standbys: their handshake failed (TLS, identity, Hello) or
// timed out (Options.HandshakeTimeout), or they came over
// Options.MaxHandshakes or MaxHandshakesPerSource. Refusals are logged at
// most once every 10 s, with their count.
func (p *Primary) HandshakesRefused() uint64 { return p.l.Refused() }

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
	out := make([]StandbyStatus, 0, len(p.standbys))
	for _, s := range p.standbys {
		out = append(out, *s)
	}
	p.mu.Unlock()
	for i := range out { // reads the WAL: not under the lock acks need
		out[i].Lag = p.lag(out[i].Flushed)
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

func (p *Primary) acceptLoop() {
	for {
		c, h, err := p.l.Accept(p.ctx)
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c, h)
		}()
	}
}

// believe reports whether a standby's claim of epoch may depose this
// primary (PrimaryOptions.EpochReached).
func (p *Primary) believe(epoch uint64) bool {
	return p.opts.EpochReached == nil || p.opts.EpochReached(epoch)
}

// serve streams to one standby until the connection fails or the primary
// closes.
func (p *Primary) serve(c *wire.Conn, h wire.Hello) {
	defer c.Close()
	epoch := p.log.Epoch()
	if h.Epoch > epoch && !p.believe(h.Epoch) {
		p.lg.Warn("standby claims an epoch the cluster has not reached; refused", "node", h.Node, "standby epoch", h.Epoch, "epoch", epoch)
		_ = c.RejectPeer(wire.Reject{Code: wire.RejectEpoch, Reason: fmt.Sprintf("epoch %d is not the cluster's (this primary is at %d)", h.Epoch, epoch)})
		return
	}
	if h.Epoch > epoch {
		p.depose(fmt.Errorf("%w: standby %s has seen epoch %d, this primary is at %d", ErrDeposed, h.Node, h.Epoch, epoch))
		p.lg.Warn("standby has seen a newer epoch; this primary is deposed", "node", h.Node, "standby epoch", h.Epoch, "epoch", epoch)
		_ = c.RejectPeer(wire.Reject{Code: wire.RejectEpoch, Reason: fmt.Sprintf("standby has seen epoch %d, this primary is at %d", h.Epoch, epoch)})
		return
	}
	if h.Want&wire.WantState != 0 {
		p.serveState(c, h, epoch)
		return
	}
	if first := p.log.First(); h.LastLSN+1 < first {
		_ = c.RejectPeer(wire.Reject{Code: wire.RejectBehind, Reason: fmt.Sprintf("standby needs LSN %d; the primary's WAL starts at %d: bootstrap it from the archive (StandbyOptions.Archive)", h.LastLSN+1, first)})
		return
	}
	if reason := p.diverged(h); reason != "" {
		p.lg.Warn("standby's log diverged from this primary's", "node", h.Node, "reason", reason)
		_ = c.RejectPeer(wire.Reject{Code: wire.RejectDiverged, Reason: reason})
		return
	}
	if err := c.Welcome(wire.Welcome{Version: wire.ProtocolVersion, Cluster: p.opts.Transport.wire().ClusterID(), Node: p.opts.Node, Epoch: epoch}); err != nil {
		return
	}
	p.follow(c, h)
}

// follow registers an accepted standby that holds h.LastLSN and streams
// to it until the connection fails.
func (p *Primary) follow(c *wire.Conn, h wire.Hello) {
	st := &StandbyStatus{Node: h.Node, Addr: c.RemoteAddr().String(), Sent: h.LastLSN, Received: h.LastLSN, Flushed: h.LastLSN, Applied: h.LastLSN}
	p.mu.Lock()
	p.standbys[c] = st
	p.known[h.Node] = h.LastLSN
	p.changed.Broadcast() // it may already hold what WaitFlushed waits for
	p.mu.Unlock()
	p.lg.Info("standby connected", "node", h.Node, "from", h.LastLSN+1)
	defer func() {
		p.mu.Lock()
		delete(p.standbys, c)
		p.changed.Broadcast()
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

// diverged says why the standby's log is not a prefix of this primary's
// (its last record is past this log's end, or another record), or "".
func (p *Primary) diverged(h wire.Hello) string {
	written, _, _ := p.log.Progress()
	if h.LastLSN > written {
		return fmt.Sprintf("standby holds LSN %d, past this primary's last %d: it must cut its log back to the fork point", h.LastLSN, written)
	}
	if h.LastLSN == 0 || h.LastSum == 0 || h.LastLSN < p.log.First() {
		return ""
	}
	r := p.log.NewUnsyncedReader(h.LastLSN)
	defer r.Close()
	rec, err := r.Next(p.ctx)
	if err != nil {
		return "" // truncated or closed meanwhile: the stream finds out
	}
	if wire.RecordSum(rec) != h.LastSum {
		return fmt.Sprintf("standby's record at LSN %d (epoch %d at most) is not this primary's (epoch %d, %s): it must cut its log back to a record both hold", h.LastLSN, h.Epoch, rec.Epoch, rec.Time.UTC().Format(time.RFC3339Nano))
	}
	return ""
}

func (p *Primary) readAcks(c *wire.Conn, st *StandbyStatus) error {
	for {
		c.SetReadDeadline(time.Now().Add(p.opts.Timeout))
		f, err := c.ReadFrame()
		if err != nil {
			return err
		}
		if f.Type != wire.FrameAck {
			return &wire.FrameError{Type: f.Type, Err: wire.ErrFrameMalformed, Detail: "primary expects acks only"}
		}
		if f.Epoch > p.log.Epoch() && !p.believe(f.Epoch) {
			return fmt.Errorf("replication: standby %s acknowledges epoch %d, which the cluster has not reached; dropped", st.Node, f.Epoch)
		}
		if f.Epoch > p.log.Epoch() {
			err := fmt.Errorf("%w: standby %s is at epoch %d, past ours (%d)", ErrDeposed, st.Node, f.Epoch, p.log.Epoch())
			p.depose(err)
			p.lg.Warn("standby acknowledges a newer epoch; this primary is deposed", "node", st.Node, "epoch", f.Epoch)
			return err
		}
		a, err := wire.DecodeAck(f.Payload)
		if err != nil {
			return err
		}
		p.mu.Lock()
		if a.Received > st.Sent || a.Flushed < st.Flushed {
			p.mu.Unlock()
			return &wire.FrameError{Type: wire.FrameAck, Err: wire.ErrFrameMalformed, Detail: "ack of records not sent, or flushed position going back"}
		}
		st.Received, st.Flushed, st.Applied = a.Received, a.Flushed, a.Applied
		p.known[st.Node] = a.Flushed
		p.changed.Broadcast()
		p.mu.Unlock()
	}
}

// commitNoticeDelay is how long after a frame of records the stream
// tells the standby, if no frame has told it meanwhile, that those
// records are durable on the primary (a commit notice: a frame with no
// records that only moves Batch.Committed). At high rates the next frame
// carries it; at low rates a notice per record would double the frames.
const commitNoticeDelay = time.Millisecond

// stream sends records from LSN next on, batching what is already
// written up to MaxBatchBytes per frame. It ships records as soon as they
// are written, while the primary syncs them (so that a synchronous
// standby's sync overlaps the primary's), and tells the standby how far
// the primary's log is durable (Batch.Committed): in the next frame, or
// in a commit notice commitNoticeDelay after the last frame.
func (p *Primary) stream(ctx context.Context, c *wire.Conn, next wal.LSN, st *StandbyStatus) error {
	r := p.log.NewUnsyncedReader(next)
	defer r.Close()
	sent, told := next-1, wal.LSN(0) // last LSN sent; last Committed sent
	var w wire.BatchWriter
	var payload []byte     // the last frame's, reused
	var inflight []wal.LSN // last LSN of each unacknowledged frame
	idle := time.NewTimer(p.opts.Heartbeat)
	defer idle.Stop()
	// At once: the standby may hold records it has not applied for want
	// of a commit its last connection did not carry.
	notice := time.NewTimer(0)
	defer notice.Stop()
	// send writes a Records frame whose Batch says committed.
	send := func(frame []byte, committed wal.LSN) error {
		payload, told = frame, committed
		idle.Reset(p.opts.Heartbeat)
		if told < sent {
			notice.Reset(commitNoticeDelay)
		}
		return c.WriteFrame(wire.FrameRecords, p.log.Epoch(), frame)
	}
	for {
		// Flow control: at most Window frames of records unacknowledged.
		p.mu.Lock()
		for len(inflight) > 0 && inflight[0] <= st.Received {
			inflight = inflight[1:]
		}
		full := len(inflight) >= p.opts.Window
		var acked <-chan struct{}
		if full {
			acked = p.changed.Changed()
		}
		p.mu.Unlock()
		commitMoved := p.commitChanged() // before the loads: a move between is not missed
		written, synced, more := p.log.Progress()
		synced = p.committed(synced)
		if written > sent && !full {
			// Each record's data is copied once, into the frame.
			w.Start(payload[:0], synced)
			size := 0
			for sent < written && (w.Len() == 0 || size < p.opts.MaxBatchBytes) {
				rec, err := r.NextView(ctx)
				if err != nil {
					return err
				}
				w.Add(rec)
				size += len(rec.Data)
				sent = rec.LSN
			}
			var flags wire.BatchFlags
			if p.syncing.Load() > 0 {
				flags = wire.FlagSync
			}
			// Sent moves before the write: the standby may acknowledge
			// the batch before WriteFrame returns.
			p.mu.Lock()
			st.Sent = sent
			p.mu.Unlock()
			inflight = append(inflight, sent)
			if err := send(w.Finish(flags), synced); err != nil {
				return err
			}
			continue
		}
		// Wait for what lets the stream go on: new records, or, while
		// the window is full, an ack (new records wait for it anyway).
		if full {
			more = nil
		}
		select {
		case <-more:
		case <-acked:
		case <-notice.C:
			if synced := p.committed(p.log.Synced()); synced > told {
				if err := send(wire.AppendBatch(payload[:0], wire.Batch{Committed: synced}), synced); err != nil {
					return err
				}
			} else if told < sent && (!p.opts.HoldCommit || p.commit.Load() > p.log.Synced()) {
				notice.Reset(commitNoticeDelay) // the sync is still running
			}
		case <-commitMoved:
			if synced := p.committed(p.log.Synced()); synced > told {
				if err := send(wire.AppendBatch(payload[:0], wire.Batch{Committed: synced}), synced); err != nil {
					return err
				}
			}
		case <-idle.C:
			// Idle: a heartbeat that the standby answers with an ack.
			synced := p.committed(p.log.Synced())
			if err := send(wire.AppendBatch(payload[:0], wire.Batch{Committed: synced, Flags: wire.FlagPing}), synced); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ErrDeposed is returned by Append once a peer has shown an epoch newer
// than this primary's: another node was promoted, and this one must stop
// accepting writes (fencing).
var ErrDeposed = errors.New("replication: a newer epoch exists; this primary is deposed")

// ErrTooFewStandbys is returned by Append in a synchronous mode with
// PolicyBlock when fewer than K standbys are connected and ctx ends.
var ErrTooFewStandbys = errors.New("replication: too few standbys connected for synchronous replication")

func (p *Primary) depose(err error) {
	p.mu.Lock()
	if p.deposed == nil {
		p.deposed = err
	}
	p.changed.Broadcast()
	p.mu.Unlock()
}

// Deposed returns the error wrapping ErrDeposed once a peer showed a newer
// epoch, else nil.
func (p *Primary) Deposed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deposed
}

// Needed is the first LSN some standby that ever connected still needs:
// the host must not TruncateFront past it until that standby can be
// bootstrapped from the archive (or is forgotten with Forget). Without
// known standbys it is Last()+1.
func (p *Primary) Needed() wal.LSN {
	p.mu.Lock()
	defer p.mu.Unlock()
	need := p.log.Last() + 1
	for _, flushed := range p.known {
		need = min(need, flushed+1)
	}
	return need
}

// Forget drops a standby from Needed's accounting (it was removed from
// the cluster, or will be bootstrapped from the archive).
func (p *Primary) Forget(node string) {
	p.mu.Lock()
	delete(p.known, node)
	p.mu.Unlock()
}
