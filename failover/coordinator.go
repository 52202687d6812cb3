package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/continuity-go/continuity/replication"
	"github.com/continuity-go/continuity/wal"
)

// Profile holds the timings of the coordination: Raft's and the primary
// lease's.
type Profile struct {
	// Heartbeat, Election and LeaderLease are Raft's HeartbeatTimeout,
	// ElectionTimeout and LeaderLeaseTimeout.
	Heartbeat, Election, LeaderLease time.Duration
	// Lease is how long a renewal lets the primary accept writes,
	// counted on the primary's monotonic clock from when it sent the
	// renewal; the Raft leader counts it from when it applied the
	// renewal (later), so the primary always stops first.
	Lease time.Duration
	// Renew is how often the primary renews, and standbys report.
	Renew time.Duration
	// Margin is how long before its lease ends the primary stops writing,
	// for clock rate drift and scheduling delays.
	Margin time.Duration
}

// LAN is the default profile: fail-over well under a second on a LAN.
var LAN = Profile{Heartbeat: 150 * time.Millisecond, Election: 150 * time.Millisecond, LeaderLease: 100 * time.Millisecond,
	Lease: 500 * time.Millisecond, Renew: 100 * time.Millisecond, Margin: 100 * time.Millisecond}

// WAN suits nodes in different regions (round trips of up to ~150 ms).
var WAN = Profile{Heartbeat: time.Second, Election: time.Second, LeaderLease: 500 * time.Millisecond,
	Lease: 5 * time.Second, Renew: time.Second, Margin: time.Second}

// Position is what a node's host tells its coordinator about its log.
type Position struct {
	Flushed wal.LSN // last LSN durable in the local WAL
	Applied wal.LSN // last LSN applied to the state machine
	Acked   wal.LSN // primary only: highest LSN acknowledged to a client
	Epoch   uint64  // the log's epoch
	Healthy bool    // false after a failed fsync or a stalled disk: the node gives up the primary role and is not promoted
}

// Role is a node's part in the cluster.
type Role int

// Roles.
const (
	RoleStandby Role = iota // follows the primary
	RolePrimary             // accepts writes while its lease holds
)

// String is "primary" or "standby".
func (r Role) String() string {
	if r == RolePrimary {
		return "primary"
	}
	return "standby"
}

// RoleChange tells the host what to be.
type RoleChange struct {
	Role        Role    // what this node is now
	Epoch       uint64  // the epoch it is for
	Primary     string  // the primary's node ID ("" if none yet)
	PrimaryAddr string  // the primary's replication address
	Fork        wal.LSN // the LSN after which Epoch began: a rejoining old primary truncates its log back to it
}

// Config configures a Coordinator.
type Config struct {
	Node      string // this node's ID (with TLS, its certificate's)
	Dir       string // Raft log, stable store and snapshots
	Bind      string // address the coordinator listens on, e.g. ":7401"
	Advertise string // address other nodes dial (default: the bound address)
	ReplAddr  string // this node's replication address, for standbys to follow it when it is primary
	// TLS is the cluster's mutual TLS, the same as replication's.
	TLS replication.TLS
	// InsecurePlaintext turns TLS off. Tests only.
	InsecurePlaintext bool
	// Bootstrap makes this node start a new cluster of itself; the other
	// nodes join through it (Coordinator.Join). Set it on one node, once.
	Bootstrap bool
	// Profile is the timing profile. Default LAN.
	Profile Profile
	// MaxLag: a standby more than MaxLag records behind the most advanced
	// node is never promoted (Patroni's maximum_lag_on_failover). 0: no
	// bound.
	MaxLag wal.LSN
	// SyncMode: only a node that holds every acknowledged write (the
	// primary's reported Acked) is promoted; without one the cluster
	// stays without a primary (refuses writes) rather than lose one.
	SyncMode bool
	// Position reports this node's log; it is called every Renew.
	Position func() Position
	// OnRole is called (from one goroutine, in order) when this node's
	// role, epoch or primary changes.
	OnRole func(RoleChange)
	// Logger receives role changes, promotions and warnings. Default
	// slog.Default().
	Logger *slog.Logger

	// now and dial are seams for tests: a skewed clock, a faulty network.
	now  func() time.Time
	dial func(ctx context.Context, addr string) (net.Conn, error)
}

// Coordinator is a node's member of the cluster's Raft group: it keeps
// the cluster State, renews the lease while this node is primary, reports
// this node's position, and, while it is the Raft leader, promotes a new
// primary when the lease of the old one expires.
type Coordinator struct {
	cfg   Config
	lg    *slog.Logger
	raft  *raft.Raft
	mux   *muxStream
	ready chan struct{} // closed once Raft runs: forwarded commands wait for it
	// opMu is held (read) by Raft operations in flight and (write) by
	// Close, which sets closing before it shuts Raft down.
	opMu    sync.RWMutex
	closing bool
	trans   *raft.NetworkTransport
	store   *raftboltdb.BoltStore
	fsm     *fsm

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	leaseEpoch  uint64
	leaseUntil  time.Time // monotonic: writes allowed before it
	leaderSince time.Time
	role        RoleChange
	roleKnown   bool
	switching   bool   // a switchover runs: do not renew
	fence       uint64 // raised by Resign and Switchover: renewals sent before grant no lease
	// ackedCommitted is the highest Acked a committed renewal carried;
	// ackInFlight is closed when the Acknowledge proposal in flight ends.
	ackedCommitted wal.LSN
	ackedEpoch     uint64
	ackInFlight    chan struct{}
	kick           chan struct{} // renew now (this node was just promoted)
	startedEpoch   uint64        // the last epoch whose fork this node recorded (nodeLoop only)
}

// Open starts the coordinator.
func Open(cfg Config) (*Coordinator, error) {
	if cfg.Node == "" || cfg.Dir == "" {
		return nil, errors.New("failover: Config.Node and Config.Dir are required")
	}
	if cfg.Profile == (Profile{}) {
		cfg.Profile = LAN
	}
	if cfg.Position == nil {
		return nil, errors.New("failover: Config.Position is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, lg: cfg.Logger.With("component", "failover", "node", cfg.Node)}
	c.fsm = newFSM(c)
	c.ready = make(chan struct{})
	c.kick = make(chan struct{}, 1)
	var err error
	if c.store, err = raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db")); err != nil {
		return nil, fmt.Errorf("failover: open raft store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStore(cfg.Dir, 2, io.Discard)
	if err != nil {
		c.store.Close()
		return nil, err
	}
	s, err := newTLSStream(cfg.Bind, cfg.Advertise, cfg.TLS, cfg.InsecurePlaintext)
	if err != nil {
		c.store.Close()
		return nil, fmt.Errorf("failover: listen on %s: %w", cfg.Bind, err)
	}
	s.dial = cfg.dial
	c.mux = newMux(s, c.applyForwarded)
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: io.Discard, Level: hclog.Off})
	c.trans = raft.NewNetworkTransportWithLogger(c.mux, 3, 2*time.Second, hl)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Node)
	rc.HeartbeatTimeout = cfg.Profile.Heartbeat
	rc.ElectionTimeout = cfg.Profile.Election
	rc.LeaderLeaseTimeout = cfg.Profile.LeaderLease
	rc.CommitTimeout = 5 * time.Millisecond
	rc.Logger = hl
	rc.SnapshotThreshold = 4096
	if c.raft, err = raft.NewRaft(rc, c.fsm, c.store, c.store, snaps, c.trans); err != nil {
		c.trans.Close()
		c.store.Close()
		return nil, fmt.Errorf("failover: start raft: %w", err)
	}
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(c.store, c.store, snaps)
		if err != nil {
			c.Close()
			return nil, err
		}
		if !has {
			f := c.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: c.trans.LocalAddr()}}})
			if err := f.Error(); err != nil {
				c.Close()
				return nil, fmt.Errorf("failover: bootstrap: %w", err)
			}
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	close(c.ready)
	c.wg.Add(3)
	go c.leaderLoop()
	go c.nodeLoop()
	go c.roleLoop()
	return c, nil
}

// Addr is the address other coordinators reach this one at.
func (c *Coordinator) Addr() string { return string(c.trans.LocalAddr()) }

// Close stops the coordinator. A primary stops being able to write at
// once (CanWrite is false).
func (c *Coordinator) Close() error {
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Lock()
	c.leaseUntil = time.Time{}
	c.mu.Unlock()
	c.opMu.Lock() // operations in flight end (Raft still runs and answers them)
	c.closing = true
	c.opMu.Unlock()
	var err error
	if c.raft != nil {
		err = c.raft.Shutdown().Error()
	}
	if c.trans != nil {
		c.trans.Close()
		c.trans.CloseStreams()
	}
	if c.mux != nil {
		c.mux.Close()
	}
	c.wg.Wait()
	if c.store != nil {
		c.store.Close()
	}
	return err
}

// State returns the cluster state as this node knows it.
func (c *Coordinator) State() State { return c.fsm.state() }

// IsLeader reports whether this node is the Raft leader.
func (c *Coordinator) IsLeader() bool { return c.raft.State() == raft.Leader }

// CanWrite reports whether this node may accept writes now, and in which
// epoch: it is the primary and its lease, renewed through Raft, has not
// run out on its own clock (minus the margin). The host checks it before
// every acknowledged write.
func (c *Coordinator) CanWrite() (epoch uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaseEpoch, c.leaseEpoch != 0 && c.cfg.now().Before(c.leaseUntil)
}

// Join adds a node to the cluster (as a Raft voter, or a non-voter that
// still follows and may be promoted). It must reach the leader: it is
// sent there if this node is not.
func (c *Coordinator) Join(ctx context.Context, m Member) error {
	cmd := command{Op: opJoin, Member: m}
	err := c.onLeader(ctx, cmd, func() error {
		err := c.await(func() raft.Future {
			if m.Voter {
				return c.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, 5*time.Second)
			}
			return c.raft.AddNonvoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, 5*time.Second)
		})
		if err != nil {
			return err
		}
		return c.applyLocal(ctx, cmd)
	})
	if err != nil {
		return fmt.Errorf("failover: add %s: %w", m.ID, err)
	}
	return nil
}

// Remove takes a node out of the cluster: out of the State and of the
// Raft configuration. It is sent to the leader if this node is not.
func (c *Coordinator) Remove(ctx context.Context, id string) error {
	return c.onLeader(ctx, command{Op: opLeave, Node: id}, func() error {
		if err := c.applyLocal(ctx, command{Op: opLeave, Node: id}); err != nil && !errors.Is(err, ErrUnknownMember) {
			return err
		}
		return c.await(func() raft.Future { return c.raft.RemoveServer(raft.ServerID(id), 0, 5*time.Second) })
	})
}

// leadershipMoved reports an error from Raft meaning this node stopped
// leading before the operation committed: the new leader must retry it.
func leadershipMoved(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress)
}

// renew proposes a renewal carrying pos and, once it commits, extends
// the lease from when it was sent.
func (c *Coordinator) renew(ctx context.Context, epoch uint64, pos Position) error {
	c.mu.Lock()
	fence := c.fence
	c.mu.Unlock()
	sent := c.cfg.now()
	err := c.propose(ctx, command{Op: opRenew, Node: c.cfg.Node, Epoch: epoch, Acked: pos.Acked, Flushed: pos.Flushed, Applied: pos.Applied})
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil && !c.switching && fence == c.fence && sent.Add(c.cfg.Profile.Lease-c.cfg.Profile.Margin).After(c.leaseUntil):
		// Granted only if no Resign or Switchover began since it was
		// sent: a renewal in flight then must not give the lease back.
		c.leaseEpoch, c.leaseUntil = epoch, sent.Add(c.cfg.Profile.Lease-c.cfg.Profile.Margin)
	case errors.Is(err, ErrStaleEpoch) || errors.Is(err, ErrNotPrimary):
		c.leaseUntil = time.Time{} // deposed: stop at once
	}
	if err == nil {
		if c.ackedEpoch != epoch { // LSNs of an older epoch may have been cut and reused
			c.ackedEpoch, c.ackedCommitted = epoch, 0
		}
		c.ackedCommitted = max(c.ackedCommitted, pos.Acked)
	}
	return err
}

// Acknowledge makes "writes up to lsn were acknowledged" part of the
// cluster state before the host acknowledges them (sync mode): the leader
// then promotes only a node that holds lsn, so no acknowledged write is
// lost in a fail-over. It renews the lease at the same time. Concurrent
// calls share Raft commits. It fails if this node is no longer the
// primary of epoch, and the host must not acknowledge then.
func (c *Coordinator) Acknowledge(ctx context.Context, epoch uint64, lsn wal.LSN) error {
	for {
		c.mu.Lock()
		if c.ackedEpoch == epoch && c.ackedCommitted >= lsn && c.leaseEpoch == epoch {
			c.mu.Unlock()
			return nil
		}
		if c.ackInFlight != nil {
			ch := c.ackInFlight
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.ackInFlight = ch
		c.mu.Unlock()
		pos := c.cfg.Position()
		pos.Acked = max(pos.Acked, lsn)
		err := c.renew(ctx, epoch, pos)
		c.mu.Lock()
		c.ackInFlight = nil
		close(ch)
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// Resign gives up the primary role (a failed disk, a planned stop): the
// node stops writing at once, and the leader promotes another. A node
// that another has already replaced (its epoch is stale, or it is not
// the primary) has nothing to give up: that is not an error.
func (c *Coordinator) Resign(ctx context.Context) error {
	c.mu.Lock()
	epoch := c.leaseEpoch
	c.leaseUntil = time.Time{}
	c.fence++
	c.mu.Unlock()
	err := c.propose(ctx, command{Op: opResign, Node: c.cfg.Node, Epoch: epoch})
	if errors.Is(err, ErrStaleEpoch) || errors.Is(err, ErrNotPrimary) {
		return nil
	}
	return err
}

// ErrNotCaughtUp: the switchover target did not reach the primary's last
// LSN in time; the old primary resumes.
var ErrNotCaughtUp = errors.New("failover: switchover target did not catch up")

// Switchover hands the primary role to target, losing nothing: call it on
// the primary. Writes stop at once (CanWrite turns false); once target
// reports the primary's last flushed LSN, the leader promotes it in the
// next epoch, and this node becomes a standby. If target does not catch
// up before ctx ends, or the promotion fails, this node goes on as
// primary (it renews again) and the error says why.
func (c *Coordinator) Switchover(ctx context.Context, target string) error {
	st := c.fsm.state()
	if st.Primary != c.cfg.Node {
		return fmt.Errorf("%w: switchover must run on the primary (%s)", ErrNotPrimary, orNone(st.Primary))
	}
	if _, ok := st.Members[target]; !ok || target == c.cfg.Node {
		return fmt.Errorf("%w: switchover target %q", ErrUnknownMember, target)
	}
	c.mu.Lock()
	c.switching = true
	c.leaseUntil = time.Time{} // no more writes in this epoch
	c.fence++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.switching = false
		c.mu.Unlock()
	}()
	last := c.cfg.Position().Flushed
	for {
		if r, ok := c.fsm.state().Reports[target]; ok && r.Flushed >= last && r.Healthy {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s did not report LSN %d: %v", ErrNotCaughtUp, target, last, ctx.Err())
		case <-c.fsm.changed():
		case <-time.After(c.cfg.Profile.Renew / 4):
		}
	}
	// Renewals that commit from now on grant no lease (the fence), so the
	// promotion may name the latest one; one committing meanwhile makes it
	// try again.
	for attempt := 0; ; attempt++ {
		cur := c.fsm.state()
		err := c.propose(ctx, command{Op: opPromote, Node: target, FromEpoch: st.Epoch, RenewIndex: cur.RenewIndex, Fork: last, Reason: "switchover from " + c.cfg.Node})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrLeaseRenewed) || attempt == 5 {
			return fmt.Errorf("failover: switchover to %s: %w", target, err)
		}
		time.Sleep(c.cfg.Profile.Renew / 4)
	}
	c.lg.Info("switched over", "to", target, "epoch", st.Epoch+1, "fork", last)
	return nil
}

// applyForwarded applies a command another node sent (this node should
// be the leader); membership joins are done here.
func (c *Coordinator) applyForwarded(b []byte) (byte, string) {
	cmd, err := decodeCommand(b)
	if err != nil {
		return forwardFailed, err.Error()
	}
	select {
	case <-c.ready: // the listener serves before Open has started Raft
	case <-time.After(time.Second):
		return forwardNoLeader, "starting"
	}
	if c.raft.State() != raft.Leader {
		return forwardNoLeader, "not the leader"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cmd.Op == opJoin {
		err = c.Join(ctx, cmd.Member)
	} else if cmd.Op == opLeave {
		err = c.Remove(ctx, cmd.Node)
	} else {
		err = c.applyLocal(ctx, cmd)
	}
	var ref *refusal
	switch {
	case leadershipMoved(err):
		return forwardNoLeader, err.Error() // the sender retries on the new leader
	case errors.As(err, &ref):
		return forwardRefused, err.Error()
	case err != nil:
		return forwardFailed, err.Error()
	}
	return forwardOK, ""
}

// refusal is a command the State refused.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// errClosed: the coordinator is closing.
var errClosed = errors.New("failover: coordinator closed")

// await starts a Raft operation and waits for its outcome, unless the
// coordinator is closing. Close waits for operations in flight before it
// shuts Raft down: a future Raft has taken but not answered when it shuts
// down is never answered.
func (c *Coordinator) await(op func() raft.Future) error {
	c.opMu.RLock()
	defer c.opMu.RUnlock()
	if c.closing {
		return errClosed
	}
	return op().Error()
}

// applyLocal applies cmd through this node's Raft (it must be leader).
func (c *Coordinator) applyLocal(ctx context.Context, cmd command) error {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var f raft.ApplyFuture
	if err := c.await(func() raft.Future { f = c.raft.Apply(encodeCommand(cmd), timeout); return f }); err != nil {
		return err
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return &refusal{err}
	}
	return nil
}

// propose applies cmd at the leader, wherever it is. A refusal comes back
// as an error wrapping ErrStaleEpoch, ErrNotPrimary or ErrUnknownMember.
func (c *Coordinator) propose(ctx context.Context, cmd command) error {
	return c.onLeader(ctx, cmd, func() error { return c.applyLocal(ctx, cmd) })
}

// onLeader runs local if this node is the Raft leader; otherwise it
// forwards cmd to the leader, whose applyForwarded does the same there.
// When leadership moves before the work commits, it starts again
// wherever the leader now is, until ctx ends: the work must be safe to
// repeat (a command the State dedupes, adding or removing the same server
// twice).
func (c *Coordinator) onLeader(ctx context.Context, cmd command, local func() error) error {
	for {
		if c.raft.State() == raft.Leader {
			err := local()
			if !leadershipMoved(err) {
				return err
			}
		} else if addr, _ := c.raft.LeaderWithID(); addr != "" {
			timeout := 2 * time.Second
			if d, ok := ctx.Deadline(); ok {
				timeout = min(timeout, time.Until(d))
			}
			status, msg, err := c.mux.forward(addr, encodeCommand(cmd), timeout)
			if err == nil {
				switch status {
				case forwardOK:
					return nil
				case forwardRefused:
					return &refusal{refusedError(msg)}
				case forwardFailed:
					return fmt.Errorf("failover: leader %s: %s", addr, msg)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("failover: no leader took %s: %w", cmd.Op, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// refusedError maps a forwarded refusal back to its sentinel.
func refusedError(msg string) error {
	for _, e := range []error{ErrStaleEpoch, ErrNotPrimary, ErrUnknownMember, ErrLeaseRenewed} {
		if len(msg) >= len(e.Error()) && msg[:len(e.Error())] == e.Error() {
			return fmt.Errorf("%w%s", e, msg[len(e.Error()):])
		}
	}
	return errors.New(msg)
}

// nodeLoop renews the lease while this node is primary, and reports the
// position otherwise; a primary whose host reports it unhealthy resigns.
func (c *Coordinator) nodeLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Profile.Renew)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		st := c.fsm.state()
		pos := c.cfg.Position()
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Profile.Lease)
		c.mu.Lock()
		switching := c.switching
		c.mu.Unlock()
		if st.Primary == c.cfg.Node && st.Epoch != 0 && switching {
			// A switchover runs: no renewal, no writes.
		} else if st.Primary == c.cfg.Node && st.Epoch != 0 {
			if !pos.Healthy {
				c.lg.Error("this primary's disk or state machine failed; resigning", "epoch", st.Epoch)
				_ = c.Resign(ctx)
				cancel()
				continue
			}
			if c.startedEpoch != st.Epoch {
				// The first renewal of a new epoch: record where this
				// node's log really forks (it may hold more than it
				// reported when chosen; it has not written in the epoch,
				// since it cannot before this renewal).
				if err := c.propose(ctx, command{Op: opStarted, Node: c.cfg.Node, Epoch: st.Epoch, Fork: pos.Flushed}); err == nil {
					c.startedEpoch = st.Epoch
				}
			}
			err := c.renew(ctx, st.Epoch, pos)
			if err != nil && c.ctx.Err() == nil {
				c.lg.Warn("lease renewal failed; writes stop when the lease runs out", "epoch", st.Epoch, "err", err)
			}
		} else {
			if c.roleIsPrimary() {
				c.mu.Lock()
				c.leaseUntil = time.Time{}
				c.mu.Unlock()
			}
			if _, ok := st.Members[c.cfg.Node]; ok {
				_ = c.propose(ctx, command{Op: opReport, Node: c.cfg.Node, Epoch: pos.Epoch, Flushed: pos.Flushed, Applied: pos.Applied, Healthy: pos.Healthy})
			}
		}
		cancel()
	}
}

func (c *Coordinator) roleIsPrimary() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaseEpoch != 0
}

// leaderLoop, on the Raft leader, promotes a primary when there is none
// or its lease has expired.
func (c *Coordinator) leaderLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Profile.Renew / 2)
	defer t.Stop()
	wasLeader := false
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if c.raft.State() != raft.Leader {
			wasLeader = false
			continue
		}
		if !wasLeader {
			// A new leader does not know when the primary last renewed:
			// it counts the lease from now.
			wasLeader = true
			c.mu.Lock()
			c.leaderSince = c.cfg.now()
			c.mu.Unlock()
			if err := c.await(func() raft.Future { return c.raft.Barrier(time.Second) }); err != nil {
				wasLeader = false
				continue
			}
		}
		st := c.fsm.state()
		// The lease counts from when this node applied the primary's last
		// renewal (after the primary sent it: safe), or, if it knows of
		// none (it restarted), from when it became leader.
		renewed := c.fsm.renewedAt(st.Primary, st.Epoch)
		if renewed.IsZero() {
			c.mu.Lock()
			renewed = c.leaderSince
			c.mu.Unlock()
		}
		if st.Primary != "" && c.cfg.now().Sub(renewed) < c.cfg.Profile.Lease {
			continue
		}
		cand, why, wait := c.candidate(st)
		if cand == "" {
			switch {
			case wait:
				c.lg.Debug("promotion waits", "why", why)
			case st.Epoch > 0:
				c.lg.Warn("no node can be promoted; the cluster has no primary", "epoch", st.Epoch, "why", why)
			default:
				c.lg.Debug("no node can be promoted yet", "why", why) // a new cluster, before the reports
			}
			continue
		}
		fork := st.Reports[cand].Flushed
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Profile.Lease)
		err := c.applyLocal(ctx, command{Op: opPromote, Node: cand, FromEpoch: st.Epoch, RenewIndex: st.RenewIndex, Fork: fork, Reason: "lease of " + orNone(st.Primary) + " expired"})
		cancel()
		if err != nil {
			c.lg.Warn("promotion failed", "candidate", cand, "err", err)
			continue
		}
		c.lg.Info("promoted a new primary", "primary", cand, "epoch", st.Epoch+1, "fork", fork, "previous", orNone(st.Primary))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// candidate chooses the node to promote: a member other than the
// expired primary with a fresh, healthy report, the highest flushed LSN
// (ties: the smallest ID), within MaxLag of the most advanced node and,
// in sync mode, holding every acknowledged write. A node that was more
// advanced but whose last report is stale may only be late because this
// node just became leader (reports stop during an election): for one
// staleness period of leadership the choice waits for it (the third
// result true, with the reason) instead of promoting a node with fewer
// records.
func (c *Coordinator) candidate(st State) (string, string, bool) {
	var best wal.LSN
	for _, r := range st.Reports {
		best = max(best, r.Flushed)
	}
	stale := 5 * c.cfg.Profile.Renew
	var ids []string
	for id := range st.Members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	chosen, why := "", "no member has reported"
	var top, lateTop wal.LSN
	late := ""
	for _, id := range ids {
		r, ok := st.Reports[id]
		switch {
		case !ok:
			continue
		case id == st.Primary || id == st.Resigned:
			why = "only the expired or resigned primary is known"
			continue
		case !r.Healthy:
			why = id + " is unhealthy"
			continue
		case c.cfg.now().Sub(c.fsm.reportedAt(id)) > stale:
			why = id + " has not reported recently"
			if r.Flushed > lateTop {
				late, lateTop = id, r.Flushed
			}
			continue
		case c.cfg.MaxLag > 0 && best-r.Flushed > c.cfg.MaxLag:
			why = fmt.Sprintf("%s is %d records behind (MaxLag %d)", id, best-r.Flushed, c.cfg.MaxLag)
			continue
		case c.cfg.SyncMode && r.Flushed < st.Acked:
			why = fmt.Sprintf("%s holds up to %d, writes up to %d were acknowledged", id, r.Flushed, st.Acked)
			continue
		}
		if chosen == "" || r.Flushed > top {
			chosen, top = id, r.Flushed
		}
	}
	if chosen != "" && lateTop > top {
		c.mu.Lock()
		since := c.leaderSince
		c.mu.Unlock()
		if c.cfg.now().Sub(since) < stale {
			return "", fmt.Sprintf("%s held LSN %d, more than %s's %d, and may report again now that this node leads", late, lateTop, chosen, top), true
		}
	}
	return chosen, why, false
}

// roleLoop tells the host when this node's role, epoch or primary
// changes.
func (c *Coordinator) roleLoop() {
	defer c.wg.Done()
	for {
		ch := c.fsm.changed()
		st := c.fsm.state()
		rc := RoleChange{Role: RoleStandby, Epoch: st.Epoch, Primary: st.Primary}
		if m, ok := st.Members[st.Primary]; ok {
			rc.PrimaryAddr = m.ReplAddr
		}
		if f, ok := st.Fork(st.Epoch); ok {
			rc.Fork = f
		}
		if st.Primary == c.cfg.Node && st.Epoch != 0 {
			rc.Role = RolePrimary
		}
		c.mu.Lock()
		changed := !c.roleKnown || c.role != rc // role, epoch, primary, its address or the fork
		c.role, c.roleKnown = rc, true
		if rc.Role != RolePrimary {
			c.leaseEpoch, c.leaseUntil = 0, time.Time{}
		}
		c.mu.Unlock()
		if changed {
			c.lg.Info("role", "role", rc.Role.String(), "epoch", rc.Epoch, "primary", orNone(rc.Primary))
			if c.cfg.OnRole != nil {
				c.cfg.OnRole(rc) // the host stops following before this node can write
			}
		}
		if changed && rc.Role == RolePrimary {
			select { // promoted: renew (and so start writing) now, not at the next tick
			case c.kick <- struct{}{}:
			default:
			}
		}
		select {
		case <-ch:
		case <-c.ctx.Done():
			return
		}
	}
}

// fsm is the Raft state machine holding the State, plus the local times
// at which renewals and reports were applied (for the leader's lease and
// freshness checks: monotonic, never replicated).
type fsm struct {
	c         *Coordinator
	mu        sync.Mutex
	st        State
	renew     map[string]time.Time // node@epoch → applied at
	reported  map[string]time.Time
	changedCh chan struct{}
}

func newFSM(c *Coordinator) *fsm {
	return &fsm{c: c, renew: map[string]time.Time{}, reported: map[string]time.Time{}, changedCh: make(chan struct{})}
}

func (f *fsm) state() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.Clone()
}

func (f *fsm) changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changedCh
}

func (f *fsm) renewedAt(node string, epoch uint64) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renew[fmt.Sprintf("%s@%d", node, epoch)]
}

func (f *fsm) reportedAt(node string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reported[node]
}

// Apply applies one Raft log entry. It returns nil or the refusal.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, err := decodeCommand(l.Data)
	if err != nil {
		return err // never proposed by this build: refuse it everywhere alike
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	before := f.st.Primary + fmt.Sprint(f.st.Epoch)
	err = f.st.apply(cmd, l.Index)
	now := f.c.cfg.now()
	if err == nil {
		switch cmd.Op {
		case opRenew:
			f.renew[fmt.Sprintf("%s@%d", cmd.Node, cmd.Epoch)] = now
			f.reported[cmd.Node] = now
		case opReport:
			f.reported[cmd.Node] = now
		case opPromote:
			// The new primary's lease starts with its promotion.
			f.renew[fmt.Sprintf("%s@%d", cmd.Node, f.st.Epoch)] = now
		}
	}
	if f.st.Primary+fmt.Sprint(f.st.Epoch) != before || cmd.Op == opJoin || cmd.Op == opLeave || cmd.Op == opStarted {
		close(f.changedCh)
		f.changedCh = make(chan struct{})
	}
	return err
}

// Snapshot captures the State for Raft's log compaction.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	b, err := encodeState(f.state())
	if err != nil {
		return nil, err
	}
	return fsmSnapshot(b), nil
}

// Restore replaces the State from a snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return err
	}
	st, err := decodeState(b)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.st = st
	close(f.changedCh)
	f.changedCh = make(chan struct{})
	f.mu.Unlock()
	return nil
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() {}

// ForceRecover is the manual override for a cluster that has lost its
// quorum for good (the other voters are gone and will not return): with
// this node's coordinator closed, it rewrites the node's Raft
// configuration to voters (which must include this node), so that the
// node, opened again with cfg, forms a cluster of those voters, elects a
// leader, and promotes a primary as usual. Every other node of the old
// cluster must stay down or be wiped and joined anew: two clusters that
// both believe they are the cluster would each promote a primary. It is
// logged at error level.
func ForceRecover(cfg Config, voters []Member) error {
	if cfg.Node == "" || cfg.Dir == "" {
		return errors.New("failover: Config.Node and Config.Dir are required")
	}
	found := false
	var conf raft.Configuration
	for _, m := range voters {
		found = found || m.ID == cfg.Node
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.RaftAddr)})
	}
	if !found {
		return fmt.Errorf("failover: ForceRecover: voters must include this node (%s)", cfg.Node)
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		return fmt.Errorf("failover: ForceRecover: open raft store (is the coordinator still running?): %w", err)
	}
	defer store.Close()
	snaps, err := raft.NewFileSnapshotStore(cfg.Dir, 2, io.Discard)
	if err != nil {
		return err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Node)
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Output: io.Discard, Level: hclog.Off})
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.Node))
	f := &fsm{renew: map[string]time.Time{}, reported: map[string]time.Time{}, changedCh: make(chan struct{}), c: &Coordinator{cfg: Config{now: time.Now}}}
	if err := raft.RecoverCluster(rc, f, store, store, snaps, trans, conf); err != nil {
		return fmt.Errorf("failover: ForceRecover: %w", err)
	}
	lg.Error("FORCED RECOVERY: the Raft configuration was rewritten by hand; every node of the old cluster not in it must stay down or be wiped",
		"node", cfg.Node, "voters", len(voters))
	return nil
}
