package failover

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/continuity-go/continuity/peer"
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

// Config configures a Coordinator.
type Config struct {
	Node      string // this node's ID (with TLS, its certificate's)
	Dir       string // Raft log, stable store and snapshots (made 0700, files 0600)
	Bind      string // address the coordinator listens on, e.g. ":7401"
	Advertise string // address other nodes dial (default: the bound address)
	ReplAddr  string // this node's replication address, for standbys to follow it when it is primary
	// TLS is the cluster's mutual TLS, the same as replication's.
	TLS peer.TLS
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
	// HandshakeTimeout bounds the TLS handshake of each connection the
	// coordinator accepts. Handshakes run concurrently, off the accept
	// loop, so connections that never finish theirs do not delay a
	// peer's. Default 10 s.
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds the connections in the handshake at once;
	// more are closed at once. Default 64.
	MaxHandshakes int
	// MaxHandshakesPerSource bounds them per source IP. Default 8.
	MaxHandshakesPerSource int

	// now and dial are seams for tests: a skewed clock, a faulty network.
	now  func() time.Time
	dial func(ctx context.Context, addr string) (net.Conn, error)
}

// withDefaults returns a copy of c with the defaults of its zero fields
// filled in: the LAN profile, slog.Default() and the system clock.
func (c Config) withDefaults() Config {
	if c.Profile == (Profile{}) {
		c.Profile = LAN
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// validate reports the first required field c lacks: Node and Dir, then
// Position.
func (c Config) validate() error {
	if err := c.validateStore(); err != nil {
		return err
	}
	if c.Position == nil {
		return errors.New("failover: Config.Position is required")
	}
	if c.HandshakeTimeout < 0 || c.MaxHandshakes < 0 || c.MaxHandshakesPerSource < 0 {
		return errors.New("failover: Config.HandshakeTimeout, MaxHandshakes and MaxHandshakesPerSource must not be negative")
	}
	return nil
}

// validateStore checks the fields that locate this node's Raft state,
// all that ForceRecover needs.
func (c Config) validateStore() error {
	if c.Node == "" || c.Dir == "" {
		return errors.New("failover: Config.Node and Config.Dir are required")
	}
	return nil
}
