package continuity

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/replication"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// appendBuckets are the upper bounds of AppendStats.Buckets (returned
// as AppendStats.Bounds; not a package variable a host could change).
var appendBuckets = [...]time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 5 * time.Second,
}

// AppendStats counts a node's Append calls, for metrics.
type AppendStats struct {
	Calls, Failed  uint64          // Append calls, and those that returned an error
	Events, Bytes  uint64          // events and payload bytes acknowledged
	Latency        time.Duration   // total time in acknowledged calls
	Buckets        []uint64        // acknowledged calls by latency: Buckets[i] counts those ≤ Bounds[i] (cumulative)
	Bounds         []time.Duration // the upper bounds of Buckets
	AcknowledgedAt time.Time       // when the last call was acknowledged
}

type appendStats struct {
	mu sync.Mutex
	st AppendStats
}

func (a *appendStats) record(events [][]byte, d time.Duration, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.Calls++
	if err != nil {
		a.st.Failed++
		return
	}
	if a.st.Buckets == nil {
		a.st.Buckets = make([]uint64, len(appendBuckets))
	}
	a.st.Events += uint64(len(events))
	for _, e := range events {
		a.st.Bytes += uint64(len(e))
	}
	a.st.Latency += d
	for i, b := range appendBuckets {
		if d <= b {
			a.st.Buckets[i]++
		}
	}
	a.st.AcknowledgedAt = time.Now()
}

// AppendStats returns the node's Append counts.
func (n *Node) AppendStats() AppendStats {
	n.stats.mu.Lock()
	defer n.stats.mu.Unlock()
	st := n.stats.st
	st.Buckets = slices.Clone(st.Buckets)
	st.Bounds = slices.Clone(appendBuckets[:])
	if st.Buckets == nil {
		st.Buckets = make([]uint64, len(appendBuckets))
	}
	return st
}

// Standbys returns the standbys' positions and lag while this node is a
// cluster's primary (nil otherwise).
func (n *Node) Standbys() []replication.StandbyStatus {
	if n.cl == nil {
		return nil
	}
	p := n.cl.primary()
	if p == nil {
		return nil
	}
	return p.Standbys()
}

// Live reports whether the process can still do its work, and why not:
// the log stopped after a failed write or sync (only a restart reopens
// it), the state machine failed, or the node's archive is not its
// cluster's. It is what a liveness probe (/livez) restarts a process on;
// Ready is what a load balancer routes on.
func (n *Node) Live() (bool, []string) {
	var why []string
	if err := n.log.Err(); err != nil {
		why = append(why, "the WAL stopped: "+err.Error())
	}
	if err := n.apply.err(); err != nil {
		why = append(why, stoppedReason(err))
	}
	if n.cl != nil {
		if fatal := n.cl.fatalErr(); fatal != nil {
			why = append(why, fatal.Error())
		}
	}
	return len(why) == 0, why
}

// Behind is how many records this node's state is behind the newest
// position the primary reported to the cluster (0 for the primary, a
// single node, or before any report).
func (n *Node) Behind() wal.LSN {
	if n.cl == nil || n.cl.coord == nil || !n.cl.coord.IsSynced() {
		return 0
	}
	st := n.cl.coord.State()
	r, ok := st.Reports[st.Primary]
	if !ok || st.Primary == n.cfg.Cluster.Node {
		return 0
	}
	if applied := n.Applied(); r.Flushed > applied {
		return r.Flushed - applied
	}
	return 0
}

// Healthy reports whether the node can do its part, with the reasons it
// cannot: a failed disk or state machine, a cluster without a primary,
// an archive failing or more than lagLimit behind (or twice its bound,
// Config.IdleShipInterval, if that is longer: a quiet log's records wait
// that long by design).
func (n *Node) Healthy(lagLimit time.Duration) (bool, []string) {
	var why []string
	st := n.Status()
	lagLimit = max(lagLimit, 2*st.Archive.Bound)
	if st.Archive.Lag > lagLimit {
		why = append(why, fmt.Sprintf("the archive is %v behind (limit %v)", st.Archive.Lag.Round(time.Millisecond), lagLimit))
	}
	if st.Archive.Deposed != nil {
		why = append(why, "archiving stopped: "+st.Archive.Deposed.Error())
	}
	failed := n.apply.err()
	if n.cl != nil {
		if !st.Ready && failed == nil { // a failed state says so below
			why = append(why, "not ready: "+st.NotReady)
		}
		if st.Primary == "" {
			why = append(why, "the cluster has no primary")
		}
	}
	if failed != nil {
		why = append(why, stoppedReason(failed))
	}
	return len(why) == 0, why
}

// Status is what a node reports for monitoring.
type Status struct {
	Role    Role           // primary or standby (a single node is primary)
	Epoch   uint64         // the cluster's epoch (the log's for a single node)
	Primary string         // the primary's node ID ("" for a single node)
	Last    wal.LSN        // the last LSN of the local WAL
	Applied wal.LSN        // the last LSN the state machine holds
	Archive archive.Status // the archiver's lag, failures, archived LSN, last base snapshot
	// Copies are the archive's copies this node makes (Config.Copies).
	Copies []CopyStatus
	// CopyChecks are the copies' last checks (VerifyCopy, run with the
	// scheduled Verify), in Config.Copies' order; none before the first.
	CopyChecks []CopyCheck
	// Requests are the requests this node made of the archive's bucket
	// since Open, by operation as S3 bills them (its request cost).
	Requests snapshot.Requests
	// Window is the restorable window as last read (every 30 s, and by
	// Node.Window), at WindowAt; zero before the first read.
	Window   Window
	WindowAt time.Time
	// LastVerify is the last Node.Verify's result (zero At if none ran).
	LastVerify VerifyResult
	// Ready is Node.Ready: the node serves reads from its cluster's
	// history; NotReady says why not.
	Ready    bool
	NotReady string
	// Maintenance is the cluster's maintenance pause (Node.Pause); zero
	// for a single node, and until this node has confirmed its cluster
	// state with the leader.
	Maintenance Maintenance
	// Refused counts the connections a cluster node's listeners closed
	// before or during their TLS handshake (no valid certificate, no
	// handshake within the deadline, over the caps), since Open.
	Refused Refused
	// TenantEventsSkipped counts the sealed events the state skipped
	// since Open because their tenant's key is destroyed (ForgetTenant)
	// or cannot be read (its keeper is gone: Node.Tenants says which).
	TenantEventsSkipped uint64
}

// Refused counts refused connections by listener.
type Refused struct {
	Raft        uint64 // the coordinator's port
	Replication uint64 // the primary's replication port (while primary)
}

// Status returns the node's state.
func (n *Node) Status() Status {
	st := Status{Role: RolePrimary, Last: n.log.Last(), Applied: n.Applied(), Epoch: n.log.Epoch()}
	if a := n.archiver(); a != nil {
		st.Archive = a.Status()
	}
	if n.repo != nil {
		st.Requests = n.repo.Requests()
	}
	st.Copies = st.Archive.Copies
	n.statusMu.Lock()
	st.Window, st.WindowAt = n.window, n.windowAt
	if n.lastVerify != nil {
		st.LastVerify = *n.lastVerify
	}
	for _, c := range n.cfg.Copies {
		if ck, ok := n.copyChecks[c.Name]; ok {
			st.CopyChecks = append(st.CopyChecks, ck)
		}
	}
	n.statusMu.Unlock()
	if n.cl != nil {
		st.Role, st.Epoch, st.Primary = n.cl.roleNow()
		st.Maintenance = n.cl.maintenance()
		st.Refused = n.cl.refused()
	}
	st.Ready, st.NotReady = n.Ready()
	st.TenantEventsSkipped = n.apply.sm.skipped.Load()
	return st
}
