package tenant

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/wal"
)

// nonceDir is each node's log directory on its own MemFS.
const nonceDir = "/wal"

// sealRule is how a primary takes a generation for its Sealer.
type sealRule int

const (
	// ruleDurable is the package doc's rule: append a KindGeneration
	// record, make it durable (Sync), Start with its epoch and LSN.
	ruleDurable sealRule = iota
	// ruleLastLSN is broken: Start with the log's epoch and Last(),
	// without a generation record.
	ruleLastLSN
	// ruleNoSync is broken: append a generation record but Start
	// before it is durable.
	ruleNoSync
	// ruleStaleEpoch follows the rule, but the host is broken: a
	// restarted primary does not set its log's epoch back to its term,
	// so it appends in the epoch of its log's last record (the log
	// keeps the epoch only in records).
	ruleStaleEpoch
)

// nonceNode is one node: its disk, its log, and the Sealer of its
// current process.
type nonceNode struct {
	fs     *vfs.MemFS
	log    *wal.Log
	sealer *Sealer
}

// nonceModel is a cluster of nodes, each with a wal.Log on its own MemFS,
// one primary at a time, sealing events under two tenants' keys.
type nonceModel struct {
	ctx      context.Context
	rule     sealRule
	opts     wal.Options
	nodes    []*nonceNode
	primary  int
	epoch    uint64 // the primary's term
	keys     [2]*Key
	produced [][]byte // every envelope ever sealed, in order
	clock    atomic.Int64
}

func newNonceModel(t require.TestingT, ctx context.Context, rule sealRule, nodes int, d wal.Durability, segmentBytes int64) *nonceModel {
	m := &nonceModel{ctx: ctx, rule: rule, epoch: 1}
	m.clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	m.opts = wal.Options{
		SegmentBytes:         segmentBytes,
		Durability:           d,
		DisablePreallocation: true,
		// One clock for every node, so that a standby's copies and its
		// own appends after a promotion keep time in order.
		Now: func() time.Time { return time.Unix(0, m.clock.Add(int64(time.Millisecond))) },
	}
	for i := range m.keys {
		m.keys[i] = NewKey(testTag(fmt.Sprintf("tenant-%d", i)))
	}
	for range nodes {
		n := &nonceNode{fs: vfs.NewMem(), sealer: &Sealer{}}
		m.open(t, n)
		m.nodes = append(m.nodes, n)
	}
	require.NoError(t, m.nodes[0].log.SetEpoch(m.epoch))
	return m
}

func (m *nonceModel) open(t require.TestingT, n *nonceNode) {
	opts := m.opts
	opts.FS = n.fs
	var err error
	n.log, err = wal.Open(nonceDir, opts)
	require.NoError(t, err)
}

func (m *nonceModel) close() {
	for _, n := range m.nodes {
		n.log.Close()
	}
}

// takeGeneration gives the primary's Sealer a generation, as the rule
// says.
func (m *nonceModel) takeGeneration(t require.TestingT, p *nonceNode) {
	l := p.log
	if m.rule == ruleLastLSN {
		p.sealer.Start(Generation{Epoch: l.Epoch(), LSN: uint64(l.Last())})
		return
	}
	_, lsn, err := l.AppendKind(m.ctx, KindGeneration, GenerationRecord())
	require.NoError(t, err)
	if m.rule != ruleNoSync {
		require.NoError(t, l.Sync())
	}
	// The generation is the record's own epoch and LSN.
	r := l.NewReader(lsn)
	rec, err := r.Next(m.ctx)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.Equal(t, KindGeneration, rec.Kind)
	p.sealer.Start(Generation{Epoch: rec.Epoch, LSN: uint64(rec.LSN)})
}

// seal seals an event of tenant key on the primary and appends it.
func (m *nonceModel) seal(t require.TestingT, key int) {
	p := m.nodes[m.primary]
	epoch := p.log.Epoch()
	if m.rule != ruleStaleEpoch {
		require.Equal(t, m.epoch, epoch, "the primary's log is not in its term")
	}
	g, c, ok := p.sealer.Next(epoch)
	if !ok {
		m.takeGeneration(t, p)
		g, c, ok = p.sealer.Next(epoch)
		require.True(t, ok, "the sealer refuses its new generation")
	}
	env, err := Seal(nil, m.keys[key], g, c, fmt.Appendf(nil, "event %d of tenant %d", len(m.produced), key))
	require.NoError(t, err)
	m.produced = append(m.produced, env)
	_, _, err = p.log.AppendKind(m.ctx, KindSealed, env)
	require.NoError(t, err)
}

// readAll returns every record of l, from LSN 1.
func (m *nonceModel) readAll(t require.TestingT, l *wal.Log) []wal.Record {
	require.Equal(t, wal.LSN(1), l.First(), "the model never truncates the front")
	r := l.NewReader(1)
	defer r.Close()
	var out []wal.Record
	for lsn := wal.LSN(1); lsn <= l.Last(); lsn++ {
		rec, err := r.Next(m.ctx)
		require.NoError(t, err, "read LSN %d", lsn)
		require.Equal(t, lsn, rec.LSN)
		out = append(out, rec)
	}
	return out
}

func sameRecord(a, b wal.Record) bool {
	return a.LSN == b.LSN && a.Epoch == b.Epoch && a.Kind == b.Kind && a.Time.Equal(b.Time) && bytes.Equal(a.Data, b.Data)
}

// replicate brings node i toward the primary's history: it cuts what
// diverges from it (a deposed primary rejoining, a standby holding
// records the primary lost) and copies at most max of the records it
// lacks.
func (m *nonceModel) replicate(t require.TestingT, i, max int, nosync bool) {
	m.copyHistory(t, m.nodes[m.primary], m.nodes[i], max, nosync)
}

func (m *nonceModel) copyHistory(t require.TestingT, src, dst *nonceNode, max int, nosync bool) {
	from, to := m.readAll(t, src.log), m.readAll(t, dst.log)
	common := 0
	for common < len(from) && common < len(to) && sameRecord(from[common], to[common]) {
		common++
	}
	recs := from[common:]
	recs = recs[:min(len(recs), max)]
	switch {
	case common == 0 && len(recs) > 0 && (len(to) > 0 || dst.log.Epoch() > recs[0].Epoch):
		// Nothing in common: the node starts its log again, on a fresh
		// disk. The wal would refuse the history (wal.ErrStaleEpoch):
		// a log cut to LSN 0, or left empty by a crash, keeps its
		// segment's epoch as the floor of what it writes.
		require.NoError(t, dst.log.Close())
		dst.fs = vfs.NewMem()
		m.open(t, dst)
	case common < len(to):
		_, err := dst.log.CutTail(m.ctx, wal.LSN(common), nil)
		require.NoError(t, err)
	}
	if len(recs) == 0 {
		return
	}
	var err error
	if nosync {
		err = dst.log.WriteNoSync(m.ctx, recs...)
	} else {
		err = dst.log.Write(m.ctx, recs...)
	}
	require.NoError(t, err)
}

// crash is a power loss of node i, which keeps what its disk made durable
// (and, torn, some of what it did not): its log is reopened from that,
// and its process starts with a new Sealer.
func (m *nonceModel) crash(t require.TestingT, i int, keep func(name string, off int64, n int) bool) {
	n := m.nodes[i]
	var clone *vfs.MemFS
	if keep == nil {
		clone = n.fs.CrashClone()
	} else {
		clone = n.fs.CrashCloneTorn(keep)
	}
	n.log.Close() // on the old disk, which is gone
	n.fs, n.sealer = clone, &Sealer{}
	m.open(t, n)
	if i == m.primary && m.rule != ruleStaleEpoch {
		// A restarted primary learns its term again (from the cluster,
		// not from its log, whose last record may be older).
		require.NoError(t, n.log.SetEpoch(m.epoch))
	}
}

// failover makes node i the primary of a new epoch, after it copies at
// most catchUp records of the old primary's history.
func (m *nonceModel) failover(t require.TestingT, i, catchUp int) {
	require.NotEqual(t, m.primary, i)
	if catchUp > 0 {
		m.copyHistory(t, m.nodes[m.primary], m.nodes[i], catchUp, false)
	}
	m.epoch++
	require.NoError(t, m.nodes[i].log.SetEpoch(m.epoch))
	m.primary = i
}

// nonceID is what an envelope's nonce is made of, with its key.
type nonceID struct {
	tag     Tag
	key     KeyID
	gen     Generation
	counter uint64
}

// checkNonces returns the violations of the nonce rule over every
// envelope in the logs and every envelope produced: two different
// envelopes under one (key, generation, counter) ("nonce reuse"), an
// envelope in a log without its generation record before it ("no
// generation record"), and an envelope in a log that was never produced.
func checkNonces(logs [][]wal.Record, produced [][]byte) []string {
	var problems []string
	seen := map[nonceID][]byte{}
	note := func(where string, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, err))
			return
		}
		id := nonceID{e.Tag, e.Key, e.Gen, e.Counter}
		if prev, ok := seen[id]; ok && !bytes.Equal(prev, b) {
			problems = append(problems, fmt.Sprintf("nonce reuse: %s seals another event under key %s, generation %d/%d, counter %d", where, e.Key, e.Gen.Epoch, e.Gen.LSN, e.Counter))
			return
		}
		seen[id] = b
	}
	made := map[string]bool{}
	for i, b := range produced {
		note(fmt.Sprintf("produced envelope %d", i), b)
		made[string(b)] = true
	}
	for n, recs := range logs {
		for i, r := range recs {
			if r.Kind != KindSealed {
				continue
			}
			where := fmt.Sprintf("node %d LSN %d", n, r.LSN)
			if !made[string(r.Data)] {
				problems = append(problems, where+": an envelope never produced")
			}
			note(where, r.Data)
			e, err := ParseEnvelope(r.Data)
			if err != nil {
				continue
			}
			g := e.Gen
			if g.LSN == 0 || g.LSN >= uint64(r.LSN) || recs[g.LSN-1].Kind != KindGeneration || recs[g.LSN-1].Epoch != g.Epoch {
				problems = append(problems, fmt.Sprintf("no generation record: %s is sealed in generation %d/%d, which is not a generation record before it (log of %d records, record %d)", where, g.Epoch, g.LSN, len(recs), i))
			}
		}
	}
	return problems
}

func (m *nonceModel) problems(t require.TestingT) []string {
	var logs [][]wal.Record
	for _, n := range m.nodes {
		logs = append(logs, m.readAll(t, n.log))
	}
	return checkNonces(logs, m.produced)
}

// TestNonceUniqueness checks the rule of the package doc ("Why nonces
// never repeat") with the real wal under crashes (torn or not),
// replication, fail-overs and rejoins: no two different envelopes, in any
// node's log or ever produced, share a key, a generation and a counter,
// and every envelope in a log follows its generation record there.
func TestNonceUniqueness(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newNonceModel(t, t.Context(), ruleDurable,
			rapid.IntRange(2, 3).Draw(t, "nodes"),
			rapid.SampledFrom([]wal.Durability{wal.SyncBatch, wal.NoSync}).Draw(t, "durability"),
			rapid.SampledFrom([]int64{4 << 10, 64 << 10}).Draw(t, "segmentBytes"))
		t.Cleanup(m.close)
		other := func(t *rapid.T, label string) int {
			i := rapid.IntRange(0, len(m.nodes)-2).Draw(t, label)
			if i >= m.primary {
				i++
			}
			return i
		}
		t.Repeat(map[string]func(*rapid.T){
			"Seal": func(t *rapid.T) {
				for range rapid.IntRange(1, 4).Draw(t, "events") {
					m.seal(t, rapid.IntRange(0, 1).Draw(t, "tenant"))
				}
			},
			"Replicate": func(t *rapid.T) {
				m.replicate(t, other(t, "standby"), rapid.IntRange(1, 20).Draw(t, "records"), rapid.Bool().Draw(t, "noSync"))
			},
			"Sync": func(t *rapid.T) {
				require.NoError(t, m.nodes[rapid.IntRange(0, len(m.nodes)-1).Draw(t, "node")].log.Sync())
			},
			"Crash": func(t *rapid.T) {
				i := rapid.IntRange(0, len(m.nodes)-1).Draw(t, "node")
				var keep func(string, int64, int) bool
				if rapid.Bool().Draw(t, "torn") {
					// Drawn in the order CrashCloneTorn asks, which is
					// deterministic.
					keep = func(string, int64, int) bool { return rapid.Bool().Draw(t, "keepWrite") }
				}
				m.crash(t, i, keep)
			},
			"Failover": func(t *rapid.T) {
				m.failover(t, other(t, "newPrimary"), rapid.IntRange(0, 20).Draw(t, "catchUp"))
			},
			"": func(t *rapid.T) {
				if p := m.problems(t); len(p) > 0 {
					t.Fatalf("%d violations:\n%s", len(p), strings.Join(p, "\n"))
				}
			},
		})
	})
}

// TestNonceCheckerCatchesReuse shows that TestNonceUniqueness can fail:
// scripted histories that break the rule one way each are reported by
// the same model and checker as a nonce reuse, and the same histories
// under the rule are clean.
func TestNonceCheckerCatchesReuse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		broken sealRule
		d      wal.Durability
		nodes  int
		script func(t *testing.T, m *nonceModel)
	}{
		{
			// The Last() of a log whose unsynced tail a crash lost is
			// the Last() it had before: the second life takes the
			// first life's generation.
			name: "generation from Last()", broken: ruleLastLSN, d: wal.NoSync, nodes: 1,
			script: func(t *testing.T, m *nonceModel) {
				m.seal(t, 0)
				m.seal(t, 0)
				m.crash(t, 0, nil)
				m.seal(t, 0)
			},
		},
		{
			// A generation record that was not durable is lost with the
			// seals under it, and the next life appends its own at the
			// same LSN.
			name: "no Sync before Start", broken: ruleNoSync, d: wal.NoSync, nodes: 1,
			script: func(t *testing.T, m *nonceModel) {
				m.seal(t, 1)
				m.crash(t, 0, nil)
				m.seal(t, 1)
			},
		},
		{
			// Node 0 takes generation 1/3 that node 1 never sees; node 1,
			// promoted to epoch 2 and restarted before it appends,
			// appends in epoch 1 again and takes 1/3 too.
			name: "restarted primary in a stale epoch", broken: ruleStaleEpoch, d: wal.SyncBatch, nodes: 2,
			script: func(t *testing.T, m *nonceModel) {
				m.seal(t, 0)                  // generation 1/1, event at 2
				m.replicate(t, 1, 100, false) // node 1 holds 1-2
				m.crash(t, 0, nil)
				m.seal(t, 0) // node 0: generation 1/3, event at 4
				m.failover(t, 1, 0)
				m.crash(t, 1, nil)
				m.seal(t, 0) // node 1: generation 1/3 again
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rule := range []sealRule{tc.broken, ruleDurable} {
				m := newNonceModel(t, t.Context(), rule, tc.nodes, tc.d, 4<<10)
				tc.script(t, m)
				problems := m.problems(t)
				m.close()
				reuse := false
				for _, p := range problems {
					reuse = reuse || strings.HasPrefix(p, "nonce reuse:")
				}
				if rule == ruleDurable {
					assert.Empty(t, problems, "the same history under the rule")
				} else {
					assert.True(t, reuse, "the broken rule's reuse is not reported; problems: %q", problems)
				}
			}
		})
	}

	t.Run("checker", func(t *testing.T) {
		k := NewKey(testTag("acme"))
		g := Generation{Epoch: 1, LSN: 1}
		a := seal(t, k, g, 0, "a")
		b := seal(t, k, g, 0, "b")
		gen := wal.Record{LSN: 1, Epoch: 1, Kind: KindGeneration, Data: GenerationRecord()}
		assert.Empty(t, checkNonces([][]wal.Record{{gen, {LSN: 2, Epoch: 1, Kind: KindSealed, Data: a}}}, [][]byte{a, a}), "one envelope twice")
		assert.NotEmpty(t, checkNonces(nil, [][]byte{a, b}), "two envelopes produced")
		assert.NotEmpty(t, checkNonces([][]wal.Record{{gen, {LSN: 2, Epoch: 1, Kind: KindSealed, Data: b}}}, [][]byte{a}), "one produced, another in a log")
		assert.NotEmpty(t, checkNonces([][]wal.Record{{{LSN: 1, Epoch: 1, Kind: KindSealed, Data: a}}}, [][]byte{a}), "no generation record")
		assert.NotEmpty(t, checkNonces([][]wal.Record{{{LSN: 1, Epoch: 2, Kind: KindGeneration}, {LSN: 2, Epoch: 1, Kind: KindSealed, Data: a}}}, [][]byte{a}), "a generation record of another epoch")
		assert.NotEmpty(t, checkNonces([][]wal.Record{{gen, {LSN: 2, Epoch: 1, Kind: KindSealed, Data: a}}}, nil), "an envelope never produced")
	})
}
