package failover

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/replication"
	"github.com/continuity-go/continuity/wal"
)

// host is what a node's host does with its coordinator's decisions: a
// real WAL, a replication.Primary while primary, a replication.Standby
// following the primary otherwise, and Rejoin when deposed.
type host struct {
	tn       *testNode
	tc       *testCluster
	dir      string
	replAddr string

	mu    sync.Mutex
	log   *wal.Log
	sm    *hostSM // the state, rebuilt from the log in each life (as a Node's)
	prim  *replication.Primary
	stby  *replication.Standby
	epoch uint64 // the epoch prim serves, 0 if none
	cut   int    // records quarantined by Rejoin
	// following and followEpoch say whom stby follows.
	following   string
	followEpoch uint64
	stop        chan struct{}
	done        chan struct{}
}

var plain = replication.Options{InsecurePlaintext: true, Cluster: "orders"}

// run applies role changes until stop.
func (h *host) run() {
	defer close(h.done)
	for {
		select {
		case <-h.stop:
			return
		case rc := <-h.tn.events:
			h.apply(rc)
		case <-time.After(5 * time.Millisecond): // how often flushed follows the log
		}
		h.mu.Lock()
		if h.log != nil {
			h.tn.flushed.Store(uint64(h.log.Last()))
		}
		h.mu.Unlock()
	}
}

func (h *host) apply(rc RoleChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.log == nil {
		return
	}
	if h.stby != nil && rc.Role == RoleStandby && rc.PrimaryAddr == h.following && rc.Epoch == h.followEpoch {
		return // already following that primary in that epoch (only the fork was refined)
	}
	if h.stby != nil {
		h.stby.Close()
		h.stby = nil
		h.sm.stby.Store(nil)
	}
	if h.prim != nil && (rc.Role != RolePrimary || rc.Epoch != h.epoch) {
		h.prim.Close()
		h.prim, h.epoch = nil, 0
	}
	if rc.Role == RolePrimary {
		if h.prim != nil {
			return
		}
		if h.sm.isDiscarded() {
			go h.tn.c.Resign(context.Background()) // no state to serve (reported unhealthy)
			return
		}
		if err := h.log.SetEpoch(rc.Epoch); err != nil {
			h.tc.t.Errorf("%s: SetEpoch(%d): %v", h.tn.id, rc.Epoch, err)
			return
		}
		// What the cluster acknowledged is on every later history; the
		// rest of the log once acknowledged in this epoch (a Node's
		// clusterPart.commitLog).
		last := h.log.Last()
		acked := min(h.tn.c.State().Acked, last)
		if err := h.sm.applyLog(h.log, acked); err != nil {
			h.tc.t.Errorf("%s: apply its log as primary: %v", h.tn.id, err)
			return
		}
		p, err := replication.NewPrimary(h.log, h.replAddr, replication.PrimaryOptions{Transport: plain, Node: h.tn.id, Heartbeat: 50 * time.Millisecond, Timeout: time.Second,
			Capture: h.sm.capture, HoldCommit: true})
		if err != nil {
			h.tc.t.Logf("%s: primary: %v", h.tn.id, err)
			return
		}
		p.Commit(acked)
		h.prim, h.epoch = p, rc.Epoch
		go h.commitLog(rc.Epoch, p, last)
		return
	}
	// A standby: cut a divergent tail, then follow.
	if last := h.log.Last(); last > 0 {
		r := h.log.NewReader(last)
		rec, err := r.Next(context.Background())
		r.Close()
		if err == nil {
			if point, ok := h.tn.c.State().RejoinPoint(rec.Epoch); ok && point < last {
				n, _, err := Rejoin(context.Background(), h.log, point, filepath.Join(h.dir, "quarantine"))
				if err != nil {
					h.tc.t.Errorf("%s: rejoin at %d: %v", h.tn.id, point, err)
					return
				}
				h.cut += n
				if recs, _, _, _ := h.sm.state(); len(recs) > 0 && recs[len(recs)-1].LSN > point {
					// The state applied cut records; no archive here:
					// only the primary's state replaces it.
					h.sm.discardFor(fmt.Sprintf("rejoin cut the log at %d from %d (last record's epoch %d, timeline %v)", point, last, rec.Epoch, h.tn.c.State().Timeline))
					h.tn.healthy.Store(false)
				}
			}
		}
	}
	if rc.Primary == "" || rc.Primary == h.tn.id || rc.PrimaryAddr == "" {
		return
	}
	recs, _, _, _ := h.sm.state()
	applied := wal.LSN(0)
	if len(recs) > 0 {
		applied = recs[len(recs)-1].LSN
	}
	s, err := replication.NewStandby(h.log, h.sm, replication.StandbyOptions{Transport: plain, Node: h.tn.id, Primary: rc.PrimaryAddr,
		Applied: applied, NeedState: h.sm.isDiscarded(), SpoolDir: h.dir,
		Timeout: time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		h.tc.t.Logf("%s: standby: %v", h.tn.id, err)
		return
	}
	h.sm.stby.Store(s)
	h.stby, h.following, h.followEpoch = s, rc.PrimaryAddr, rc.Epoch
}

func (h *host) open() {
	l, err := wal.Open(filepath.Join(h.dir, "wal"), wal.Options{})
	if err != nil {
		h.tc.t.Fatal(err)
	}
	h.mu.Lock()
	h.log, h.sm = l, &hostSM{rebased: func() { h.tn.healthy.Store(true) }}
	h.mu.Unlock()
	h.tn.healthy.Store(true)
	h.tn.flushed.Store(uint64(l.Last()))
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go h.run()
}

// crash stops everything of the node at once, as a killed process.
func (h *host) crash() {
	h.tc.kill(h.tn)
	close(h.stop)
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stby != nil {
		h.stby.Close()
		h.stby = nil
	}
	if h.prim != nil {
		h.prim.Close()
		h.prim, h.epoch = nil, 0
	}
	h.log.Close()
	h.log = nil
	for len(h.tn.events) > 0 {
		<-h.tn.events
	}
}

// write appends one event on this node if it is a primary that can write,
// in sync mode (one standby has it on disk), commits the acknowledged LSN
// through Raft, and reports whether the write was acknowledged.
func (h *host) write(ctx context.Context, data []byte) (uint64, wal.LSN, bool) {
	h.mu.Lock()
	p, epoch := h.prim, h.epoch
	h.mu.Unlock()
	c := h.tc.coord(h.tn)
	if p == nil || c == nil {
		return 0, 0, false
	}
	if e, ok := c.CanWrite(); !ok || e != epoch {
		return 0, 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, lsn, err := p.Append(ctx, replication.Mode{Sync: 1, Policy: replication.PolicyBlock}, data)
	if err != nil {
		return 0, 0, false
	}
	if err := c.Acknowledge(ctx, epoch, lsn); err != nil {
		return 0, 0, false
	}
	h.tn.acked.Store(uint64(lsn))
	h.committed(p, lsn)
	return epoch, lsn, true
}

// committed applies what the cluster acknowledged to the primary's state
// (a Node's applier) and lets the standbys apply it, under the host's
// lock: a role change waits for it.
func (h *host) committed(p *replication.Primary, lsn wal.LSN) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.prim != p || h.log == nil {
		return
	}
	if err := h.sm.applyLog(h.log, lsn); err != nil {
		h.tc.t.Errorf("%s: apply LSN %d as primary: %v", h.tn.id, lsn, err)
	}
	p.Commit(lsn)
}

// commitLog acknowledges a new primary's log up to last in its epoch.
func (h *host) commitLog(epoch uint64, p *replication.Primary, last wal.LSN) {
	for range 100 {
		h.mu.Lock()
		serving := h.prim == p
		h.mu.Unlock()
		c := h.tc.coord(h.tn)
		if !serving || c == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := c.Acknowledge(ctx, epoch, last)
		cancel()
		if err == nil {
			h.committed(p, last)
			return
		}
		time.Sleep(20 * time.Millisecond) // a retry's backoff
	}
}

func (tc *testCluster) coord(n *testNode) *Coordinator {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return n.c
}

type ackedWrite struct {
	node  string
	epoch uint64
	lsn   wal.LSN
	data  string
}

// TestHistory runs real WALs with synchronous replication under the
// coordinators, a client writing through whichever node can write, and
// seeded faults: the primary killed (and restarted), the primary's
// coordinator isolated while its replication still works, a standby
// killed. Every acknowledged write is tagged (node, epoch, LSN). At the
// end: no two writers at once, every acknowledged write is in the final
// primary's log at its LSN with its epoch and bytes, and every node's log
// is a prefix of the final primary's (no gap, no divergent tail left).
func TestHistory(t *testing.T) {
	for seed := uint64(1); seed <= historySchedules; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { history(t, seed) })
	}
}

func history(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x4157))
	tc := newTestCluster(t, 3, func(cfg *Config) { cfg.SyncMode = true })
	hosts := map[string]*host{}
	for _, n := range tc.nodes {
		h := &host{tn: n, tc: tc, dir: t.TempDir(), replAddr: freeAddr(t)}
		hosts[n.id] = h
	}
	// The members' replication addresses: joined again with the real ones.
	ctx := context.Background()
	leader := tc.nodes[0]
	for _, n := range tc.nodes {
		if err := leader.c.Join(ctx, Member{ID: n.id, RaftAddr: n.c.Addr(), ReplAddr: hosts[n.id].replAddr, Voter: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range tc.nodes {
		hosts[n.id].open()
		// The role so far, now that the host runs: read after open, so
		// that a role told meanwhile is never followed by an older one
		// (OnRole records a role before it sends it; the same role twice
		// is a no-op).
		n.mu.Lock()
		told := len(n.roles) > 0
		var last RoleChange
		if told {
			last = n.roles[len(n.roles)-1]
		}
		n.mu.Unlock()
		if told {
			n.events <- last
		}
	}
	t.Cleanup(func() {
		for _, h := range hosts {
			if h.log != nil {
				h.crash()
			}
		}
	})
	mon := startMonitor(tc)

	var (
		mu    sync.Mutex
		acked []ackedWrite
	)
	stopClient := make(chan struct{})
	clientDone := make(chan struct{})
	stopTheClient := sync.OnceFunc(func() {
		close(stopClient)
		<-clientDone
	})
	t.Cleanup(stopTheClient) // also if the test fails while the client runs
	go func() {
		defer close(clientDone)
		for i := 0; ; i++ {
			select {
			case <-stopClient:
				return
			default:
			}
			wrote := false
			for _, n := range tc.nodes {
				data := fmt.Sprintf("write %d via %s", i, n.id)
				if e, lsn, ok := hosts[n.id].write(ctx, []byte(data)); ok {
					mu.Lock()
					acked = append(acked, ackedWrite{n.id, e, lsn, data})
					mu.Unlock()
					wrote = true
					break
				}
			}
			if !wrote {
				time.Sleep(2 * time.Millisecond) // no node could write: back off a little before trying again
			}
		}
	}()

	// The schedule: random faults for 1.5 s, each after a random pause.
	// Its sleeps are the scenario's timing; they wait for nothing, and
	// what the test asserts afterwards it waits for.
	var events []string
	deadline := time.Now().Add(1500 * time.Millisecond)
	var down *host
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(150+rng.IntN(250)) * time.Millisecond)
		var prim *host
		for _, n := range tc.nodes {
			if c := tc.coord(n); c != nil {
				if _, ok := c.CanWrite(); ok {
					prim = hosts[n.id]
				}
			}
		}
		switch rng.IntN(4) {
		case 0: // kill the primary
			if prim != nil && down == nil {
				prim.crash()
				down = prim
				events = append(events, "kill primary "+prim.tn.id)
			}
		case 1: // isolate the primary's coordinator (its replication still works)
			if prim != nil {
				tc.net.isolate(prim.tn.id, tc.ids)
				events = append(events, "isolate coordinator of "+prim.tn.id)
			}
		case 2: // kill a standby
			if down == nil {
				for _, h := range hosts {
					if h != prim {
						h.crash()
						down = h
						events = append(events, "kill standby "+h.tn.id)
						break
					}
				}
			}
		case 3: // heal and restart
			tc.net.heal()
			if down != nil {
				tc.restart(down.tn)
				down.open()
				down = nil
			}
			events = append(events, "heal")
		}
	}
	tc.net.heal()
	if down != nil {
		tc.restart(down.tn)
		down.open()
	}
	defer func() {
		if t.Failed() {
			for id, h := range hosts {
				h.mu.Lock()
				var ss replication.StandbyState
				if h.stby != nil {
					ss = h.stby.State()
				}
				t.Logf("%s: last %d, epoch %d, primary %v, standby %+v, state %+v", id, h.log.Last(), h.log.Epoch(), h.prim != nil, ss, tc.coord(h.tn).State())
				h.mu.Unlock()
			}
			t.Logf("events %v", events)
		}
	}()
	// Converge: a primary that can write, a write acknowledged by the
	// converged cluster, and every node caught up.
	p, _ := tc.primary("")
	mu.Lock()
	ackedBefore := len(acked)
	mu.Unlock()
	testkit.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > ackedBefore
	}, "a write acknowledged after the faults healed")
	stopTheClient()
	final := hosts[p.id]
	testkit.Eventually(t, func() bool {
		final.mu.Lock()
		last := final.log.Last()
		final.mu.Unlock()
		for _, h := range hosts {
			h.mu.Lock()
			l := h.log.Last()
			h.mu.Unlock()
			if l != last {
				return false
			}
		}
		return true
	}, "every node to catch up with the final primary")
	// Every node's state is the final history (rebuilt by a state
	// transfer where it had applied records the history cut), and no
	// standby applied a record before a primary confirmed its log.
	var transfers int
	var discards []string
	testkit.Eventually(t, func() bool {
		for _, h := range hosts {
			h.mu.Lock()
			last := final.log.Last()
			recs, _, _, _ := h.sm.state()
			h.mu.Unlock()
			if len(recs) == 0 && last > 0 || len(recs) > 0 && recs[len(recs)-1].LSN != last {
				return false
			}
		}
		return true
	}, "every node's state to reach the final primary's last LSN")
	final.mu.Lock()
	finalRecs := readAll(t, final.log)
	final.mu.Unlock()
	for id, h := range hosts {
		h.mu.Lock()
		recs, early, d, r := h.sm.state()
		h.mu.Unlock()
		transfers = transfers + r
		for _, why := range d {
			discards = append(discards, id+": "+why)
		}
		if err := checkState(id, recs, early, finalRecs); err != nil {
			t.Fatalf("%v (events %v)", err, events)
		}
	}
	if len(discards) > 0 {
		// Sync mode: only acknowledged records are applied, and every
		// later history holds them.
		t.Fatalf("%d states applied records a later history cut (events %v): %v", len(discards), events, discards)
	}
	if v := mon.finish(); len(v) > 0 {
		t.Fatalf("two writers (%v): %v", events, v[:min(5, len(v))])
	}

	// The final history.
	final.mu.Lock()
	recs := readAll(t, final.log)
	final.mu.Unlock()
	logs := map[string][]wal.Record{}
	for id, h := range hosts {
		h.mu.Lock()
		logs[id] = readAll(t, h.log)
		h.mu.Unlock()
	}
	if err := checkHistory(acked, recs, logs); err != nil {
		t.Fatalf("%v (events %v)", err, events)
	}
	cut := 0
	for _, h := range hosts {
		cut += h.cut
	}
	t.Logf("%d acknowledged writes, final primary %s at LSN %d, %d records quarantined, %d states discarded, %d state transfers; %v", len(acked), p.id, len(recs), cut, len(discards), transfers, events)
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
}

// checkHistory fails if an acknowledged write is not in the final
// history at its LSN with its epoch and bytes, or if a node's log is not
// a prefix of the final history.
func checkHistory(acked []ackedWrite, final []wal.Record, logs map[string][]wal.Record) error {
	for _, w := range acked {
		if int(w.lsn) > len(final) {
			return fmt.Errorf("acknowledged write %+v is past the final log's end %d", w, len(final))
		}
		if r := final[w.lsn-1]; r.Epoch != w.epoch || string(r.Data) != w.data {
			return fmt.Errorf("acknowledged write %+v lost: LSN %d holds epoch %d %q", w, w.lsn, r.Epoch, r.Data)
		}
	}
	for id, mine := range logs {
		if len(mine) > len(final) {
			return fmt.Errorf("%s holds %d records, past the final history's %d", id, len(mine), len(final))
		}
		for i, r := range mine {
			if r.Epoch != final[i].Epoch || string(r.Data) != string(final[i].Data) {
				return fmt.Errorf("%s diverges from the final history at LSN %d", id, r.LSN)
			}
		}
	}
	return nil
}

// TestCheckHistoryCatches: the checker is not blind to a lost write, an
// overwritten one, or a divergent tail.
func TestCheckHistoryCatches(t *testing.T) {
	final := []wal.Record{{LSN: 1, Epoch: 1, Data: []byte("a")}, {LSN: 2, Epoch: 2, Data: []byte("b")}}
	if err := checkHistory([]ackedWrite{{"n1", 1, 1, "a"}, {"n2", 2, 2, "b"}}, final, map[string][]wal.Record{"n3": final[:1]}); err != nil {
		t.Fatalf("a good history: %v", err)
	}
	for name, c := range map[string]struct {
		acked []ackedWrite
		logs  map[string][]wal.Record
	}{
		"lost":        {acked: []ackedWrite{{"n1", 1, 3, "c"}}},
		"overwritten": {acked: []ackedWrite{{"n1", 1, 2, "x"}}},
		"divergent":   {logs: map[string][]wal.Record{"n1": {final[0], {LSN: 2, Epoch: 1, Data: []byte("x")}}}},
		"longer":      {logs: map[string][]wal.Record{"n1": append(final[:2:2], wal.Record{LSN: 3})}},
	} {
		if err := checkHistory(c.acked, final, c.logs); err == nil {
			t.Errorf("%s: not caught", name)
		}
	}
}

func readAll(t *testing.T, l *wal.Log) []wal.Record {
	t.Helper()
	var out []wal.Record
	if l.Last() == 0 {
		return nil
	}
	if l.First() != 1 {
		t.Fatalf("log starts at %d", l.First())
	}
	r := l.NewReader(1)
	defer r.Close()
	for wal.LSN(len(out)) < l.Last() {
		rec, err := r.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}
