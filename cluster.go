package continuity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/failover"
	"github.com/continuity-go/continuity/internal/watermark"
	"github.com/continuity-go/continuity/replication"
	"github.com/continuity-go/continuity/wal"
)

// clusterPart is a Node's replication and fail-over: the coordinator
// decides the role; the node serves its WAL as a replication.Primary, or
// follows the primary as a replication.Standby, and cuts a divergent tail
// (failover.Rejoin) when it was deposed.
type clusterPart struct {
	n     *Node
	cfg   ClusterConfig
	coord *failover.Coordinator

	// fatal stops this node from taking any role: its archive is not
	// the cluster's. Set under mu; read without it (Live must not wait
	// for a role change, which holds mu while the state is rebuilt).
	fatal atomic.Pointer[error]

	mu          sync.Mutex
	prim        *replication.Primary
	epoch       uint64 // the epoch prim serves
	replRefused uint64 // connections refused by primaries since closed
	stby        *replication.Standby
	stbyState   *standbyState // stby's state machine
	following   string
	followEpoch uint64
	acked       wal.LSN
	unhealthy   error
	// confirmed: a primary accepted this node's log (or it serves as
	// primary) since Open; it stays ready until its state is discarded.
	confirmed   bool
	role        failover.RoleChange
	roles       chan failover.RoleChange
	roleApplied watermark.Signal // broadcast after each role change is applied
	stopped     bool
	done        chan struct{}
	// bgCtx is canceled by stop, which then waits for bg: the work a
	// role change starts on goroutines of its own (resigning, committing
	// a new primary's log, recording the archive) ends with the node.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	started  chan struct{} // closed once coord is set (or failed to open): roleLoop waits for it
}

func (n *Node) startCluster(ctx context.Context) error {
	cl := n.cfg.Cluster
	_, statErr := os.Stat(filepath.Join(n.cfg.Dir, "raft", "raft.db"))
	restarted := statErr == nil
	c := &clusterPart{n: n, cfg: *cl, roles: make(chan failover.RoleChange, 16), done: make(chan struct{}), started: make(chan struct{})}
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	if c.cfg.RaftAddr == "" {
		c.cfg.RaftAddr = c.cfg.RaftBind
	}
	if c.cfg.ReplAddr == "" {
		c.cfg.ReplAddr = c.cfg.ReplBind
	}
	n.cl = c
	if cl.InsecurePlaintext {
		n.lg.Warn("ClusterConfig.InsecurePlaintext: Raft and replication run without TLS; anyone who reaches the ports can join, promote, forge commands and read every record. Tests only: set ClusterConfig.TLS")
	}
	go c.roleLoop()
	coord, err := failover.Open(failover.Config{
		Node: cl.Node, Dir: filepath.Join(n.cfg.Dir, "raft"), Bind: cl.RaftBind, Advertise: cl.RaftAddr, ReplAddr: c.cfg.ReplAddr,
		TLS: cl.TLS, InsecurePlaintext: cl.InsecurePlaintext, Bootstrap: cl.Bootstrap,
		Profile: cl.Profile, MaxLag: cl.MaxLag, SyncMode: cl.Sync > 0,
		Position: c.position,
		OnRole: func(rc failover.RoleChange) {
			c.roles <- rc
			if n.cfg.OnRoleChange != nil {
				n.cfg.OnRoleChange(rc)
			}
		},
		Logger: n.cfg.Logger,
	})
	if err != nil {
		c.bgCancel()
		close(c.started)
		close(c.roles)
		<-c.done
		n.cl = nil
		return err
	}
	c.mu.Lock()
	c.coord = coord
	c.mu.Unlock()
	close(c.started)
	n.recordForcedRecovery(ctx)
	if restarted {
		// A node that was a member: wait a little for the leader to
		// confirm its role, so that an archive that is not the
		// cluster's fails Open rather than leave the node idle.
		if err := c.awaitRole(ctx, 2*time.Second); err != nil {
			return err
		}
	}
	if cl.Bootstrap && coord.Bootstrapped() {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		poll := time.NewTicker(10 * time.Millisecond)
		defer poll.Stop()
		for !coord.IsLeader() {
			select {
			case <-bctx.Done():
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("continuity: bootstrap: waiting to become the Raft leader: %w", err)
				}
				return errors.New("continuity: bootstrap: this node did not become the Raft leader in 10 s")
			case <-poll.C:
			}
		}
		if err := coord.Join(bctx, failover.Member{ID: cl.Node, RaftAddr: c.cfg.RaftAddr, ReplAddr: c.cfg.ReplAddr, Voter: true}); err != nil {
			return err
		}
	}
	return nil
}

// recordForcedRecovery writes the audit record of a forced recovery of
// this node's Raft state (failover.ForceRecover, offline), once.
func (n *Node) recordForcedRecovery(ctx context.Context) {
	dir := filepath.Join(n.cfg.Dir, "raft")
	fr, ok, err := failover.PendingForcedRecovery(dir)
	if err != nil {
		n.lg.Error("cannot read the record of a forced recovery; it is not in the audit trail", "err", err)
		return
	}
	if !ok {
		return
	}
	var voters []string
	for _, m := range fr.Voters {
		voters = append(voters, m.ID)
	}
	if n.record(ctx, audit.Entry{Time: fr.At, Action: "recover.forced", Subject: fr.Node,
		Details: map[string]string{"voters": strings.Join(voters, ",")}}) == "" {
		return // logged; tried again at the next open
	}
	if err := failover.ForcedRecoveryRecorded(dir); err != nil {
		n.lg.Warn("the forced recovery is in the audit trail, but its record in the Raft directory could not be removed; it will be recorded again", "err", err)
	}
}

// awaitRole waits up to d for the first role change to be applied, and
// returns the fatal error if the node cannot take part, or one wrapping
// ctx.Err() if ctx is done first.
func (c *clusterPart) awaitRole(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		ch := c.roleApplied.Changed()
		c.mu.Lock()
		fatal, told := c.fatalErr(), c.role.Epoch != 0
		c.mu.Unlock()
		if fatal != nil {
			return fatal
		}
		if told {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			return nil // no leader yet: the node starts not ready
		case <-ctx.Done():
			return fmt.Errorf("continuity: waiting for this node's role: %w", ctx.Err())
		}
	}
}

// Join adds a node to the cluster (call it on any member).
func (n *Node) Join(ctx context.Context, node, raftAddr, replAddr string, voter bool) error {
	if n.cl == nil {
		return errors.New("continuity: a single node has no cluster to join")
	}
	return n.cl.coord.Join(ctx, failover.Member{ID: node, RaftAddr: raftAddr, ReplAddr: replAddr, Voter: voter})
}

// JoinVia asks the member whose Raft address is member to add this node
// to its cluster as a voter, over the cluster's mutual TLS (the member
// checks that this node's certificate names the node it adds). It
// retries while the cluster forms, until ctx ends.
func (n *Node) JoinVia(ctx context.Context, member string) error {
	if n.cl == nil {
		return errors.New("continuity: a single node has no cluster to join")
	}
	return n.cl.coord.JoinVia(ctx, member, true)
}

// Switchover hands the primary role to target (call it on the primary).
func (n *Node) Switchover(ctx context.Context, target string) error {
	if n.cl == nil {
		return errors.New("continuity: a single node has no standby to switch over to")
	}
	if err := n.cl.coord.Switchover(ctx, target); err != nil {
		return err
	}
	n.record(ctx, audit.Entry{Action: "switchover", Subject: target})
	return nil
}

// Coordinator is the node's fail-over coordinator (nil for a single
// node).
func (n *Node) Coordinator() *failover.Coordinator {
	if n.cl == nil {
		return nil
	}
	return n.cl.coord
}

// primary is the replication primary while this node serves as one.
func (c *clusterPart) primary() *replication.Primary {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.prim
}

// roleNow is the node's role, the epoch and the primary as the cluster
// state says now.
func (c *clusterPart) roleNow() (Role, uint64, string) {
	if c.coord == nil || !c.coord.IsSynced() {
		return RoleStandby, 0, "" // nothing confirmed with the leader yet
	}
	cs := c.coord.State()
	if cs.Primary == c.cfg.Node {
		return RolePrimary, cs.Epoch, cs.Primary
	}
	return RoleStandby, cs.Epoch, cs.Primary
}

func (c *clusterPart) position() failover.Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	var archived wal.LSN
	if a := c.n.archiver(); a != nil {
		archived = a.Status().HeadLSN
	}
	// A failed state machine applies nothing more: the node must not stay
	// or become the primary (failover.Position.Healthy).
	healthy := c.unhealthy == nil && c.fatalErr() == nil && !c.n.apply.discarded() && c.n.apply.err() == nil
	return failover.Position{Flushed: c.n.log.Synced(), Applied: c.n.Applied(), Acked: c.acked, Epoch: c.n.log.Epoch(), Healthy: healthy, Archived: archived}
}

// roleLoop applies role changes in order.
func (c *clusterPart) roleLoop() {
	defer close(c.done)
	<-c.started
	for rc := range c.roles {
		c.apply(rc)
	}
}

func (c *clusterPart) apply(rc failover.RoleChange) {
	defer c.roleApplied.Broadcast() // after the unlock below: appends waiting for the role look again
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.fatalErr() != nil {
		return
	}
	c.role = rc
	n := c.n
	st := c.coord.State()
	if st.ArchiveID != "" && st.ArchiveID != n.repo.ID() {
		c.setFatal(fmt.Errorf("continuity: this node's archive is repository %s, but its cluster archives to repository %s: "+
			"give every node the cluster's archive (Config.Archive) and its key (Config.Keys); this node takes no role", n.repo.ID(), st.ArchiveID))
		return
	}
	if c.stby != nil && rc.Role == failover.RoleStandby && rc.PrimaryAddr == c.following && rc.Epoch == c.followEpoch {
		return
	}
	c.stopFollowing()
	if c.prim != nil && (rc.Role != failover.RolePrimary || rc.Epoch != c.epoch) {
		c.stopServing()
	}
	if rc.Role == failover.RolePrimary {
		if c.prim != nil {
			return
		}
		if n.apply.discarded() {
			// Reported unhealthy, so promoted only for want of any other
			// node: it has no state to serve.
			n.lg.Warn("promoted, but this node's state waits for a state transfer; resigning", "epoch", rc.Epoch)
			c.background(c.resign)
			return
		}
		if err := n.log.SetEpoch(rc.Epoch); err != nil {
			n.lg.Error("cannot take the new epoch", "epoch", rc.Epoch, "err", err)
			return
		}
		sync := c.cfg.Sync > 0
		last := n.log.Last()
		coord := c.coord
		p, err := replication.NewPrimary(n.log, c.cfg.ReplBind, replication.PrimaryOptions{Transport: c.transport(), Node: c.cfg.Node,
			Capture: n.apply.capture, HoldCommit: sync, Logger: n.cfg.Logger,
			EpochReached: func(e uint64) bool { return coord.State().Epoch >= e }})
		if err != nil {
			n.lg.Error("cannot serve as primary", "addr", c.cfg.ReplBind, "err", err)
			return
		}
		c.prim, c.epoch, c.confirmed = p, rc.Epoch, true
		if sync {
			// What the cluster acknowledged is on every later history;
			// the rest of this node's log joins it once acknowledged in
			// this epoch (as a Raft leader commits a no-op).
			acked := min(st.Acked, last)
			n.apply.acknowledge(acked)
			p.Commit(acked)
			c.background(func(ctx context.Context) { c.commitLog(ctx, rc.Epoch, p, last) })
		} else {
			n.apply.acknowledge(last) // the new history includes everything this node holds
		}
		if err := n.startArchiver(); err != nil {
			n.lg.Error("cannot start archiving; the log keeps every record until it can", "err", err)
		}
		if st.ArchiveID == "" {
			c.background(func(ctx context.Context) { c.recordArchive(ctx, rc.Epoch) })
		}
		n.recordLater(audit.Entry{Action: "promote", Subject: c.cfg.Node,
			Details: map[string]string{"epoch": strconv.FormatUint(rc.Epoch, 10), "last_lsn": strconv.FormatUint(uint64(last), 10)}})
		n.lg.Info("primary", "epoch", rc.Epoch)
		return
	}
	c.rejoin(st)
	if c.cfg.Sync > 0 && !n.apply.discarded() {
		// Acknowledged writes are on every later history (sync mode):
		// the state may hold them before the primary confirms the rest.
		n.apply.acknowledge(min(st.Acked, n.log.Last()))
	}
	if rc.Primary == "" || rc.Primary == c.cfg.Node || rc.PrimaryAddr == "" {
		return
	}
	state := newStandbyState(n.apply)
	s, err := replication.NewStandby(n.log, state, replication.StandbyOptions{
		Transport: c.transport(), Node: c.cfg.Node, Primary: rc.PrimaryAddr, PrimaryNode: rc.Primary, Applied: n.Applied(),
		Archive: n.repo, NeedState: n.apply.discarded(), SpoolDir: n.cfg.Dir, Logger: n.cfg.Logger,
	})
	if err != nil {
		n.lg.Error("cannot follow the primary", "primary", rc.Primary, "err", err)
		return
	}
	c.stby, c.stbyState, c.following, c.followEpoch = s, state, rc.PrimaryAddr, rc.Epoch
	n.lg.Info("standby", "primary", rc.Primary, "epoch", rc.Epoch)
}

// stopFollowing closes the standby, if any. Caller holds c.mu.
func (c *clusterPart) stopFollowing() {
	if c.stby != nil {
		c.stbyState.release() // a host Apply in progress is not waited for
		c.stby.Close()
		c.stby, c.stbyState = nil, nil
	}
}

// refused counts the connections the listeners refused (Status.Refused):
// the coordinator's, and every primary's since Open.
func (c *clusterPart) refused() Refused {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Refused{Replication: c.replRefused}
	if c.coord != nil {
		r.Raft = c.coord.HandshakesRefused()
	}
	if c.prim != nil {
		r.Replication += c.prim.HandshakesRefused()
	}
	return r
}

// stopServing closes the primary and its archiver. Caller holds c.mu.
func (c *clusterPart) stopServing() {
	c.prim.Close()
	c.replRefused += c.prim.HandshakesRefused()
	c.prim, c.epoch = nil, 0
	c.n.stopArchiver()
}

// fatalErr is the error that stops this node's part in its cluster, or
// nil.
func (c *clusterPart) fatalErr() error {
	if p := c.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// setFatal stops this node's part in the cluster for good. Caller holds
// c.mu.
func (c *clusterPart) setFatal(err error) {
	c.fatal.Store(&err)
	c.n.lg.Error("this node cannot take part in its cluster", "err", err)
	c.stopFollowing()
	if c.prim != nil {
		c.stopServing()
		c.background(c.resign)
	}
	select {
	case c.n.fatal <- err:
	default:
	}
}

// resign gives up the primary role (in its own goroutine: it waits for
// Raft).
// background runs f on a goroutine of its own, which stop cancels and
// waits for. Caller holds c.mu (so stop cannot be waiting yet), or is
// such a goroutine.
func (c *clusterPart) background(f func(ctx context.Context)) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		f(c.bgCtx)
	}()
}

func (c *clusterPart) resign(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.coord.Resign(ctx); err != nil {
		c.n.lg.Warn("could not resign the primary role; the lease will run out", "err", err)
	}
}

// recordArchive records this primary's archive as the cluster's, once.
// Another archive recorded first makes the node fatal.
func (c *clusterPart) recordArchive(ctx context.Context, epoch uint64) {
	id := c.n.repo.ID()
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.coord.SetArchive(actx, epoch, id)
		cancel()
		switch {
		case err == nil:
			c.n.lg.Info("the cluster archives to this repository", "repository", id)
			return
		case errors.Is(err, failover.ErrArchiveMismatch):
			c.mu.Lock()
			if c.fatalErr() == nil {
				c.setFatal(fmt.Errorf("continuity: %w; give every node the cluster's archive (Config.Archive) and its key (Config.Keys)", err))
			}
			c.mu.Unlock()
			return
		case errors.Is(err, failover.ErrStaleEpoch), attempt == 20:
			return // deposed meanwhile: the next primary records it
		}
		select { // a retry's backoff while the leader moves
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return // the node stopped
		}
	}
}

// ready reports whether this node serves reads from its cluster's
// history, and why not.
func (c *clusterPart) ready() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch fatal := c.fatalErr(); {
	case fatal != nil:
		return false, fatal.Error()
	case c.unhealthy != nil:
		return false, c.unhealthy.Error()
	case c.coord == nil || !c.coord.IsSynced():
		return false, "waiting to hear from the cluster's Raft leader: this node has not confirmed its role since it started"
	case c.n.apply.discarded():
		return false, "the state applied records the cluster's history cut; it is being rebuilt by a state transfer from the primary"
	case c.prim != nil || c.confirmed:
		return true, ""
	case c.stby != nil && c.stby.State().Confirmed:
		c.confirmed = true
		return true, ""
	case c.role.Role == failover.RolePrimary:
		return false, "promoted; not serving as primary yet"
	}
	return false, "waiting for the primary to confirm that this node's log is on the cluster's history"
}

// rejoin cuts the log back to where the current history diverged from
// it; a state that already applied cut records is rebuilt from the
// archive at the cut (applier.rewind), or discarded for a state
// transfer.
func (c *clusterPart) rejoin(st failover.State) {
	n := c.n
	last := n.log.Last()
	if last < n.log.First() {
		return
	}
	r := n.log.NewReader(last)
	rec, err := r.Next(context.Background())
	r.Close()
	if err != nil {
		return
	}
	point, ok := st.RejoinPoint(rec.Epoch)
	if !ok || point >= last {
		return
	}
	cut, path, err := failover.Rejoin(context.Background(), n.log, point, filepath.Join(n.cfg.Dir, "quarantine"))
	if err != nil {
		n.lg.Error("cannot cut the divergent tail; this node stays out of the cluster", "fork", point, "err", err)
		c.unhealthy = err
		return
	}
	lvl := slog.LevelWarn // asynchronous: they may be writes the fail-over lost
	if c.cfg.Sync > 0 {
		lvl = slog.LevelInfo // none was acknowledged
	}
	n.lg.Log(context.Background(), lvl, "deposed primary: cut the records past the fork (saved for inspection)", "fork", point, "records", cut, "quarantine", path)
	if err := n.apply.rewind(context.Background(), n.repo, point); err != nil && !errors.Is(err, errNeedState) {
		n.lg.Error("state diverged", "err", err)
		c.unhealthy = err
	}
}

func (c *clusterPart) transport() replication.Options {
	if c.cfg.InsecurePlaintext {
		return replication.Options{InsecurePlaintext: true, Cluster: "continuity"}
	}
	return replication.Options{TLS: c.cfg.TLS}
}

// append writes on the primary: into the WAL and to Sync standbys, then
// commits the acknowledged LSN through the coordinator (Sync > 0). It
// returns the first and last LSN the log gave the records.
func (c *clusterPart) append(ctx context.Context, k wal.Kind, events [][]byte) (first, last wal.LSN, err error) {
	p, epoch, coord, notPrimary := c.writer(ctx)
	if p == nil {
		return 0, 0, notPrimary
	}
	first, last, err = p.AppendKind(ctx, replication.Mode{Sync: c.cfg.Sync, Policy: replication.PolicyBlock}, k, events...)
	if err != nil {
		if errors.Is(err, wal.ErrPoisoned) {
			c.mu.Lock()
			c.unhealthy = err
			c.mu.Unlock()
		}
		return 0, 0, err
	}
	if c.cfg.Sync > 0 {
		// Once the cluster state holds it as acknowledged, every later
		// history has it: it is acknowledged, whatever the lease does.
		if err := coord.Acknowledge(ctx, epoch, last); err != nil {
			return 0, 0, fmt.Errorf("continuity: the write reached %d standbys but this node lost the primary role before it could be acknowledged: %w", c.cfg.Sync, err)
		}
	} else if e, ok := coord.CanWrite(); !ok || e != epoch {
		return 0, 0, notPrimary
	}
	c.mu.Lock()
	c.acked = max(c.acked, last)
	c.mu.Unlock()
	c.n.apply.acknowledge(last)
	p.Commit(last)
	return first, last, nil
}

// commitLog acknowledges, in epoch, the records a new primary holds up
// to last, so that they are on every later history: then its state
// applies them and its standbys may. It retries until it succeeds, or
// the node no longer serves p.
func (c *clusterPart) commitLog(ctx context.Context, epoch uint64, p *replication.Primary, last wal.LSN) {
	for {
		c.mu.Lock()
		serving := c.prim == p && !c.stopped
		coord := c.coord
		c.mu.Unlock()
		if !serving {
			return
		}
		actx, cancel := context.WithTimeout(ctx, time.Second)
		err := coord.Acknowledge(actx, epoch, last)
		cancel()
		if err == nil {
			c.mu.Lock()
			c.acked = max(c.acked, last)
			c.mu.Unlock()
			c.n.apply.acknowledge(last)
			p.Commit(last)
			return
		}
		if errors.Is(err, failover.ErrStaleEpoch) || errors.Is(err, failover.ErrNotPrimary) {
			return // deposed meanwhile
		}
		select { // a retry's backoff while the leader moves
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return // the node stopped
		}
	}
}

// writer returns the primary to append through, its epoch and the
// coordinator (nil if this node cannot write), and always the
// *NotPrimaryError that says where to send writes when it cannot, or
// stops being able to during the append. A node the
// coordinator has just made primary (it holds the lease) while its role
// change is still being applied waits for it, until ctx is done, instead
// of redirecting the write to itself.
func (c *clusterPart) writer(ctx context.Context) (*replication.Primary, uint64, *failover.Coordinator, *NotPrimaryError) {
	for {
		changed := c.roleApplied.Changed()
		c.mu.Lock()
		p, epoch, coord, rc := c.prim, c.epoch, c.coord, c.role
		c.mu.Unlock()
		notPrimary := c.notPrimary(rc, coord)
		if coord == nil {
			return nil, 0, nil, notPrimary
		}
		e, ok := coord.CanWrite()
		if !ok {
			return nil, 0, nil, notPrimary
		}
		if p != nil && e == epoch {
			return p, epoch, coord, notPrimary
		}
		if rc.Role == failover.RolePrimary && rc.Epoch >= e {
			return nil, 0, nil, notPrimary // applied, and it did not make a primary (logged)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, 0, nil, notPrimary
		}
	}
}

// notPrimary says where to send writes: the primary of rc only if it is
// another node, the view is confirmed with the leader, and it is not
// older than what this node's log has seen; otherwise no primary (retry).
func (c *clusterPart) notPrimary(rc failover.RoleChange, coord *failover.Coordinator) *NotPrimaryError {
	retry := c.cfg.Profile.Lease
	if retry == 0 {
		retry = failover.LAN.Lease
	}
	e := &NotPrimaryError{Epoch: rc.Epoch, RetryAfter: retry}
	if coord != nil && coord.IsSynced() && rc.Primary != "" && rc.Primary != c.cfg.Node && rc.Epoch >= c.n.log.Epoch() {
		e.Primary, e.PrimaryAddr = rc.Primary, rc.PrimaryAddr
	}
	return e
}

func (c *clusterPart) stop() {
	c.mu.Lock()
	c.stopped = true
	coord, primary := c.coord, c.prim != nil
	c.mu.Unlock()
	if coord != nil && primary {
		// A planned stop: hand the role over now instead of letting the
		// lease run out.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := coord.Resign(ctx); err != nil {
			c.n.lg.Warn("could not resign the primary role before stopping; the lease will run out", "err", err)
		}
		cancel()
	}
	c.bgCancel()
	if coord != nil {
		coord.Close()
	}
	c.bg.Wait()
	close(c.roles)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopFollowing()
	if c.prim != nil {
		c.prim.Close()
	}
}
