package continuity

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // the default archive: a local directory

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/failover"
	"github.com/continuity-go/continuity/peer"
	"github.com/continuity-go/continuity/replication"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// StateMachine is the host's state, folded from the log's events: see
// replication.StateMachine.
type StateMachine = replication.StateMachine

// Record is one event of the log.
type Record = wal.Record

// LSN is a position in the log.
type LSN = wal.LSN

// Role is a node's part in its cluster.
type Role = failover.Role

// RoleChange tells what a node became: role, epoch, primary.
type RoleChange = failover.RoleChange

// Roles.
const (
	RoleStandby = failover.RoleStandby
	RolePrimary = failover.RolePrimary
)

// Config configures a Node. The zero value but Dir is a working single
// node: a WAL in Dir/wal, an encrypted archive in the directory
// Dir/archive (key in Dir/archive.key), base snapshots every hour or
// 64 MiB of events, shipping at least every second.
type Config struct {
	// Dir holds the node's data: the WAL, and by default the archive and
	// its key, and the coordinator's Raft state. Required.
	Dir string
	// Archive is the gocloud.dev/blob URL of the snapshot and WAL
	// archive: s3://, gs://, azblob:// (blank-import the driver), or
	// file://. Default: file:// of Dir/archive. In a cluster, give every
	// node the same archive (and Keys): the primary ships to it, and
	// after a fail-over the new primary continues its history.
	Archive string
	// Keys opens the archive's encryption keys. Default: a random key
	// made once and kept in Dir/archive.key (mode 0600); for an off-site
	// archive use a KMS keeper or a passphrase (snapshot.Keeper,
	// snapshot.Passphrase) so that losing the node does not lose the key.
	Keys snapshot.KeyProvider
	// SnapshotEvery and SnapshotEveryBytes schedule base snapshots.
	// Defaults 1 h and 64 MiB; negative turns one off.
	SnapshotEvery      time.Duration // period of base snapshots
	SnapshotEveryBytes int64         // archived event bytes between base snapshots
	// ShipInterval bounds the archive's lag. Default 1 s.
	ShipInterval time.Duration
	// VerifyEvery schedules Verify on the node that ships the archive
	// (the primary): its result goes to Status, the metrics and the log
	// (an error naming each problem). Default 24 h; negative turns it
	// off. VerifyReadData makes the scheduled runs read every stored
	// byte (Verify's readData), which costs a full download each time.
	VerifyEvery    time.Duration
	VerifyReadData bool
	// Cluster, if set, makes the node one of a replicated cluster with
	// automatic fail-over. Nil: a single node, always primary.
	Cluster *ClusterConfig
	// OnRoleChange, if set, is called (in order, from one goroutine; keep
	// it quick) when the node's role, the cluster's epoch or its primary
	// changes. A single node is told once, at Open, that it is primary.
	OnRoleChange func(RoleChange)
	// WAL tunes the local log (segment size, durability); its Logger
	// defaults to Logger.
	WAL wal.Options
	// Logger receives the node's logs. Default slog.Default().
	Logger *slog.Logger
}

// ClusterConfig configures replication and fail-over.
type ClusterConfig struct {
	Node      string   // this node's ID (its certificate's identity)
	RaftBind  string   // coordinator address, e.g. ":7401"
	RaftAddr  string   // address others dial for it (default RaftBind)
	ReplBind  string   // replication address while primary, e.g. ":7400"
	ReplAddr  string   // address standbys dial (default ReplBind)
	TLS       peer.TLS // the cluster's mutual TLS
	Bootstrap bool     // start a new cluster of this node (one node, once)
	// Sync is how many standbys must hold a write before Append returns
	// (0: asynchronous). With Sync > 0, fail-over never loses an
	// acknowledged write, and Append blocks while fewer standbys are up.
	Sync    int
	MaxLag  wal.LSN          // never promote a node further behind than this (0: no bound)
	Profile failover.Profile // timings; default failover.LAN
	// InsecurePlaintext turns TLS off. Tests only.
	InsecurePlaintext bool
}

// Validate names every wrong field.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("Config.Dir is empty: the node needs a directory for its log"))
	}
	if c.Archive != "" {
		if u, err := url.Parse(c.Archive); err != nil || u.Scheme == "" {
			errs = append(errs, fmt.Errorf("Config.Archive %q is not a bucket URL (file:///path, s3://bucket?region=...)", c.Archive))
		}
	}
	if c.ShipInterval < 0 {
		errs = append(errs, fmt.Errorf("Config.ShipInterval %v is negative", c.ShipInterval))
	}
	if cl := c.Cluster; cl != nil {
		if cl.Node == "" {
			errs = append(errs, errors.New("Config.Cluster.Node is empty"))
		}
		if cl.RaftBind == "" {
			errs = append(errs, errors.New("Config.Cluster.RaftBind is empty"))
		}
		if cl.ReplBind == "" {
			errs = append(errs, errors.New("Config.Cluster.ReplBind is empty"))
		}
		if cl.Sync < 0 {
			errs = append(errs, fmt.Errorf("Config.Cluster.Sync %d is negative", cl.Sync))
		}
		if !cl.InsecurePlaintext {
			if err := cl.TLS.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("Config.Cluster.TLS: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// ErrNotPrimary is returned by Append on a node that cannot write; the
// *NotPrimaryError carries where the primary is.
var ErrNotPrimary = errors.New("continuity: this node is not the primary")

// NotPrimaryError says which node to send writes to.
type NotPrimaryError struct {
	Primary     string // node ID, "" if the cluster has none right now
	PrimaryAddr string // its replication address
	Epoch       uint64 // the epoch this node knows of
}

// Error says where to send writes.
func (e *NotPrimaryError) Error() string {
	if e.Primary == "" {
		return "continuity: this node is not the primary, and the cluster has none right now (a fail-over is running, or too few nodes are up); retry"
	}
	return fmt.Sprintf("continuity: this node is not the primary; send writes to %s (%s), primary of epoch %d", e.Primary, e.PrimaryAddr, e.Epoch)
}

// Unwrap returns ErrNotPrimary.
func (e *NotPrimaryError) Unwrap() error { return ErrNotPrimary }

// Node is a host's handle on continuity: its log, state machine,
// archive, and (in a cluster) replication and fail-over.
type Node struct {
	cfg    Config
	lg     *slog.Logger
	log    *wal.Log
	sm     StateMachine
	repo   *snapshot.Repo
	bkt    *blob.Bucket
	archMu sync.Mutex
	arch   *archive.Archiver // the archiver while this node ships the log (always for a single node; the primary of a cluster)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// applyMu is held while a record is applied and while a base
	// snapshot writes the state, so the state a snapshot sees is exactly
	// the one at its LSN.
	applyMu sync.Mutex
	amu     sync.Mutex
	applied wal.LSN
	ackedTo wal.LSN // records up to here may be applied (acknowledged)
	// applyFailed is the state machine's error that stopped applying.
	applyFailed error
	stats       appendStats
	lastVerify  *VerifyResult
	window      archive.Window
	windowAt    time.Time
	achange     chan struct{} // closed when applied or ackedTo move

	cl *clusterPart // nil for a single node
	// restored is set when a standby's bootstrap restored the state from a
	// base snapshot (the apply loop then continues after the WAL's start).
	restored atomic.Bool
}

// Open opens (or creates) the node in cfg.Dir and starts it: recovery of
// the WAL, replay into sm of what the state does not hold yet (sm starts
// empty: the node restores its newest base snapshot from the archive if
// the WAL no longer starts at LSN 1), the archiver and, in a cluster, the
// coordinator.
func Open(cfg Config, sm StateMachine) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShipInterval == 0 {
		cfg.ShipInterval = time.Second
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = time.Hour
	}
	if cfg.SnapshotEveryBytes == 0 {
		cfg.SnapshotEveryBytes = 64 << 20
	}
	if cfg.VerifyEvery == 0 {
		cfg.VerifyEvery = 24 * time.Hour
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, lg: cfg.Logger.With("component", "node"), sm: sm, achange: make(chan struct{})}
	ctx := context.Background()
	var err error
	walOpts := cfg.WAL
	if walOpts.Logger == nil {
		walOpts.Logger = cfg.Logger
	}
	if n.log, err = wal.Open(filepath.Join(cfg.Dir, "wal"), walOpts); err != nil {
		return nil, err
	}
	fail := func(err error) (*Node, error) {
		n.closeAll()
		return nil, err
	}
	if err := n.openArchive(ctx); err != nil {
		return fail(err)
	}
	// The state: from the base snapshot if the WAL was truncated past it.
	if first := n.log.First(); first > 1 {
		res, err := archive.RestoreTo(ctx, n.repo, archive.AtLSN(first-1), sm, archive.RestoreOptions{})
		if err != nil {
			return fail(fmt.Errorf("continuity: the WAL starts at LSN %d, and the state before it cannot be restored from the archive: %w", first, err))
		}
		n.applied = res.LSN
	}
	n.ackedTo = n.log.Last() // what the log holds was acknowledged before the restart (or will be cut by a rejoin)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if cfg.Cluster == nil { // in a cluster, only the primary archives
		if err := n.startArchiver(); err != nil {
			return fail(err)
		}
	}
	n.wg.Add(3)
	go n.applyLoop()
	go n.windowLoop()
	go n.verifyLoop()
	if cfg.Cluster == nil && cfg.OnRoleChange != nil {
		cfg.OnRoleChange(RoleChange{Role: RolePrimary, Epoch: n.log.Epoch()})
	}
	if cfg.Cluster != nil {
		if err := n.startCluster(); err != nil {
			return fail(err)
		}
	}
	return n, nil
}

// startArchiver starts shipping the log to the archive, with base
// snapshots on the configured schedule.
func (n *Node) startArchiver() error {
	snapEvery, snapBytes := n.cfg.SnapshotEvery, n.cfg.SnapshotEveryBytes
	if snapEvery < 0 {
		snapEvery = 0
	}
	if snapBytes < 0 {
		snapBytes = 0
	}
	a, err := archive.NewArchiver(n.log, n.repo, archive.Options{
		ShipInterval: n.cfg.ShipInterval, Capture: n.capture, SnapshotEvery: snapEvery, SnapshotEveryBytes: snapBytes, Logger: n.cfg.Logger,
	})
	if err != nil {
		return err
	}
	n.archMu.Lock()
	n.arch = a
	n.archMu.Unlock()
	return nil
}

// stopArchiver stops shipping (a primary that became a standby).
func (n *Node) stopArchiver() {
	n.archMu.Lock()
	a := n.arch
	n.arch = nil
	n.archMu.Unlock()
	if a != nil {
		a.Close()
	}
}

func (n *Node) archiver() *archive.Archiver {
	n.archMu.Lock()
	defer n.archMu.Unlock()
	return n.arch
}

// openArchive opens (or initializes) the repository.
func (n *Node) openArchive(ctx context.Context) error {
	u := n.cfg.Archive
	if u == "" {
		dir := filepath.Join(n.cfg.Dir, "archive")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		u = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	}
	b, err := blob.OpenBucket(ctx, u)
	if err != nil {
		return fmt.Errorf("continuity: open archive %s: %w", u, err)
	}
	n.bkt = b
	keys := n.cfg.Keys
	if keys == nil {
		if keys, err = localKey(filepath.Join(n.cfg.Dir, "archive.key")); err != nil {
			return err
		}
	}
	n.repo, err = snapshot.Open(ctx, b, keys, snapshot.Options{Logger: n.cfg.Logger})
	if errors.Is(err, snapshot.ErrNoRepository) {
		n.repo, err = snapshot.Init(ctx, b, keys, snapshot.Format{}, snapshot.Options{Logger: n.cfg.Logger})
	}
	if err != nil {
		return fmt.Errorf("continuity: open archive %s: %w", u, err)
	}
	return nil
}

// localKey reads the key file, making it on first use.
func localKey(path string) (snapshot.KeyProvider, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = make([]byte, 32)
		rand.Read(b)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("continuity: key file %s holds %d bytes, want 32", path, len(b))
	}
	var k [32]byte
	copy(k[:], b)
	return snapshot.RawKey(k), nil
}

// capture is the archiver's CaptureFunc: it stops applying while the
// state is written, so the snapshot is exactly the state at its LSN.
func (n *Node) capture(ctx context.Context) (wal.LSN, func(io.Writer) error, error) {
	n.applyMu.Lock()
	n.amu.Lock()
	lsn := n.applied
	n.amu.Unlock()
	var once sync.Once
	return lsn, func(w io.Writer) error {
		defer once.Do(n.applyMu.Unlock)
		return n.sm.Snapshot(w)
	}, nil
}

// applyLoop applies the log's acknowledged records to the state machine
// in LSN order.
func (n *Node) applyLoop() {
	defer n.wg.Done()
	for {
		n.amu.Lock()
		next, to, ch := n.applied+1, n.ackedTo, n.achange
		n.amu.Unlock()
		if next > to {
			select {
			case <-ch:
				continue
			case <-n.ctx.Done():
				return
			}
		}
		r := n.log.NewReader(next)
		for lsn := next; lsn <= to; lsn++ {
			rec, err := r.Next(n.ctx)
			if err != nil {
				r.Close()
				if n.ctx.Err() != nil {
					return
				}
				if errors.Is(err, wal.ErrTruncated) && n.restored.Swap(false) {
					// A standby bootstrapped from the archive: the state was
					// restored from a base snapshot and the WAL restarted
					// after it.
					n.amu.Lock()
					n.applied = n.log.First() - 1
					n.amu.Unlock()
					break
				}
				n.lg.Error("cannot read the log to apply it", "lsn", lsn, "err", err)
				select {
				case <-time.After(100 * time.Millisecond):
				case <-n.ctx.Done():
					return
				}
				break
			}
			n.applyMu.Lock()
			err = n.sm.Apply(rec)
			n.applyMu.Unlock()
			if err != nil {
				r.Close()
				n.lg.Error("the state machine failed; applying stopped", "lsn", lsn, "err", err)
				n.amu.Lock()
				n.applyFailed = fmt.Errorf("LSN %d: %w", lsn, err)
				n.amu.Unlock()
				return
			}
			n.amu.Lock()
			n.applied = lsn
			close(n.achange)
			n.achange = make(chan struct{})
			n.amu.Unlock()
		}
		r.Close()
	}
}

// acknowledge lets records up to lsn be applied.
func (n *Node) acknowledge(lsn wal.LSN) {
	n.amu.Lock()
	if lsn > n.ackedTo {
		n.ackedTo = lsn
		close(n.achange)
		n.achange = make(chan struct{})
	}
	n.amu.Unlock()
}

// Append appends events and returns the LSN of the last, once they are
// durable as configured (in a cluster with Sync > 0: on that many
// standbys, and committed as acknowledged in the cluster state). The
// state machine applies them right after. On a node that is not the
// primary it returns a *NotPrimaryError.
func (n *Node) Append(ctx context.Context, events ...[]byte) (wal.LSN, error) {
	start := time.Now()
	var last wal.LSN
	var err error
	if n.cl != nil {
		last, err = n.cl.append(ctx, events)
	} else if _, last, err = n.log.Append(ctx, events...); err == nil {
		n.acknowledge(last)
	}
	n.stats.record(events, time.Since(start), err)
	return last, err
}

// AppendBuckets are the upper bounds of AppendStats.Buckets.
var AppendBuckets = []time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 5 * time.Second,
}

// AppendStats counts a node's Append calls, for metrics.
type AppendStats struct {
	Calls, Failed  uint64        // Append calls, and those that returned an error
	Events, Bytes  uint64        // events and payload bytes acknowledged
	Latency        time.Duration // total time in acknowledged calls
	Buckets        []uint64      // acknowledged calls by latency: Buckets[i] counts those ≤ AppendBuckets[i] (cumulative)
	AcknowledgedAt time.Time     // when the last call was acknowledged
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
		a.st.Buckets = make([]uint64, len(AppendBuckets))
	}
	a.st.Events += uint64(len(events))
	for _, e := range events {
		a.st.Bytes += uint64(len(e))
	}
	a.st.Latency += d
	for i, b := range AppendBuckets {
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
	if st.Buckets == nil {
		st.Buckets = make([]uint64, len(AppendBuckets))
	}
	return st
}

// Standbys returns the standbys' positions and lag while this node is a
// cluster's primary (nil otherwise).
func (n *Node) Standbys() []replication.StandbyStatus {
	if n.cl == nil {
		return nil
	}
	n.cl.mu.Lock()
	p := n.cl.prim
	n.cl.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Standbys()
}

// Healthy reports whether the node can do its part, with the reasons it
// cannot: a failed disk or state machine, a cluster without a primary,
// an archive failing or more than lagLimit behind.
func (n *Node) Healthy(lagLimit time.Duration) (bool, []string) {
	var why []string
	st := n.Status()
	if st.Archive.Lag > lagLimit {
		why = append(why, fmt.Sprintf("the archive is %v behind (limit %v)", st.Archive.Lag.Round(time.Millisecond), lagLimit))
	}
	if st.Archive.Deposed != nil {
		why = append(why, "archiving stopped: "+st.Archive.Deposed.Error())
	}
	if n.cl != nil {
		n.cl.mu.Lock()
		unhealthy := n.cl.unhealthy
		n.cl.mu.Unlock()
		if unhealthy != nil {
			why = append(why, unhealthy.Error())
		}
		if st.Primary == "" {
			why = append(why, "the cluster has no primary")
		}
	}
	if err := n.applyErr(); err != nil {
		why = append(why, "the state machine stopped: "+err.Error())
	}
	return len(why) == 0, why
}

func (n *Node) applyErr() error {
	n.amu.Lock()
	defer n.amu.Unlock()
	return n.applyFailed
}

// WaitFor waits until the state machine has applied lsn (read-your-writes,
// also on standbys).
func (n *Node) WaitFor(ctx context.Context, lsn wal.LSN) error {
	for {
		n.amu.Lock()
		applied, ch := n.applied, n.achange
		n.amu.Unlock()
		if applied >= lsn {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Applied is the last LSN the state machine holds.
func (n *Node) Applied() wal.LSN {
	n.amu.Lock()
	defer n.amu.Unlock()
	return n.applied
}

// Events returns the records from LSN from on, following the tail until
// ctx is done: for projections and read models. Records the local WAL no
// longer holds come from the archive. Stop early by breaking the loop.
func (n *Node) Events(ctx context.Context, from wal.LSN) iter.Seq2[wal.Record, error] {
	return func(yield func(wal.Record, error) bool) {
		if from == 0 {
			from = 1
		}
		if first := n.log.First(); from < first {
			// Older records: from the archive, then the local log.
			stopped := false
			err := archive.Read(ctx, n.repo, from, first-1, func(rec wal.Record) error {
				if !yield(rec, nil) {
					stopped = true
					return errStopped
				}
				return nil
			})
			if stopped {
				return
			}
			if err != nil {
				yield(wal.Record{}, fmt.Errorf("continuity: events before LSN %d come from the archive: %w", first, err))
				return
			}
			from = first
		}
		r := n.log.NewReader(from)
		defer r.Close()
		for {
			rec, err := r.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					yield(wal.Record{}, err)
				}
				return
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

var errStopped = errors.New("continuity: the caller stopped")

// Snapshot takes a base snapshot now.
func (n *Node) Snapshot(ctx context.Context) (snapshot.Manifest, error) {
	a := n.archiver()
	if a == nil {
		return snapshot.Manifest{}, errors.New("continuity: base snapshots are taken by the primary, which archives the log; this node is a standby")
	}
	return a.SnapshotNow(ctx)
}

// Repo is the node's snapshot and WAL archive.
func (n *Node) Repo() *snapshot.Repo { return n.repo }

// Log is the node's WAL (read-only use: readers, positions).
func (n *Node) Log() *wal.Log { return n.log }

// Status is what a node reports for monitoring.
type Status struct {
	Role    Role           // primary or standby (a single node is primary)
	Epoch   uint64         // the cluster's epoch (the log's for a single node)
	Primary string         // the primary's node ID ("" for a single node)
	Last    wal.LSN        // the last LSN of the local WAL
	Applied wal.LSN        // the last LSN the state machine holds
	Archive archive.Status // the archiver's lag, failures, archived LSN, last base snapshot
	// Window is the restorable window as last read (every 30 s, and by
	// Node.Window), at WindowAt; zero before the first read.
	Window   archive.Window
	WindowAt time.Time
	// LastVerify is the last Node.Verify's result (zero At if none ran).
	LastVerify VerifyResult
}

// Status returns the node's state.
func (n *Node) Status() Status {
	st := Status{Role: RolePrimary, Last: n.log.Last(), Applied: n.Applied(), Epoch: n.log.Epoch()}
	if a := n.archiver(); a != nil {
		st.Archive = a.Status()
	}
	n.amu.Lock()
	st.Window, st.WindowAt = n.window, n.windowAt
	if n.lastVerify != nil {
		st.LastVerify = *n.lastVerify
	}
	n.amu.Unlock()
	if n.cl != nil {
		cs := n.cl.coord.State()
		st.Role, st.Epoch, st.Primary = RoleStandby, cs.Epoch, cs.Primary
		if cs.Primary == n.cl.cfg.Node {
			st.Role = RolePrimary
		}
	}
	return st
}

// Window returns what the archive can restore (it lists the bucket).
func (n *Node) Window(ctx context.Context) (archive.Window, error) {
	w, err := archive.Restorable(ctx, n.repo)
	if err == nil {
		n.amu.Lock()
		n.window, n.windowAt = w, time.Now()
		n.amu.Unlock()
	}
	return w, err
}

// windowLoop keeps Status().Window fresh.
func (n *Node) windowLoop() {
	defer n.wg.Done()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		n.Window(ctx)
		cancel()
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
	}
}

// verifyLoop runs Verify every Config.VerifyEvery while this node ships
// the archive, and logs what it found.
func (n *Node) verifyLoop() {
	defer n.wg.Done()
	if n.cfg.VerifyEvery < 0 {
		return
	}
	t := time.NewTicker(n.cfg.VerifyEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
		if n.archiver() == nil {
			continue // a standby: the primary verifies
		}
		res, err := n.Verify(n.ctx, n.cfg.VerifyReadData)
		switch {
		case err != nil && n.ctx.Err() != nil:
			return
		case err != nil:
			n.lg.Warn("scheduled verify could not run; it runs again at the next period", "err", err, "every", n.cfg.VerifyEvery)
		case !res.OK():
			n.lg.Error("scheduled verify found damage in the archive: Node.Verify lists every damaged object; restore them from another copy, and take a new base snapshot (Node.Snapshot) so restores stop depending on them",
				"snapshot_problems", len(res.Snapshot.Problems), "archive_problems", len(res.Archive.Problems)+len(res.Archive.Unreachable), "first", firstProblem(res))
		default:
			n.lg.Info("scheduled verify passed", "snapshots", res.Snapshot.Snapshots, "read_data", n.cfg.VerifyReadData)
		}
	}
}

// firstProblem describes the first problem of a failed Verify, for the
// log.
func firstProblem(r VerifyResult) string {
	switch {
	case len(r.Snapshot.Problems) > 0:
		return r.Snapshot.Problems[0].String()
	case len(r.Archive.Problems) > 0:
		return r.Archive.Problems[0].Error()
	case len(r.Archive.Unreachable) > 0:
		return fmt.Sprintf("the newest record cannot be reached from base snapshot %s", r.Archive.Unreachable[0].Short())
	}
	return ""
}

// RestoreTo rebuilds into sm (a fresh state machine) the state as of
// target, from the node's archive.
func (n *Node) RestoreTo(ctx context.Context, target archive.Target, sm StateMachine) (archive.Restored, error) {
	return archive.RestoreTo(ctx, n.repo, target, sm, archive.RestoreOptions{})
}

// VerifyResult is what Node.Verify found.
type VerifyResult struct {
	At       time.Time       // when it ran
	Snapshot snapshot.Report // the snapshots' packs, indexes and trees
	Archive  archive.Report  // the WAL archive at the PITR level
}

// OK reports whether both checks found nothing wrong.
func (r VerifyResult) OK() bool { return r.Snapshot.OK() && r.Archive.OK() }

// Verify checks the archive: every snapshot (readData: every stored byte
// too) and the WAL archive (consistent, valid, and reachable from every
// base snapshot). The result is kept for Status and the metrics.
func (n *Node) Verify(ctx context.Context, readData bool) (VerifyResult, error) {
	res := VerifyResult{At: time.Now()}
	var err error
	if res.Snapshot, err = n.repo.Verify(ctx, snapshot.VerifyOptions{ReadData: readData}); err != nil {
		return res, err
	}
	if res.Archive, err = archive.Verify(ctx, n.repo, archive.VerifyPITR); err != nil {
		return res, err
	}
	n.amu.Lock()
	n.lastVerify = &res
	n.amu.Unlock()
	return res, nil
}

// LastVerify returns the last Verify's result (ok false if none ran).
func (n *Node) LastVerify() (VerifyResult, bool) {
	n.amu.Lock()
	defer n.amu.Unlock()
	if n.lastVerify == nil {
		return VerifyResult{}, false
	}
	return *n.lastVerify, true
}

// Role is the node's role now.
func (n *Node) Role() Role { return n.Status().Role }

// Close stops the node in order: no more writes (a cluster's primary
// resigns, so a standby takes over at once), the archive flushed (for up
// to 10 s), replication and coordination stopped, the log closed.
func (n *Node) Close() error {
	if n.cl != nil {
		n.cl.stop()
	}
	if a := n.archiver(); a != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := a.Flush(ctx); err != nil {
			n.lg.Warn("archive not flushed at close; the WAL keeps the records", "err", err)
		}
		cancel()
	}
	return n.closeAll()
}

func (n *Node) closeAll() error {
	if n.cancel != nil {
		n.cancel()
	}
	n.stopArchiver()
	n.wg.Wait()
	var errs []error
	if n.repo != nil {
		errs = append(errs, n.repo.Close())
	}
	if n.bkt != nil {
		errs = append(errs, n.bkt.Close())
	}
	if n.log != nil {
		errs = append(errs, n.log.Close())
	}
	return errors.Join(errs...)
}
