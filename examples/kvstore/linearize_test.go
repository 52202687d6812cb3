package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestLinearizable records a Jepsen-style history of four clients
// writing and reading three keys while the primary is SIGKILLed three
// times, and checks it with checkHistory: writes and primary reads are
// linearizable per key, standby reads are never older than their
// min_lsn, and no value is read that no client wrote.
func TestLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	start := time.Now()
	c := newCluster(t, "")
	h := startLinClients(c, 4, []string{"x", "y", "z"})
	defer h.stop()
	var took []time.Duration
	for i := 1; i <= 3; i++ {
		var victim *member
		n := h.count(opWrite, acked)
		testkit.Eventually(t, func() bool {
			p, ok := c.healthy()
			victim = p
			return ok && h.count(opWrite, acked) >= n+300
		}, "300 more writes acknowledged by a healthy cluster before kill %d", i)
		d := c.failover(victim, h.ackedAfter, h.highestAcked)
		took = append(took, d)
		p, _ := c.healthy()
		t.Logf("kill %d: SIGKILLed primary %s; first write acknowledged by the new primary %s after %v; %s restarted, ready and caught up",
			i, victim.id, p.id, d.Round(time.Millisecond), victim.id)
	}
	n := h.count(opWrite, acked)
	testkit.Eventually(t, func() bool { return h.count(opWrite, acked) >= n+300 }, "300 more writes acknowledged after the last restart")
	ops := h.stop()
	t.Logf("fail-over times (kill to first acknowledged write): %v", took)
	t.Logf("history of %d operations: writes %d acked, %d unknown, %d refused; %d primary reads, %d other reads, %d standby reads",
		len(ops), h.count(opWrite, acked), h.count(opWrite, unknown), h.count(opWrite, refused),
		h.count(opPrimaryRead, 0), h.count(opRead, 0), h.count(opStandbyRead, 0))
	t.Logf("reads not answered (not in the history): %v", h.failed)

	for _, op := range ops {
		if op.kind == opWrite && op.outcome == unknown {
			t.Logf("unknown outcome: %s", op)
		}
	}
	checkStart := time.Now()
	v := checkHistory(ops, time.Minute)
	t.Logf("porcupine: %s in %v", v.result, time.Since(checkStart).Round(time.Millisecond))
	for _, p := range v.problems {
		t.Error(p)
	}
	switch v.result {
	case porcupine.Illegal:
		path := filepath.Join(t.ArtifactDir(), "history.html")
		if err := porcupine.VisualizePath(registerModel(), v.info, path); err != nil {
			t.Logf("visualize: %v", err)
		}
		t.Errorf("writes and primary reads are not linearizable; see %s (kept with go test -artifacts -outputdir DIR)", path)
	case porcupine.Unknown:
		t.Logf("porcupine could not decide within its time limit: the history is neither proven nor refuted")
	}
	t.Logf("took %v", time.Since(start).Round(time.Second))
}

// opKind is what a history operation did.
type opKind int

const (
	opWrite       opKind = iota // PUT of a unique value, through any node
	opPrimaryRead               // GET without min_lsn on a node that said it was primary of one epoch before and after
	opRead                      // a GET meant as a primary read whose node's role or epoch changed around it
	opStandbyRead               // GET with min_lsn = the client's last acknowledged LSN, on a node not last seen primary
)

func (k opKind) String() string {
	return [...]string{"write", "primary read", "read", "standby read"}[k]
}

// histOp is one operation of the history. Reads that got no answer
// from a node's state (errors, 503, 504) are not recorded.
type histOp struct {
	client    int
	kind      opKind
	key       string
	value     string  // the value written, or read (if found)
	found     bool    // reads: 200 (else 404)
	outcome   outcome // writes
	lsn       uint64  // acked writes: the acknowledged LSN
	minLSN    uint64  // standby reads
	node      string
	call, ret int64 // nanoseconds since the history began
	detail    string
}

// linClients are the clients of TestLinearizable, recording a history.
type linClients struct {
	c      *cluster
	keys   []string
	start  time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	ops    []histOp
	failed map[string]int // reads that got no answer from a node's state, by status or error
}

func startLinClients(c *cluster, n int, keys []string) *linClients {
	ctx, cancel := context.WithCancel(context.Background())
	h := &linClients{c: c, keys: keys, start: time.Now(), cancel: cancel, failed: map[string]int{}}
	for i := range n {
		h.wg.Go(func() { h.client(ctx, i) })
	}
	return h
}

func (h *linClients) now() int64 { return int64(time.Since(h.start)) }

func (h *linClients) record(op histOp) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// recordRead records a read that the node answered from its state, and
// counts one that it did not.
func (h *linClients) recordRead(op histOp, r readResult) {
	if r.ok {
		h.record(op)
		return
	}
	why, _, _ := strings.Cut(r.detail, ":") // "503 Service Unavailable: not ready: ..."
	if i := strings.LastIndex(r.detail, ": "); why == "" || why[0] < '0' || why[0] > '9' {
		why = r.detail[i+2:] // `Get "http://...": dial tcp ...: connect: connection refused`
	}
	h.mu.Lock()
	h.failed[fmt.Sprintf("%s on %s", why, op.kind)]++
	h.mu.Unlock()
}

// client runs random operations until ctx is done: 40% writes, 30%
// primary reads, 30% standby reads (writes until it has an
// acknowledged one). After a failed operation it backs off briefly, so
// that a fail-over is not a busy loop on a shared machine.
func (h *linClients) client(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(id)))
	var lastLSN uint64       // of this client's last acknowledged write
	var primary knownPrimary // the node last seen primary
	for seq := 0; ctx.Err() == nil; seq++ {
		key := h.keys[rng.IntN(len(h.keys))]
		members := slices.Clone(h.c.members)
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		var ok bool
		switch p := rng.IntN(10); {
		case p < 4 || p >= 7 && lastLSN == 0:
			op := histOp{client: id, kind: opWrite, key: key, value: fmt.Sprintf("c%d-%d", id, seq), node: members[0].id, call: h.now()}
			r := h.c.write(members[0].http, key, op.value)
			op.ret, op.outcome, op.lsn, op.detail = h.now(), r.outcome, r.lsn, r.detail
			h.record(op)
			if r.outcome == acked {
				lastLSN = r.lsn
			}
			ok = r.outcome == acked
		case p < 7:
			ok = h.primaryRead(id, key, members, &primary)
		default:
			m := members[0]
			if primary.m != nil && m.id == primary.m.id {
				m = members[1]
			}
			op := histOp{client: id, kind: opStandbyRead, key: key, minLSN: lastLSN, node: m.id, call: h.now()}
			r := h.c.read(m.http, key, lastLSN)
			op.ret, op.found, op.value, op.detail = h.now(), r.found, r.value, r.detail
			h.recordRead(op, r)
			ok = r.ok
		}
		if !ok {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// knownPrimary is a node a client saw primary of epoch.
type knownPrimary struct {
	m     *member
	epoch uint64
}

// primaryRead reads key on the node the client last saw primary (or,
// if none, on the first of members whose status says it is) and
// records the read as a primary read if the node still says it is
// primary of the same epoch after the read: a node is primary of an
// epoch only once, so it was primary throughout. Reusing the earlier
// status keeps the read close to the client's previous operation.
func (h *linClients) primaryRead(id int, key string, members []*member, known *knownPrimary) bool {
	if known.m == nil {
		for _, m := range members {
			if s, err := h.c.status(m); err == nil && s.Role == "primary" {
				*known = knownPrimary{m: m, epoch: s.Epoch}
				break
			}
		}
		if known.m == nil {
			return false
		}
	}
	m := known.m
	op := histOp{client: id, kind: opPrimaryRead, key: key, node: m.id, call: h.now()}
	r := h.c.read(m.http, key, 0)
	op.ret, op.found, op.value, op.detail = h.now(), r.found, r.value, r.detail
	after, err := h.c.status(m)
	if err != nil || after.Role != "primary" || after.Epoch != known.epoch {
		op.kind = opRead
		*known = knownPrimary{}
	}
	h.recordRead(op, r)
	return r.ok
}

// stop stops the clients (safe to call again) and returns the history.
func (h *linClients) stop() []histOp {
	h.cancel()
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// count counts the operations of kind (writes: with outcome o).
func (h *linClients) count(kind opKind, o outcome) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, op := range h.ops {
		if op.kind == kind && (kind != opWrite || op.outcome == o) {
			n++
		}
	}
	return n
}

// ackedAfter is the time of the first acknowledgement that arrived
// after t.
func (h *linClients) ackedAfter(t time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	since := int64(t.Sub(h.start))
	first := int64(-1)
	for _, op := range h.ops {
		if op.kind == opWrite && op.outcome == acked && op.ret > since && (first < 0 || op.ret < first) {
			first = op.ret
		}
	}
	return h.start.Add(time.Duration(first)), first >= 0
}

func (h *linClients) highestAcked() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var l uint64
	for _, op := range h.ops {
		if op.kind == opWrite && op.outcome == acked {
			l = max(l, op.lsn)
		}
	}
	return l
}

// verdict is checkHistory's finding.
type verdict struct {
	problems []string                    // violations found without porcupine
	result   porcupine.CheckResult       // writes and primary reads, per key
	info     porcupine.LinearizationInfo // for porcupine.VisualizePath with registerModel
}

// checkHistory checks a history:
//   - every value read was written by a write that was not refused, and
//     invoked before the read returned (no phantom values);
//   - acknowledged writes have distinct LSNs, increasing with real time
//     (one acknowledged before another was invoked has the lower LSN);
//   - a standby read with min_lsn M returns the value of a write whose
//     LSN (when known) is at least that of the newest acknowledged write
//     to the key with LSN <= M, and finds the key if there is one;
//   - a primary read sees the newest write to the key acknowledged
//     before it began, or a later one (named here; porcupine finds it too);
//   - writes and primary reads are linearizable as one register per key
//     (porcupine, for up to limit). A write of unknown outcome returns
//     at the end of the history: it may have taken effect at any point
//     after its call, or never.
func checkHistory(ops []histOp, limit time.Duration) verdict {
	var v verdict
	problem := func(format string, args ...any) { v.problems = append(v.problems, fmt.Sprintf(format, args...)) }
	type kv struct{ key, value string }
	writes := map[kv]histOp{}
	var ackedW []histOp
	var end int64
	clients := 0
	for _, op := range ops {
		end = max(end, op.ret+1)
		clients = max(clients, op.client+1)
		if op.kind == opWrite {
			writes[kv{op.key, op.value}] = op
			if op.outcome == acked {
				ackedW = append(ackedW, op)
			}
		}
	}

	for _, op := range ops {
		if op.kind == opWrite || !op.found {
			continue
		}
		w, ok := writes[kv{op.key, op.value}]
		switch {
		case !ok:
			problem("%s: phantom value: %s read %s=%q, which no client wrote", op, op.node, op.key, op.value)
		case w.outcome == refused:
			problem("%s: read the value of a refused write (%s)", op, w)
		case w.call > op.ret:
			problem("%s: read a value before its write was invoked (%s)", op, w)
		}
	}

	slices.SortFunc(ackedW, func(a, b histOp) int { return cmp.Compare(a.lsn, b.lsn) })
	for i := 1; i < len(ackedW); i++ {
		if ackedW[i].lsn == ackedW[i-1].lsn {
			problem("two writes acknowledged at LSN %d: %s and %s", ackedW[i].lsn, ackedW[i-1], ackedW[i])
		}
	}
	for _, a := range ackedW {
		for _, b := range ackedW {
			if a.ret < b.call && a.lsn >= b.lsn {
				problem("LSNs against real time: %s was acknowledged before %s was invoked, at an LSN not below it", a, b)
			}
		}
	}

	for _, op := range ops {
		if op.kind != opStandbyRead {
			continue
		}
		var floor *histOp // the newest acknowledged write to the key at or below min_lsn
		for i, w := range ackedW {
			if w.key == op.key && w.lsn <= op.minLSN && (floor == nil || w.lsn > floor.lsn) {
				floor = &ackedW[i]
			}
		}
		if floor == nil {
			continue
		}
		if !op.found {
			problem("%s: stale read: %s is absent, but %s is at or below min_lsn", op, op.key, floor)
			continue
		}
		if w, ok := writes[kv{op.key, op.value}]; ok && w.outcome == acked && w.lsn < floor.lsn {
			problem("%s: stale read: the value of %s, older than %s at or below min_lsn", op, w, floor)
		}
	}

	// What porcupine would find in its simplest form, named: a primary
	// read older than a write acknowledged before the read began.
	for _, op := range ops {
		if op.kind != opPrimaryRead {
			continue
		}
		var done *histOp // the highest-LSN write to the key acknowledged before the read
		for i, w := range ackedW {
			if w.key == op.key && w.ret < op.call && (done == nil || w.lsn > done.lsn) {
				done = &ackedW[i]
			}
		}
		if done == nil {
			continue
		}
		if !op.found {
			problem("%s: stale primary read: %s is absent, but %s was acknowledged before the read", op, op.key, done)
			continue
		}
		if w, ok := writes[kv{op.key, op.value}]; ok && w.outcome == acked && w.lsn < done.lsn {
			problem("%s: stale primary read: the value of %s, older than %s, acknowledged before the read", op, w, done)
		}
	}

	var lin []porcupine.Operation
	extra := 0
	for _, op := range ops {
		switch {
		case op.kind == opWrite && op.outcome == acked:
			lin = append(lin, porcupine.Operation{ClientId: op.client, Input: regInput{write: true, key: op.key, value: op.value}, Call: op.call, Return: op.ret, Metadata: op.String()})
		case op.kind == opWrite && op.outcome == unknown:
			// Its own row: it overlaps the client's later operations.
			lin = append(lin, porcupine.Operation{ClientId: clients + extra, Input: regInput{write: true, key: op.key, value: op.value}, Call: op.call, Return: end, Metadata: op.String()})
			extra++
		case op.kind == opPrimaryRead:
			lin = append(lin, porcupine.Operation{ClientId: op.client, Input: regInput{key: op.key}, Output: regOutput{found: op.found, value: op.value}, Call: op.call, Return: op.ret, Metadata: op.String()})
		}
	}
	v.result, v.info = porcupine.CheckOperationsVerbose(registerModel(), lin, limit)
	return v
}

func (op histOp) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client %d %s %s", op.client, op.kind, op.key)
	switch {
	case op.kind == opWrite:
		fmt.Fprintf(&b, "=%q via %s: %s", op.value, op.node, op.outcome)
		if op.outcome == acked {
			fmt.Fprintf(&b, " at LSN %d", op.lsn)
		} else if op.detail != "" {
			fmt.Fprintf(&b, " (%s)", op.detail)
		}
	case op.found:
		fmt.Fprintf(&b, " on %s -> %q", op.node, op.value)
	default:
		fmt.Fprintf(&b, " on %s -> absent", op.node)
	}
	if op.kind == opStandbyRead {
		fmt.Fprintf(&b, " (min_lsn %d)", op.minLSN)
	}
	fmt.Fprintf(&b, " [%.6fs, %.6fs]", float64(op.call)/1e9, float64(op.ret)/1e9)
	return b.String()
}

// regInput and regOutput are the model's operations: a write of value,
// or a read that found value or nothing.
type regInput struct {
	write      bool
	key, value string
}

type regOutput struct {
	found bool
	value string
}

// registerModel is one register per key, partitioned by key. A state
// is the key's value, "" while absent (written values are never empty).
func registerModel() porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range history {
				k := op.Input.(regInput).key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			var out [][]porcupine.Operation
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return "" },
		Step: func(state, input, output any) (bool, any) {
			in, s := input.(regInput), state.(string)
			if in.write {
				return true, in.value
			}
			out := output.(regOutput)
			return out.found == (s != "") && out.value == s, s
		},
		DescribeOperation: func(input, output any) string {
			in := input.(regInput)
			if in.write {
				return fmt.Sprintf("put %s=%q", in.key, in.value)
			}
			if out := output.(regOutput); out.found {
				return fmt.Sprintf("get %s -> %q", in.key, out.value)
			}
			return fmt.Sprintf("get %s -> absent", in.key)
		},
		DescribeState: func(state any) string {
			if state.(string) == "" {
				return "absent"
			}
			return fmt.Sprintf("%q", state)
		},
	}
}

// TestCheckHistory shows that checkHistory accepts sound histories and
// catches each kind of violation it looks for.
func TestCheckHistory(t *testing.T) {
	w := func(client int, key, value string, o outcome, lsn uint64, call, ret int64) histOp {
		return histOp{client: client, kind: opWrite, key: key, value: value, outcome: o, lsn: lsn, node: "n1", call: call, ret: ret}
	}
	pr := func(client int, key, value string, call, ret int64) histOp {
		return histOp{client: client, kind: opPrimaryRead, key: key, value: value, found: value != "", node: "n1", call: call, ret: ret}
	}
	sr := func(client int, key, value string, minLSN uint64, call, ret int64) histOp {
		return histOp{client: client, kind: opStandbyRead, key: key, value: value, found: value != "", minLSN: minLSN, node: "n2", call: call, ret: ret}
	}
	for _, tc := range []struct {
		name    string
		ops     []histOp
		problem string // a substring of a problem; "" for none
		illegal bool   // porcupine must find it not linearizable
	}{
		{name: "sound", ops: []histOp{
			pr(1, "x", "", 0, 5),
			w(0, "x", "a", acked, 1, 0, 10), w(0, "y", "b", acked, 2, 12, 20),
			pr(1, "x", "a", 20, 30), sr(0, "x", "a", 2, 21, 25), sr(0, "y", "b", 2, 26, 29),
			w(2, "x", "c", acked, 3, 31, 40), pr(1, "x", "c", 41, 50),
		}},
		{name: "stale primary read", problem: "stale primary read", illegal: true, ops: []histOp{
			w(0, "x", "a", acked, 1, 0, 10), w(0, "x", "b", acked, 2, 20, 30), pr(1, "x", "a", 40, 50),
		}},
		{name: "primary read misses an acknowledged write", problem: "stale primary read", illegal: true, ops: []histOp{
			w(0, "x", "a", acked, 1, 0, 10), pr(1, "x", "", 20, 30),
		}},
		{name: "unknown write took effect", ops: []histOp{
			w(0, "x", "a", acked, 1, 0, 10), w(0, "x", "b", unknown, 0, 20, 25), pr(1, "x", "b", 40, 50), pr(1, "x", "b", 60, 70),
		}},
		{name: "unknown write did not take effect", ops: []histOp{
			w(0, "x", "a", acked, 1, 0, 10), w(0, "x", "b", unknown, 0, 20, 25), pr(1, "x", "a", 40, 50), pr(1, "x", "a", 60, 70),
		}},
		{name: "unknown write took effect and vanished", illegal: true, ops: []histOp{
			w(0, "x", "a", acked, 1, 0, 10), w(0, "x", "b", unknown, 0, 20, 25), pr(1, "x", "b", 40, 50), pr(1, "x", "a", 60, 70),
		}},
		{name: "phantom value", problem: "phantom value", ops: []histOp{
			w(0, "x", "a", acked, 1, 0, 10), sr(1, "x", "zz", 0, 20, 30),
		}},
		{name: "refused write visible", problem: "refused write", ops: []histOp{
			w(0, "x", "a", refused, 0, 0, 10), sr(1, "x", "a", 0, 20, 30),
		}},
		{name: "read from the future", problem: "before its write was invoked", ops: []histOp{
			sr(1, "x", "a", 0, 0, 10), w(0, "x", "a", acked, 1, 20, 30),
		}},
		{name: "stale standby read", problem: "stale read", ops: []histOp{
			w(0, "x", "a", acked, 1, 0, 10), w(0, "x", "b", acked, 2, 20, 30), sr(0, "x", "a", 2, 40, 50),
		}},
		{name: "standby read misses a write below min_lsn", problem: "stale read", ops: []histOp{
			w(0, "x", "a", acked, 1, 0, 10), w(0, "y", "b", acked, 2, 20, 30), sr(0, "x", "", 2, 40, 50),
		}},
		{name: "standby read older than a write above min_lsn", ops: []histOp{
			w(0, "x", "a", acked, 1, 0, 10), w(1, "x", "b", acked, 5, 20, 30), sr(0, "x", "a", 3, 40, 50),
		}},
		{name: "two writes at one LSN", problem: "two writes acknowledged at LSN 3", ops: []histOp{
			w(0, "x", "a", acked, 3, 0, 10), w(1, "y", "b", acked, 3, 5, 15),
		}},
		{name: "LSN goes back in real time", problem: "LSNs against real time", ops: []histOp{
			w(0, "x", "a", acked, 5, 0, 10), w(1, "y", "b", acked, 4, 20, 30),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := checkHistory(tc.ops, 0)
			if tc.problem == "" && len(v.problems) > 0 {
				t.Errorf("problems in a sound history: %q", v.problems)
			}
			if tc.problem != "" && !slices.ContainsFunc(v.problems, func(p string) bool { return strings.Contains(p, tc.problem) }) {
				t.Errorf("problems %q, want one saying %q", v.problems, tc.problem)
			}
			want := porcupine.Ok
			if tc.illegal {
				want = porcupine.Illegal
			}
			if v.result != want {
				t.Errorf("porcupine: %s, want %s", v.result, want)
			}
			if v.result == porcupine.Illegal {
				// What TestLinearizable writes when it fails.
				if err := porcupine.VisualizePath(registerModel(), v.info, filepath.Join(t.TempDir(), "history.html")); err != nil {
					t.Errorf("visualize: %v", err)
				}
			}
		})
	}
}
