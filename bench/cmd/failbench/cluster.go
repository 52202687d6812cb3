package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuity-go/continuity/failover"
	"github.com/continuity-go/continuity/wal"
)

// Intervals of the driver and the monitor.
const (
	writeEvery  = time.Millisecond       // the driver appends one record this often
	sampleEvery = 500 * time.Microsecond // the monitor polls every node this often
)

// node is one member of an in-process cluster: its coordinator and the
// simulated log the driver moves.
type node struct {
	id      string
	coord   atomic.Pointer[failover.Coordinator] // nil once killed
	flushed atomic.Uint64                        // last LSN "durable" in its log
	acked   atomic.Uint64                        // last LSN it acknowledged, as primary
	epoch   atomic.Uint64                        // epoch of its log's last record
	leader  bool                                 // monitor only: IsLeader at the last sample
	writing bool                                 // monitor only: CanWrite at the last sample
}

// position is the node's failover.Position.
func (n *node) position() failover.Position {
	f := wal.LSN(n.flushed.Load())
	return failover.Position{Flushed: f, Applied: f, Acked: wal.LSN(n.acked.Load()), Epoch: n.epoch.Load(), Healthy: true}
}

// canWrite is CanWrite of the node's coordinator, false once killed.
func (n *node) canWrite() (uint64, bool) {
	if c := n.coord.Load(); c != nil {
		return c.CanWrite()
	}
	return 0, false
}

// isLeader is IsLeader of the node's coordinator, false once killed.
func (n *node) isLeader() bool {
	c := n.coord.Load()
	return c != nil && c.IsLeader()
}

// ack is a write the driver acknowledged.
type ack struct {
	node  string
	epoch uint64
	lsn   wal.LSN
	at    time.Time
}

// event is a moment the program noted: a node became Raft leader (as the
// monitor saw it), or was told it is primary (OnRole).
type event struct {
	node  string
	epoch uint64 // primary events: the epoch
	at    time.Time
}

// safety counts what breaks the promises "never two writers" and "no
// acknowledged write lost" in one trial (or one series of switchovers).
type safety struct {
	samples     int // monitor samples taken
	twoWriters  int // samples in which two nodes could write at once
	sharedEpoch int // epochs in which two nodes could write or wrote
	ackOrder    int // acknowledged writes of an older epoch after one of a newer epoch
	lost        int // acknowledged writes above the fork of a later epoch
	acks        int // acknowledged writes checked
	ackFailed   int // Acknowledge calls that failed (the write was not acknowledged)

	watched time.Duration // how long the monitor ran: watched/samples is its real interval
	gaps    time.Duration // sum of the intervals between consecutive writes of one primary
	gapN    int           // their number
}

// violations is the count of split-brain evidence.
func (s safety) violations() int { return s.twoWriters + s.sharedEpoch + s.ackOrder }

func (s *safety) add(o safety) {
	s.samples += o.samples
	s.twoWriters += o.twoWriters
	s.sharedEpoch += o.sharedEpoch
	s.ackOrder += o.ackOrder
	s.lost += o.lost
	s.acks += o.acks
	s.ackFailed += o.ackFailed
	s.watched += o.watched
	s.gaps += o.gaps
	s.gapN += o.gapN
}

// cluster is a running cluster of clusterSize coordinators on loopback,
// the driver that writes on its primary and the monitor that watches it.
type cluster struct {
	prof  failover.Profile
	nodes []*node
	warns *warnCounter

	mu        sync.Mutex
	acks      []ack
	leaders   []event // a node turned Raft leader
	primaries []event // a node was told it is primary
	writable  []event // a node's CanWrite turned true
	ackFailed int     // Acknowledge calls that failed
	writerOf  map[uint64]string
	shared    map[uint64]bool
	safe      safety

	stop chan struct{}
	wg   sync.WaitGroup
}

// startCluster opens clusterSize coordinators in directories under dir,
// n1 bootstrapping and the others joining it as voters, with the driver
// and the monitor running, and waits for a primary that can write.
func startCluster(ctx context.Context, pk *pki, dir string, prof failover.Profile) (cl *cluster, err error) {
	cl = &cluster{prof: prof, warns: newWarnCounter(), writerOf: map[uint64]string{}, shared: map[uint64]bool{}, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			cl.close()
			cl = nil
		}
	}()
	lg := slog.New(cl.warns)
	for i, id := range nodeIDs() {
		n := &node{id: id}
		cl.nodes = append(cl.nodes, n)
		c, err := failover.Open(failover.Config{
			Node:      id,
			Dir:       filepath.Join(dir, id),
			Bind:      "127.0.0.1:0",
			TLS:       pk.tls(id),
			Bootstrap: i == 0,
			Profile:   prof,
			SyncMode:  true,
			Position:  n.position,
			OnRole:    func(rc failover.RoleChange) { cl.onRole(id, rc) },
			Logger:    lg,
		})
		if err != nil {
			return cl, fmt.Errorf("open %s: %w", id, err)
		}
		n.coord.Store(c)
	}
	timeout := waitTimeout(prof)
	first := cl.nodes[0]
	if !waitUntil(ctx, timeout, first.isLeader) {
		return cl, fmt.Errorf("%s did not become the leader of its new cluster in %v", first.id, timeout)
	}
	jctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, n := range cl.nodes {
		if err := first.coord.Load().Join(jctx, failover.Member{ID: n.id, RaftAddr: n.coord.Load().Addr(), Voter: true}); err != nil {
			return cl, fmt.Errorf("join %s: %w", n.id, err)
		}
	}
	cl.wg.Add(2)
	go cl.drive()
	go cl.monitor()
	if _, err := cl.waitPrimary(ctx, nil); err != nil {
		return cl, err
	}
	cl.warns.setPhase(phaseRunning)
	return cl, nil
}

// waitTimeout is how long the program waits for a leader, a primary or a
// fail-over before it gives up: generous, for a loaded machine.
func waitTimeout(p failover.Profile) time.Duration { return max(20*time.Second, 12*p.Lease) }

// waitUntil polls cond every millisecond until it holds (true), timeout
// passes or ctx ends (false).
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (cl *cluster) onRole(id string, rc failover.RoleChange) {
	if rc.Role != failover.RolePrimary {
		return
	}
	now := time.Now()
	cl.mu.Lock()
	cl.primaries = append(cl.primaries, event{node: id, epoch: rc.Epoch, at: now})
	cl.mu.Unlock()
}

// writer returns the node that can write now, nil if none.
func (cl *cluster) writer() *node {
	for _, n := range cl.nodes {
		if _, ok := n.canWrite(); ok {
			return n
		}
	}
	return nil
}

// leader returns the node that is the Raft leader now, nil if none.
func (cl *cluster) leader() *node {
	for _, n := range cl.nodes {
		if n.isLeader() {
			return n
		}
	}
	return nil
}

// waitPrimary waits until a node other than not can write, and returns it.
func (cl *cluster) waitPrimary(ctx context.Context, not *node) (*node, error) {
	var p *node
	timeout := waitTimeout(cl.prof)
	if !waitUntil(ctx, timeout, func() bool { p = cl.writer(); return p != nil && p != not }) {
		return nil, fmt.Errorf("no primary could write within %v", timeout)
	}
	return p, nil
}

// drive is the driver, a sync-mode host's write path: every writeEvery
// (or at once, when the last write took longer) it appends a record on
// the node that can write, copies it to the others (a synchronous
// standby holds a record before it is acknowledged), commits the
// acknowledged LSN through Raft with Acknowledge, asks CanWrite again
// and, if the node can still write in the same epoch, acknowledges the
// record.
func (cl *cluster) drive() {
	defer cl.wg.Done()
	t := time.NewTicker(writeEvery)
	defer t.Stop()
	for {
		select {
		case <-cl.stop:
			return
		case <-t.C:
		}
		w := cl.writer()
		if w == nil {
			continue
		}
		c := w.coord.Load()
		if c == nil {
			continue
		}
		e, ok := c.CanWrite()
		if !ok {
			continue
		}
		lsn := w.flushed.Load() + 1
		for _, n := range cl.nodes {
			if n == w || n.coord.Load() != nil {
				n.flushed.Store(lsn)
				n.epoch.Store(e)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), cl.prof.Lease-cl.prof.Margin)
		err := c.Acknowledge(ctx, e, wal.LSN(lsn))
		cancel()
		if err != nil {
			cl.mu.Lock()
			cl.ackFailed++
			cl.mu.Unlock()
			continue
		}
		if e2, ok := c.CanWrite(); ok && e2 == e {
			w.acked.Store(lsn)
			now := time.Now()
			cl.mu.Lock()
			cl.acks = append(cl.acks, ack{node: w.id, epoch: e, lsn: wal.LSN(lsn), at: now})
			cl.mu.Unlock()
		}
	}
}

// monitor polls every node's CanWrite and IsLeader every sampleEvery: two
// nodes able to write in one sample, or two nodes writing in one epoch,
// are violations; a node turning leader is noted.
func (cl *cluster) monitor() {
	defer cl.wg.Done()
	start := time.Now()
	defer func() {
		cl.mu.Lock()
		cl.safe.watched = time.Since(start)
		cl.mu.Unlock()
	}()
	for {
		select {
		case <-cl.stop:
			return
		default:
		}
		cl.sample()
		pause(sampleEvery)
	}
}

func (cl *cluster) sample() {
	var writers []string
	var turned, began []*node
	for _, n := range cl.nodes {
		c := n.coord.Load()
		if c == nil {
			n.leader, n.writing = false, false
			continue
		}
		e, ok := c.CanWrite()
		if ok && !n.writing {
			began = append(began, n)
		}
		n.writing = ok
		if ok {
			writers = append(writers, n.id)
			cl.mu.Lock()
			if w, seen := cl.writerOf[e]; seen && w != n.id && !cl.shared[e] {
				cl.shared[e] = true
				cl.safe.sharedEpoch++
			}
			cl.writerOf[e] = n.id
			cl.mu.Unlock()
		}
		l := c.IsLeader()
		if l && !n.leader {
			turned = append(turned, n)
		}
		n.leader = l
	}
	now := time.Now()
	cl.mu.Lock()
	cl.safe.samples++
	if len(writers) > 1 {
		cl.safe.twoWriters++
	}
	for _, n := range turned {
		cl.leaders = append(cl.leaders, event{node: n.id, at: now})
	}
	for _, n := range began {
		cl.writable = append(cl.writable, event{node: n.id, at: now})
	}
	cl.mu.Unlock()
}

// kill closes n's coordinator, as the death of its process: from the
// call on it cannot write. It returns when the call began.
func (cl *cluster) kill(n *node) time.Time {
	c := n.coord.Swap(nil)
	at := time.Now()
	cl.warns.setPhase(phaseKilled)
	if c != nil {
		c.Close()
	}
	return at
}

// waitAck waits until the driver has acknowledged a write that match
// accepts, and returns the first.
func (cl *cluster) waitAck(ctx context.Context, timeout time.Duration, match func(ack) bool) (ack, bool) {
	var found ack
	from := 0
	ok := waitUntil(ctx, timeout, func() bool {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		for ; from < len(cl.acks); from++ {
			if match(cl.acks[from]) {
				found = cl.acks[from]
				return true
			}
		}
		return false
	})
	return found, ok
}

// lastAck returns the last write acknowledged before t that match
// accepts.
func (cl *cluster) lastAck(t time.Time, match func(ack) bool) (ack, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for i := len(cl.acks) - 1; i >= 0; i-- {
		if a := cl.acks[i]; a.at.Before(t) && match(a) {
			return a, true
		}
	}
	return ack{}, false
}

// firstEvent returns the first of events after t for a node other than
// not.
func (cl *cluster) firstEvent(events *[]event, t time.Time, not string) (event, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, e := range *events {
		if e.at.After(t) && e.node != not {
			return e, true
		}
	}
	return event{}, false
}

// halt stops the driver and the monitor, and the counting of warnings.
func (cl *cluster) halt() {
	select {
	case <-cl.stop:
		return
	default:
	}
	close(cl.stop)
	cl.wg.Wait()
	cl.warns.stop()
}

// check halts the cluster and checks every acknowledged write against
// the cluster's history, as a live node knows it: no epoch acknowledged
// by two nodes, epochs in order, and every acknowledged write at or
// below the fork of every later epoch (SyncMode: a promotion never loses
// one). It returns the trial's safety counts, the monitor's included.
func (cl *cluster) check() (safety, error) {
	cl.halt()
	var st failover.State
	var have bool
	for _, n := range cl.nodes {
		if c := n.coord.Load(); c != nil {
			if s := c.State(); !have || s.Index > st.Index {
				st, have = s, true
			}
		}
	}
	if !have {
		return safety{}, errors.New("no live node to read the cluster state from")
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	s := cl.safe
	s.ackFailed = cl.ackFailed
	s.add(checkAcks(cl.acks, st.Timeline, cl.shared))
	return s, nil
}

// checkAcks checks the acknowledged writes, in the order acknowledged,
// against the timeline: an epoch acknowledged by two nodes (unless
// shared already holds it, as the monitor saw; it is added), a write of
// an older epoch after one of a newer, a write above the fork of a later
// epoch (lost). It also sums the intervals between one primary's
// consecutive writes.
func checkAcks(acks []ack, timeline []failover.TimelineEntry, shared map[uint64]bool) safety {
	var s safety
	owner := map[uint64]string{}
	var newest uint64
	for i, a := range acks {
		s.acks++
		if i > 0 && acks[i-1].node == a.node && acks[i-1].epoch == a.epoch {
			s.gaps += a.at.Sub(acks[i-1].at)
			s.gapN++
		}
		if w, ok := owner[a.epoch]; ok && w != a.node && !shared[a.epoch] {
			shared[a.epoch] = true
			s.sharedEpoch++
		}
		owner[a.epoch] = a.node
		if a.epoch < newest {
			s.ackOrder++
		}
		newest = max(newest, a.epoch)
		for _, t := range timeline {
			if t.Epoch > a.epoch && a.lsn > t.Fork {
				s.lost++
				break
			}
		}
	}
	return s
}

// close halts the cluster and closes every live coordinator.
func (cl *cluster) close() {
	cl.halt()
	var wg sync.WaitGroup
	for _, n := range cl.nodes {
		if c := n.coord.Swap(nil); c != nil {
			wg.Go(func() { c.Close() })
		}
	}
	wg.Wait()
}

// warnCounter is a slog.Handler that counts the coordinators' warnings
// and errors by message, until stopped (a cluster being closed warns of
// what its closing does).
type warnCounter struct {
	mu      sync.Mutex
	stopped bool
	phase   string // what the cluster is doing, the key's prefix
	counts  map[string]int
}

func newWarnCounter() *warnCounter { return &warnCounter{phase: phaseStart, counts: map[string]int{}} }

// Phases of a cluster's life, for its warnings.
const (
	phaseStart   = "start"   // until the first primary can write
	phaseRunning = "running" // then, until a kill
	phaseKilled  = "killed"  // after the primary's kill
)

// setPhase makes the warnings from now on count under phase.
func (w *warnCounter) setPhase(phase string) {
	w.mu.Lock()
	w.phase = phase
	w.mu.Unlock()
}

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.counts[w.phase+": "+r.Message]++
	}
	return nil
}

func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

func (w *warnCounter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// snapshot returns the counts.
func (w *warnCounter) snapshot() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.counts))
	for k, v := range w.counts {
		out[k] = v
	}
	return out
}

// warnList formats counts as "phase: message ×n; ...", most frequent
// first.
func warnList(counts map[string]int) string {
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		phase, msg, _ := strings.Cut(k, ": ")
		parts[i] = fmt.Sprintf("%s: %q ×%d", phase, msg, counts[k])
	}
	return strings.Join(parts, "; ")
}
