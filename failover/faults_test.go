package failover

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/continuity-go/continuity/internal/testkit"
)

// monitor polls every node's CanWrite and records what would break the
// promise "no split brain": two nodes able to write at the same instant,
// or two nodes writing in the same epoch.
type monitor struct {
	tc         *testCluster
	stop, done chan struct{}
	mu         sync.Mutex
	writer     map[uint64]string // epoch → the node that could write in it
	violations []string
	samples    int
}

func startMonitor(tc *testCluster) *monitor {
	m := &monitor{tc: tc, stop: make(chan struct{}), done: make(chan struct{}), writer: map[uint64]string{}}
	go func() {
		defer close(m.done)
		for {
			select {
			case <-m.stop:
				return
			default:
			}
			m.sample()
			time.Sleep(500 * time.Microsecond) // the sampling rate; waits for nothing
		}
	}()
	return m
}

func (m *monitor) sample() {
	var writers []string
	for _, n := range m.tc.liveNodes() {
		if e, ok := n.c.CanWrite(); ok {
			writers = append(writers, fmt.Sprintf("%s@%d", n.id, e))
			m.mu.Lock()
			if w, seen := m.writer[e]; seen && w != n.id {
				m.violations = append(m.violations, fmt.Sprintf("epoch %d written by %s and %s", e, w, n.id))
			}
			m.writer[e] = n.id
			m.mu.Unlock()
		}
	}
	m.mu.Lock()
	m.samples++
	if len(writers) > 1 {
		m.violations = append(m.violations, "two writers at once: "+strings.Join(writers, ", "))
	}
	m.mu.Unlock()
}

// violated reports whether the monitor has recorded a violation yet.
func (m *monitor) violated() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.violations) > 0
}

func (m *monitor) finish() []string {
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.violations
}

// live is a running node and its coordinator, read under the lock.
type live struct {
	*testNode
	c *Coordinator
}

// liveNodes are the nodes whose coordinator runs, each with it (the
// monitor and the driver read them while the test kills and restarts).
func (tc *testCluster) liveNodes() []live {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	var out []live
	for _, n := range tc.nodes {
		if n.c != nil {
			out = append(out, live{n, n.c})
		}
	}
	return out
}

func (tc *testCluster) kill(n *testNode) {
	tc.mu.Lock()
	c := n.c
	n.c = nil
	tc.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// TestFailoverUnderFaults runs seeded random fault schedules against
// clusters of 3 and 5: killed and restarted nodes, partitions of the
// primary (both ways and one way), of the Raft leader and of random
// nodes, a primary whose disk fails, and clocks running 10% fast or slow.
// Throughout, a monitor checks that no two nodes can write at once and
// that no epoch has two writers; after the faults heal, the cluster must
// agree on a primary again.
func TestFailoverUnderFaults(t *testing.T) {
	for seed := uint64(1); seed <= faultSchedules; seed++ {
		size := 3
		if seed%5 == 0 {
			size = 5
		}
		t.Run(fmt.Sprintf("seed%d-n%d", seed, size), func(t *testing.T) { faultSchedule(t, seed, size) })
	}
}

func faultSchedule(t *testing.T, seed uint64, size int) {
	rng := rand.New(rand.NewPCG(seed, 0xfa11))
	// One node's clock runs up to 10% fast or slow (wall clock offsets do
	// not matter: leases are durations).
	skewed := fmt.Sprintf("n%d", 1+rng.IntN(size))
	rate := 0.9 + 0.2*rng.Float64()
	tc := newTestCluster(t, size, func(cfg *Config) {
		if cfg.Node == skewed {
			start := time.Now()
			cfg.now = func() time.Time { return start.Add(time.Duration(float64(time.Since(start)) * rate)) }
		}
	})
	tc.primary("")
	mon := startMonitor(tc)
	var log []string
	var lsn uint64
	var stop sync.WaitGroup
	done := make(chan struct{})
	stop.Add(1)
	go func() { // the log advances; standbys follow
		defer stop.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond): // the pace of the log
			}
			lsn++
			for _, n := range tc.liveNodes() {
				if _, ok := n.c.CanWrite(); ok {
					n.flushed.Store(lsn)
					n.acked.Store(lsn)
				} else if rng2 := lsn % 7; rng2 != 0 {
					n.flushed.Store(lsn - 1 - rng2)
				}
			}
		}
	}()
	// The schedule: random faults for 1.2 s, a random pause after each.
	// Its sleeps are the scenario's timing; they wait for nothing, and
	// what the test asserts afterwards it waits for (tc.primary).
	deadline := time.Now().Add(1200 * time.Millisecond)
	var dead []*testNode
	for time.Now().Before(deadline) {
		st := State{}
		live := tc.liveNodes()
		if len(live) > 0 {
			st = live[0].c.State()
		}
		prim := tc.node(st.Primary)
		var leader *testNode
		for _, n := range live {
			if n.c.IsLeader() {
				leader = n.testNode
			}
		}
		pick := func() *testNode { return tc.nodes[rng.IntN(size)] }
		switch rng.IntN(8) {
		case 0: // kill the primary
			if prim != nil && prim.c != nil && len(dead) < (size-1)/2 {
				tc.kill(prim)
				dead = append(dead, prim)
				log = append(log, "kill primary "+prim.id)
			}
		case 1: // partition the primary both ways
			if prim != nil {
				tc.net.isolate(prim.id, tc.ids)
				log = append(log, "isolate primary "+prim.id)
			}
		case 2: // one way: the primary cannot send
			if prim != nil {
				for _, o := range tc.ids {
					if o != prim.id {
						tc.net.partition(prim.id, o, false)
					}
				}
				log = append(log, "primary "+prim.id+" cannot send")
			}
		case 3: // one way: nothing reaches the primary
			if prim != nil {
				for _, o := range tc.ids {
					if o != prim.id {
						tc.net.partition(o, prim.id, false)
					}
				}
				log = append(log, "nothing reaches primary "+prim.id)
			}
		case 4: // partition the Raft leader
			if leader != nil {
				tc.net.isolate(leader.id, tc.ids)
				log = append(log, "isolate leader "+leader.id)
			}
		case 5: // isolate a random node
			n := pick()
			tc.net.isolate(n.id, tc.ids)
			log = append(log, "isolate "+n.id)
		case 6: // the primary's disk fails for a while (300 ms)
			if prim != nil {
				prim.healthy.Store(false)
				log = append(log, "disk of "+prim.id+" fails")
				go func(n *testNode) { time.Sleep(300 * time.Millisecond); n.healthy.Store(true) }(prim)
			}
		case 7: // heal, restart the dead
			tc.net.heal()
			for _, n := range dead {
				tc.restart(n)
			}
			dead = nil
			log = append(log, "heal")
		}
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
	}
	tc.net.heal()
	for _, n := range dead {
		tc.restart(n)
	}
	p, st := tc.primary("")
	close(done)
	stop.Wait()
	if v := mon.finish(); len(v) > 0 {
		sort.Strings(v)
		t.Fatalf("safety violated (schedule: %s): %v", strings.Join(log, "; "), v[:min(len(v), 5)])
	}
	t.Logf("%d promotions; final primary %s in epoch %d; skewed %s ×%.2f; %s", len(st.Timeline), p.id, st.Epoch, skewed, rate, strings.Join(log, "; "))
}

// TestMonitorCatchesSplitBrain: the monitor is not blind. With a margin
// that lets the primary believe its lease outlasts the leader's count (a
// broken configuration), isolating the primary gives two writers, and
// the monitor says so.
func TestMonitorCatchesSplitBrain(t *testing.T) {
	broken := LAN
	broken.Margin = -2 * LAN.Lease
	tc := newTestCluster(t, 3, func(cfg *Config) { cfg.Profile = broken })
	p, _ := tc.primary("")
	mon := startMonitor(tc)
	tc.net.isolate(p.id, tc.ids)
	testkit.Eventually(t, func() bool {
		for _, n := range tc.liveNodes() {
			if _, ok := n.c.CanWrite(); ok && n.testNode != p {
				return true
			}
		}
		return false
	}, "a second writer")
	testkit.Eventually(t, mon.violated, "the monitor to see the split brain a lease that outlives the leader's count allows")
	mon.finish()
}
