package continuity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// ErrNotPrimary is returned by Append on a node that cannot write; the
// *NotPrimaryError carries where the primary is.
var ErrNotPrimary = errors.New("continuity: this node is not the primary")

// ErrNotArchived is returned by Append under Config.ArchiveSync when its
// records are durable in the log but the archive did not confirm them
// in time (ctx ended, the archiver stopped or was deposed): they will be
// archived with the log, and a retry appends them again.
var ErrNotArchived = errors.New("continuity: appended, but not yet in the archive")

// NotPrimaryError says which node to send writes to.
type NotPrimaryError struct {
	Primary     string // node ID, "" if the cluster has none right now
	PrimaryAddr string // its replication address
	Epoch       uint64 // the epoch this node knows of
	// RetryAfter is how long to wait before trying again when no
	// primary is named (a fail-over is running).
	RetryAfter time.Duration
}

// Error says where to send writes.
func (e *NotPrimaryError) Error() string {
	if e.Primary == "" {
		return fmt.Sprintf("continuity: no primary yet (a fail-over is running, or too few nodes are up); retry after %d ms", e.RetryAfter.Milliseconds())
	}
	return fmt.Sprintf("continuity: this node is not the primary; send writes to %s (%s), primary of epoch %d", e.Primary, e.PrimaryAddr, e.Epoch)
}

// Unwrap returns ErrNotPrimary.
func (e *NotPrimaryError) Unwrap() error { return ErrNotPrimary }

// Node is a host's handle on continuity: its log, state machine,
// archive, and (in a cluster) replication and fail-over.
type Node struct {
	cfg   Config
	lg    *slog.Logger
	log   *wal.Log
	apply *applier // the only path into the host's StateMachine
	// tenants is the tenant machinery, nil unless the state machine is
	// a TenantStateMachine.
	tenants *tenants
	repo    *snapshot.Repo
	bkt     *blob.Bucket
	archMu  sync.Mutex
	arch    *archive.Archiver // the archiver while this node ships the log (always for a single node; the primary of a cluster)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stats appendStats

	statusMu   sync.Mutex // guards what Status reports beside the positions
	lastVerify *VerifyResult
	copyChecks map[string]CopyCheck // Config.Copies' last checks, under statusMu
	keys       snapshot.KeyProvider // what opened the archive (and opens its copies)
	window     Window
	windowAt   time.Time

	cl    *clusterPart // nil for a single node
	fatal chan error   // see Fatal

	closeOnce sync.Once // Close runs once; later calls return its error
	closeErr  error
}

// Open opens (or creates) the node in cfg.Dir and starts it: recovery of
// the WAL, replay into sm of what the state does not hold yet (sm starts
// empty: the node restores its newest base snapshot from the archive if
// the WAL no longer starts at LSN 1), the archiver and, in a cluster, the
// coordinator.
//
// ctx bounds the opening only: the archive, the restore of the base
// snapshot, and in a cluster the wait for the node's role (up to 2 s
// after a restart) and a bootstrap's wait for leadership (up to 10 s).
// Once Open returns, ctx has no effect; the node runs until Close. If
// ctx is done before Open completes, Open closes what it opened and
// returns an error wrapping ctx.Err().
func Open(ctx context.Context, cfg Config, sm StateMachine) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sm == nil {
		return nil, errors.New("continuity: Open needs the host's state machine (Apply, Snapshot, Restore); it is nil")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("continuity: open: %w", err)
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, vfs.DirMode); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, lg: cfg.Logger.With("component", "node"), fatal: make(chan error, 1)}
	vfs.WarnShared(vfs.Default(), cfg.Dir, n.lg)
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
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// A step that does not watch ctx failed while it was done
			// (a closed connection, a partial read): the cause is ctx.
			err = fmt.Errorf("continuity: open: %w (%w)", cerr, err)
		}
		return nil, err
	}
	if err := n.openArchive(ctx); err != nil {
		return fail(err)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	state, err := n.newHostState(n.ctx, sm, true)
	if err != nil {
		return fail(err)
	}
	n.apply = newApplier(n.log, state, n.lg)
	// The state: from the base snapshot if the WAL was truncated past it.
	if first := n.log.First(); first > 1 {
		res, err := archive.RestoreTo(ctx, n.repo, archive.AtLSN(first-1), state, archive.RestoreOptions{})
		switch {
		case err == nil:
			n.apply.start(res.LSN)
		case cfg.Cluster != nil:
			n.lg.Info("the WAL starts past LSN 1 and the archive cannot restore the state before it; the primary will send its state", "first", first, "archive", err)
			n.apply.Discard()
		default:
			return fail(fmt.Errorf("continuity: the WAL starts at LSN %d, and the state before it cannot be restored from the archive: %w", first, err))
		}
	}
	if cfg.Cluster == nil {
		n.apply.acknowledge(n.log.Last()) // a single node's log is its history
	}
	// In a cluster nothing past the state is applied until the node's
	// role is confirmed: a deposed primary's log may hold records its
	// cluster's history cut (clusterPart.apply).
	if cfg.Cluster == nil { // in a cluster, only the primary archives
		if err := n.startArchiver(); err != nil {
			return fail(err)
		}
	}
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.apply.run(n.ctx) }()
	go n.windowLoop()
	go n.verifyLoop()
	if cfg.Cluster == nil && cfg.OnRoleChange != nil {
		cfg.OnRoleChange(RoleChange{Role: RolePrimary, Epoch: n.log.Epoch()})
	}
	if cfg.Cluster != nil {
		if err := n.startCluster(ctx); err != nil {
			if n.cl != nil {
				n.cl.stop()
			}
			return fail(err)
		}
	}
	return n, nil
}

// Append appends events as one batch and returns the LSNs of its first
// and last record, once they are durable as configured (in a cluster
// with Sync > 0: on that many standbys, and committed as acknowledged in
// the cluster state). The records of one call are consecutive: last-first
// == len(events)-1; with no events both are 0. The state machine applies
// them right after; to read the write from this node's state, WaitFor
// last first. On a node that is not the primary it returns a
// *NotPrimaryError. Safe for concurrent use.
func (n *Node) Append(ctx context.Context, events ...[]byte) (first, last wal.LSN, err error) {
	start := time.Now()
	first, last, err = n.appendKind(ctx, wal.KindEvent, events)
	n.stats.record(events, time.Since(start), err)
	return first, last, err
}

// appendKind appends records of kind k as Append does.
func (n *Node) appendKind(ctx context.Context, k wal.Kind, data [][]byte) (first, last wal.LSN, err error) {
	if n.cl != nil {
		first, last, err = n.cl.append(ctx, k, data)
	} else if first, last, err = n.log.AppendKind(ctx, k, data...); err == nil {
		n.apply.acknowledge(last)
	}
	if err == nil && n.cfg.ArchiveSync {
		err = n.archiveSync(ctx, last)
	}
	return first, last, err
}

// archiveSync waits until the archive holds every record up to lsn
// (Config.ArchiveSync).
func (n *Node) archiveSync(ctx context.Context, lsn wal.LSN) error {
	a := n.archiver()
	if a == nil {
		return fmt.Errorf("%w: LSN %d is durable here, and this node does not archive (not the primary any more?)", ErrNotArchived, lsn)
	}
	if err := a.Sync(ctx, lsn); err != nil {
		where := "the archive"
		if k := n.cfg.ArchiveSyncCopies; k > 0 {
			where = fmt.Sprintf("the archive and %d of its copies", k)
		}
		return fmt.Errorf("%w: LSN %d is durable here (and will be archived), not yet in %s: %w", ErrNotArchived, lsn, where, err)
	}
	return nil
}

// WaitFor waits until the state machine has applied lsn (read-your-writes,
// also on standbys). The state only ever applies records of the
// cluster's history, so WaitFor never returns for a state that lacks
// lsn's record. If the state machine failed (its Apply returned an
// error, which stops applying), WaitFor returns that error, wrapped with
// ErrStateFailed.
func (n *Node) WaitFor(ctx context.Context, lsn wal.LSN) error { return n.apply.WaitFor(ctx, lsn) }

// Applied is the last LSN the state machine holds.
func (n *Node) Applied() wal.LSN { return n.apply.Applied() }

// Fatal receives, once, the error that keeps this node from taking any
// part in its cluster (its archive is not the cluster's). The host should
// close the node and stop.
func (n *Node) Fatal() <-chan error { return n.fatal }

// Ready reports whether the node serves reads from its cluster's
// history, and why not: a node whose state machine failed (its state
// stays where it stopped); in a cluster also a restarted node until its
// role is confirmed with the leader and the primary has accepted its
// log, and a node whose state is being rebuilt.
func (n *Node) Ready() (bool, string) {
	if err := n.apply.err(); err != nil {
		return false, stoppedReason(err)
	}
	if n.cl == nil {
		return true, ""
	}
	return n.cl.ready()
}

// Log is the node's WAL (read-only use: readers, positions).
func (n *Node) Log() *wal.Log { return n.log }

// Role is the node's role now.
func (n *Node) Role() Role { return n.Status().Role }

// Close stops the node in order: no more writes (a cluster's primary
// resigns, so a standby takes over at once), the archive flushed (for up
// to 10 s), replication and coordination stopped, the log closed. Later
// calls return the first one's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
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
	if n.tenants != nil {
		errs = append(errs, n.tenants.close())
	}
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
