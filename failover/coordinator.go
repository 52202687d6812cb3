package failover

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/continuity-go/continuity/internal/handshake"
	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/wal"
)

// Position is what a node's host tells its coordinator about its log.
type Position struct {
	Flushed wal.LSN // last LSN durable in the local WAL
	Applied wal.LSN // last LSN applied to the state machine
	Acked   wal.LSN // primary only: highest LSN acknowledged to a client
	Epoch   uint64  // the log's epoch
	Healthy bool    // false after a failed fsync or a stalled disk: the node gives up the primary role and is not promoted
	// Archived (primary only) is the newest LSN its archive's head
	// object vouches for: kept in the cluster state so that any node can
	// tell an archive whose newest objects and heads were deleted.
	Archived wal.LSN
}

// Role is a node's part in the cluster.
type Role int

// RoleStandby and RolePrimary are the roles a node takes.
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

// Coordinator is a node's member of the cluster's Raft group: it keeps
// the cluster State, renews the lease while this node is primary, reports
// this node's position, and, while it is the Raft leader, promotes a new
// primary when the lease of the old one expires.
type Coordinator struct {
	cfg   Config
	lg    *slog.Logger
	raft  *raft.Raft
	mux   *muxStream
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	fsm   *fsm
	ready chan struct{} // closed once Raft runs: forwarded commands wait for it
	kick  chan struct{} // renew now (this node was just promoted): roleLoop sends, nodeLoop receives
	// synced is closed once this node's State is at least as new as the
	// leader's was after Open (syncLoop): before, it may be a snapshot
	// from before this node stopped, and no role is told from it.
	synced chan struct{}
	// bootstrapped: Open started a new cluster (Config.Bootstrap on a
	// node without Raft state).
	bootstrapped bool

	// opMu is held (read) by Raft operations in flight and (write) by
	// Close, which sets closing before it shuts Raft down.
	opMu    sync.RWMutex
	closing bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards lease and ack. They share it because a committed renewal
	// grants the lease and records the acknowledged LSN at once, and
	// Acknowledge reads both.
	mu    sync.Mutex
	lease leaseState
	ack   ackState

	// Each of these belongs to one goroutine and takes no lock.
	leader leaderState // leaderLoop's (and chooseCandidate's, which it calls)
	role   roleState   // roleLoop's
	node   nodeState   // nodeLoop's
}

// Open starts the coordinator: it checks cfg (Node, Dir and Position are
// required), fills in the defaults of its zero fields, opens the Raft
// state under Dir, listens on Bind and starts the background loops, which
// Close stops.
func Open(cfg Config) (*Coordinator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, dirMode); err != nil {
		return nil, err
	}
	c := &Coordinator{cfg: cfg, lg: cfg.Logger.With("component", "failover", "node", cfg.Node)}
	vfs.WarnShared(vfs.Default(), cfg.Dir, c.lg)
	c.fsm = newFSM(cfg.now)
	c.ready = make(chan struct{})
	c.kick = make(chan struct{}, 1)
	c.synced = make(chan struct{})
	var err error
	if c.store, err = raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db")); err != nil {
		return nil, fmt.Errorf("failover: open raft store: %w", err)
	}
	snaps, err := openSnapshots(cfg.Dir)
	if err != nil {
		c.store.Close()
		return nil, err
	}
	s, err := newTLSStream(cfg.Bind, cfg.Advertise, cfg.TLS, cfg.InsecurePlaintext, handshake.Options{
		Timeout:             cfg.HandshakeTimeout,
		MaxPending:          cfg.MaxHandshakes,
		MaxPendingPerSource: cfg.MaxHandshakesPerSource,
		Logger:              c.lg.With("listener", "coordinator"),
	})
	if err != nil {
		c.store.Close()
		return nil, fmt.Errorf("failover: listen on %s: %w", cfg.Bind, err)
	}
	s.dial = cfg.dial
	s.expect = c.memberAt
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
			c.bootstrapped = true
		} else {
			c.lg.Info("Bootstrap ignored: this node already belongs to a cluster (its Raft state is in " + cfg.Dir + ")")
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	close(c.ready)
	// The Raft leader's promotions (leader.go), this node's renewals and
	// reports (lease.go), and its role changes told to the host.
	c.wg.Add(4)
	go c.leaderLoop()
	go c.nodeLoop()
	go c.roleLoop()
	go c.syncLoop()
	return c, nil
}

// HandshakesRefused is how many connections the coordinator's listener
// refused: their TLS handshake failed or timed out
// (Config.HandshakeTimeout), or they came over Config.MaxHandshakes or
// MaxHandshakesPerSource. Refusals are logged at most once every 10 s,
// with their count.
func (c *Coordinator) HandshakesRefused() uint64 { return c.mux.refused() }

// Bootstrapped reports whether Open started a new cluster of this node:
// false when Config.Bootstrap was ignored because the node already had
// Raft state.
func (c *Coordinator) Bootstrapped() bool { return c.bootstrapped }

// Synced is closed once this node's State is at least as new as the
// leader's was after Open: a sync command this node proposed through the
// leader has been applied here. Until then State may be what the node
// knew before it stopped, and the host is told no role.
func (c *Coordinator) Synced() <-chan struct{} { return c.synced }

// IsSynced reports whether Synced is closed.
func (c *Coordinator) IsSynced() bool {
	select {
	case <-c.synced:
		return true
	default:
		return false
	}
}

// syncLoop proposes a sync command through the leader until this node
// has applied it, then closes synced.
func (c *Coordinator) syncLoop() {
	defer c.wg.Done()
	nonce := rand.Uint64() | 1
	for {
		seen, next := c.fsm.sawNonce(nonce)
		if seen {
			close(c.synced)
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Profile.Lease)
		err := c.propose(ctx, command{Op: opSync, Node: c.cfg.Node, Nonce: nonce})
		if err == nil {
			// Committed at the leader: this node applies it once it
			// hears of the commit (or proposes it again after Lease).
			select {
			case <-next:
			case <-ctx.Done():
			}
		}
		cancel()
		select {
		case <-c.ctx.Done():
			return
		default:
		}
		if err != nil {
			select { // a retry's backoff while no leader answers
			case <-time.After(c.cfg.Profile.Renew):
			case <-c.ctx.Done():
				return
			}
		}
	}
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
	c.lease.until = time.Time{}
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
	return c.lease.epoch, c.lease.epoch != 0 && c.cfg.now().Before(c.lease.until)
}

// roleLoop tells the host when this node's role, epoch or primary
// changes.
func (c *Coordinator) roleLoop() {
	defer c.wg.Done()
	select { // no role from a State older than the leader's
	case <-c.synced:
	case <-c.ctx.Done():
		return
	}
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
		changed := !c.role.known || c.role.current != rc // role, epoch, primary, its address or the fork
		c.role.current, c.role.known = rc, true
		if rc.Role != RolePrimary {
			c.mu.Lock()
			c.lease.epoch, c.lease.until = 0, time.Time{}
			c.mu.Unlock()
		}
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

// roleState is the role roleLoop last told the host. Only roleLoop's
// goroutine touches it.
type roleState struct {
	current RoleChange
	known   bool // false before roleLoop's first pass: current is not yet told
}

// SetArchive records id as the cluster's archive, once: it must run on
// the primary of epoch. It fails with ErrArchiveMismatch when the cluster
// already archives to another repository.
func (c *Coordinator) SetArchive(ctx context.Context, epoch uint64, id string) error {
	return c.propose(ctx, command{Op: opArchive, Node: c.cfg.Node, Epoch: epoch, ArchiveID: id})
}
