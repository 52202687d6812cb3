package replication

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/internal/wire"
	"github.com/continuity-go/continuity/peer"
	"github.com/continuity-go/continuity/wal"
)

// sumSM is a test state machine: the records' LSNs in order and a running
// checksum of their data.
type sumSM struct {
	mu   sync.Mutex
	lsns []wal.LSN
	sum  uint64
}

func (s *sumSM) Apply(r wal.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.lsns); n > 0 && r.LSN != s.lsns[n-1]+1 {
		return fmt.Errorf("applied LSN %d after %d", r.LSN, s.lsns[n-1])
	}
	s.lsns = append(s.lsns, r.LSN)
	for _, b := range r.Data {
		s.sum = s.sum*31 + uint64(b)
	}
	return nil
}

func (s *sumSM) Snapshot(w io.Writer) error { return nil }
func (s *sumSM) Restore(r io.Reader) error  { return nil }

func openLog(t *testing.T, fs vfs.FS) *wal.Log {
	l, err := wal.Open("log", wal.Options{FS: fs, SegmentBytes: 256 << 10})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// hangTimeout bounds a test's waits (its contexts) so that a hang fails
// the test instead of stalling the run. It is generous because CI runs on
// a busy 2-core machine; it is never a timing assertion.
const hangTimeout = time.Minute

// tlsOpts is node's transport in the cluster "orders" of a primary and
// two standbys, with a certificate ca issues. Its HandshakeTimeout is part
// of the fault scenarios: it is how long a standby whose handshake lost
// bytes to a fault waits before it dials again. No assertion depends on
// it, since a handshake that runs out of time is retried.
func tlsOpts(t *testing.T, ca *testkit.CA, node string) Options {
	return Options{TLS: ca.NodeTLS(t, "orders", node, []string{"primary", "standby-1", "standby-2"}, testkit.CertOptions{}), HandshakeTimeout: 5 * time.Second}
}

// plaintext is the transport of the tests that do not test TLS.
var plaintext = Options{InsecurePlaintext: true, Cluster: "orders"}

// newTestPrimary serves log on a loopback port as node "primary" over
// plaintext, with po's other options.
func newTestPrimary(t *testing.T, log *wal.Log, po PrimaryOptions) *Primary {
	t.Helper()
	po.Transport, po.Node = plaintext, "primary"
	p, err := NewPrimary(log, "127.0.0.1:0", po)
	require.NoError(t, err)
	return p
}

// requirePrefix checks that standby's log is a prefix of primary's.
func requirePrefix(t *testing.T, primary, standby *wal.Log) {
	t.Helper()
	n := standby.Last()
	require.LessOrEqual(t, n, primary.Last(), "standby is ahead of the primary")
	if n == 0 {
		return
	}
	ctx := context.Background()
	pr, sr := primary.NewReader(1), standby.NewReader(1)
	defer pr.Close()
	defer sr.Close()
	for lsn := wal.LSN(1); lsn <= n; lsn++ {
		a, err := pr.Next(ctx)
		require.NoError(t, err)
		b, err := sr.Next(ctx)
		require.NoError(t, err)
		const differs = "record %d differs between primary and standby"
		require.Equal(t, a.LSN, b.LSN, differs, lsn)
		require.Equal(t, a.Epoch, b.Epoch, differs, lsn)
		require.True(t, a.Time.Equal(b.Time), differs+": time %v, %v", lsn, a.Time, b.Time)
		require.True(t, bytes.Equal(a.Data, b.Data), differs+": data", lsn)
	}
}

func TestStreamTLS(t *testing.T) {
	ca := testkit.NewCA(t, "cluster CA")
	plog := openLog(t, vfs.NewMem())
	p, err := NewPrimary(plog, "127.0.0.1:0", PrimaryOptions{Transport: tlsOpts(t, ca, "primary"), Node: "primary"})
	require.NoError(t, err)
	defer p.Close()

	var standbys []*Standby
	var logs []*wal.Log
	for _, node := range []string{"standby-1", "standby-2"} {
		slog := openLog(t, vfs.NewMem())
		s, err := NewStandby(slog, &sumSM{}, StandbyOptions{Transport: tlsOpts(t, ca, node), Node: node, Primary: p.Addr().String()})
		require.NoError(t, err)
		defer s.Close()
		standbys = append(standbys, s)
		logs = append(logs, slog)
	}

	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				_, _, err := plog.Append(ctx, fmt.Appendf(nil, `{"writer":%d,"i":%d}`, w, i))
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	last := plog.Last()
	wctx, cancel := context.WithTimeout(ctx, hangTimeout)
	defer cancel()
	require.NoError(t, p.WaitFlushed(wctx, last, 2))
	for i, s := range standbys {
		require.NoError(t, s.WaitFor(wctx, last))
		requirePrefix(t, plog, logs[i])
		assert.Equal(t, last, logs[i].Last())
		st := s.State()
		assert.True(t, st.Connected)
		assert.Equal(t, peer.Identity{Cluster: "orders", Node: "primary"}, st.Primary)
	}
	sts := p.Standbys()
	require.Len(t, sts, 2)
	for _, st := range sts {
		assert.Equal(t, last, st.Flushed)
		assert.Equal(t, time.Duration(0), st.Lag)
	}
}

// TestSyncAckIsOnStandbyDisk: when Append(Mode{Sync: k}) returns, the
// records are durable on k standbys: a crash of each standby's machine at
// that moment (its file system keeping only synced data) still has them.
// At a random acknowledgement the primary is killed (closed at once) and
// the standbys' disks are read again.
func TestSyncAckIsOnStandbyDisk(t *testing.T) {
	for _, k := range []int{1, 2} {
		t.Run(fmt.Sprintf("sync-%d", k), func(t *testing.T) {
			plog := openLog(t, vfs.NewMem())
			p := newTestPrimary(t, plog, PrimaryOptions{})
			defer p.Close()
			var disks []*vfs.MemFS
			for i := range k {
				sfs := vfs.NewMem()
				disks = append(disks, sfs)
				s, err := NewStandby(openLog(t, sfs), &sumSM{}, StandbyOptions{Transport: plaintext, Node: fmt.Sprintf("standby-%d", i), Primary: p.Addr().String()})
				require.NoError(t, err)
				defer s.Close()
			}
			durable := func(fs *vfs.MemFS) wal.LSN {
				l, err := wal.Open("log", wal.Options{FS: fs.CrashClone()})
				require.NoError(t, err)
				defer l.Close()
				return l.Last()
			}
			ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
			defer cancel()
			kill := rand.IntN(40)
			for i := range 40 {
				_, lsn, err := p.Append(ctx, Mode{Sync: k}, fmt.Appendf(nil, "event %d", i))
				require.NoError(t, err)
				if i == kill {
					require.NoError(t, p.Close()) // the primary dies right after the ack
				}
				for j, d := range disks {
					require.GreaterOrEqual(t, durable(d), lsn, "acknowledged LSN %d is not durable on standby %d", lsn, j)
				}
				if i == kill {
					return
				}
			}
		})
	}
}

// TestStreamUnderFaults drives a primary and a standby through a seeded
// random schedule of faults between them (delays, blackholes, damaged
// streams, cuts, refused connections) while events are appended. At every
// step the standby's log is a prefix of the primary's; when the faults
// stop, it catches up.
func TestStreamUnderFaults(t *testing.T) {
	for seed := range uint64(faultSeeds) {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) { streamUnderFaults(t, seed) })
	}
}

func streamUnderFaults(t *testing.T, seed uint64) {
	ca := testkit.NewCA(t, "cluster CA")
	rng := rand.New(rand.NewPCG(seed, 7))
	plog := openLog(t, vfs.NewMem())
	p, err := NewPrimary(plog, "127.0.0.1:0", PrimaryOptions{Transport: tlsOpts(t, ca, "primary"), Node: "primary", MaxBatchBytes: 4 << 10, Heartbeat: 20 * time.Millisecond, Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer p.Close()
	proxy := testkit.NewProxy(t, p.Addr().String())
	slog := openLog(t, vfs.NewMem())
	sm := &sumSM{}
	s, err := NewStandby(slog, sm, StandbyOptions{Transport: tlsOpts(t, ca, "standby-1"), Node: "standby-1",
		Primary: proxy.Addr(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()

	ctx := context.Background()
	faults := []func(){
		func() { proxy.SetFault(testkit.Fault{}) },
		func() { proxy.SetFault(testkit.Fault{Delay: time.Duration(rng.IntN(3)) * time.Millisecond}) },
		func() { proxy.SetFault(testkit.Fault{Blackhole: true}) },
		func() { proxy.SetFault(testkit.Fault{DropEvery: 1 + rng.IntN(5)}) },
		func() { proxy.SetFault(testkit.Fault{Refuse: true}); proxy.Cut() },
		proxy.Cut,
	}
	for step := range 40 {
		faults[rng.IntN(len(faults))]()
		for i := range rng.IntN(30) {
			_, _, err := plog.Append(ctx, fmt.Appendf(nil, "step %d event %d %s", step, i, bytes.Repeat([]byte{'x'}, rng.IntN(2000))))
			require.NoError(t, err)
		}
		// Let the fault act for a while. Not a synchronization: the prefix
		// check below holds at any moment, so the sleep's length decides
		// nothing.
		time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
		requirePrefix(t, plog, slog)
	}
	proxy.SetFault(testkit.Fault{})
	wctx, cancel := context.WithTimeout(ctx, hangTimeout)
	defer cancel()
	require.NoError(t, s.WaitFor(wctx, plog.Last()), "standby converges once the faults stop")
	requirePrefix(t, plog, slog)
	require.Equal(t, plog.Last(), slog.Last())
	sm.mu.Lock()
	assert.Len(t, sm.lsns, int(plog.Last()), "every record applied exactly once, in order")
	sm.mu.Unlock()
}

func TestPrimaryRefusesStandbyItCannotServe(t *testing.T) {
	plog := openLog(t, vfs.NewMem())
	p := newTestPrimary(t, plog, PrimaryOptions{})
	defer p.Close()
	ctx := context.Background()
	_, _, err := wire.Dial(ctx, p.Addr().String(), plaintext.wire(), wire.Hello{Node: "s", LastLSN: 10})
	var re *wire.RejectError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, wire.RejectDiverged, re.Code, "a standby past the primary's end must cut its log first")
	require.NoError(t, plog.SetEpoch(2))
	_, _, err = wire.Dial(ctx, p.Addr().String(), plaintext.wire(), wire.Hello{Node: "s", Epoch: 5})
	require.ErrorAs(t, err, &re)
	assert.Equal(t, wire.RejectEpoch, re.Code, "a standby that has seen a newer epoch deposes the primary")
}

func TestAppendModes(t *testing.T) {
	plog := openLog(t, vfs.NewMem())
	p := newTestPrimary(t, plog, PrimaryOptions{Heartbeat: 20 * time.Millisecond})
	defer p.Close()
	ctx := context.Background()

	// No standby: async returns, sync+block waits until ctx ends, sync+degrade returns degraded.
	_, _, err := p.Append(ctx, Mode{}, []byte("a"))
	require.NoError(t, err)
	// With no standby the sync append can only end with its ctx; how soon
	// it ends is part of the scenario, not of any assertion.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, _, err = p.Append(short, Mode{Sync: 1}, []byte("b"))
	cancel()
	require.ErrorIs(t, err, ErrTooFewStandbys)
	assert.Zero(t, p.DegradedAppends(), "a blocked append is not a degraded one")
	_, _, err = p.Append(ctx, Mode{Sync: 1, Policy: PolicyDegrade}, []byte("c"))
	require.NoError(t, err)
	_, _, err = p.Append(ctx, Mode{Sync: 1, Policy: PolicyDegrade}, []byte("c2"))
	require.NoError(t, err)
	assert.True(t, p.Degraded())
	assert.Equal(t, uint64(2), p.DegradedAppends())

	// A standby joins: sync appends wait for it and stop being degraded.
	slog := openLog(t, vfs.NewMem())
	s, err := NewStandby(slog, &sumSM{}, StandbyOptions{Transport: plaintext, Node: "standby-1", Primary: p.Addr().String()})
	require.NoError(t, err)
	defer s.Close()
	wctx, wcancel := context.WithTimeout(ctx, hangTimeout)
	defer wcancel()
	require.NoError(t, s.WaitFor(wctx, plog.Last()))
	for i := range 20 {
		_, last, err := p.Append(wctx, Mode{Sync: 1, Policy: PolicyDegrade}, fmt.Appendf(nil, "sync %d", i))
		require.NoError(t, err)
		require.GreaterOrEqual(t, slog.Last(), last, "a sync append returns only once the standby has it")
	}
	assert.False(t, p.Degraded())
	assert.Equal(t, uint64(2), p.DegradedAppends(), "appends with their standby do not count")
	assert.Equal(t, plog.Last()+1, p.Needed())

	// The standby leaves: Needed keeps what it still needs.
	require.NoError(t, s.Close())
	held := slog.Last()
	_, _, err = p.Append(ctx, Mode{}, []byte("after"))
	require.NoError(t, err)
	assert.Equal(t, held+1, p.Needed())
	p.Forget("standby-1")
	assert.Equal(t, plog.Last()+1, p.Needed())

	// A peer showing a newer epoch deposes the primary: Append refuses.
	_, _, err = wire.Dial(ctx, p.Addr().String(), plaintext.wire(), wire.Hello{Node: "standby-2", Epoch: plog.Epoch() + 1})
	require.Error(t, err)
	_, _, err = p.Append(ctx, Mode{}, []byte("late"))
	require.ErrorIs(t, err, ErrDeposed)
}

// TestSlowStandbyDoesNotStallAsync: with the standby's connection black-
// holed, asynchronous appends go on at full speed (the WAL is the buffer);
// when the connection heals, the standby catches up.
func TestSlowStandbyDoesNotStallAsync(t *testing.T) {
	plog := openLog(t, vfs.NewMem())
	p := newTestPrimary(t, plog, PrimaryOptions{MaxBatchBytes: 1 << 10})
	defer p.Close()
	proxy := testkit.NewProxy(t, p.Addr().String())
	slog := openLog(t, vfs.NewMem())
	s, err := NewStandby(slog, &sumSM{}, StandbyOptions{Transport: plaintext, Node: "standby-1", Primary: proxy.Addr()})
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	_, lsn, err := p.Append(ctx, Mode{}, []byte("first"))
	require.NoError(t, err)
	require.NoError(t, s.WaitFor(ctx, lsn))

	proxy.SetFault(testkit.Fault{Blackhole: true})
	payload := bytes.Repeat([]byte("e"), 4096)
	for range 2000 { // 8 MB: far more than socket buffers hold
		_, _, err := p.Append(ctx, Mode{}, payload)
		require.NoError(t, err)
	}
	assert.Less(t, slog.Last(), plog.Last(), "the standby is behind while black-holed")
	proxy.SetFault(testkit.Fault{})
	require.NoError(t, s.WaitFor(ctx, plog.Last()))
	requirePrefix(t, plog, slog)
}

// TestLyingStandbyCannotDepose: with EpochReached (a cluster's view of
// its epochs), a standby claiming an epoch the cluster has not reached is
// refused and the primary goes on; a claim the cluster confirms deposes
// it.
func TestLyingStandbyCannotDepose(t *testing.T) {
	plog := openLog(t, vfs.NewMem())
	var reached atomic.Uint64
	reached.Store(1)
	p := newTestPrimary(t, plog, PrimaryOptions{EpochReached: func(e uint64) bool { return e <= reached.Load() }})
	defer p.Close()
	ctx := context.Background()
	require.NoError(t, plog.SetEpoch(1))
	_, _, err := wire.Dial(ctx, p.Addr().String(), plaintext.wire(), wire.Hello{Node: "liar", Epoch: 7})
	var re *wire.RejectError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, wire.RejectEpoch, re.Code)
	_, _, err = p.Append(ctx, Mode{}, []byte("still primary"))
	require.NoError(t, err, "a standby's unconfirmed claim deposed the primary")
	reached.Store(2)
	_, _, err = wire.Dial(ctx, p.Addr().String(), plaintext.wire(), wire.Hello{Node: "honest", Epoch: 2})
	require.Error(t, err)
	_, _, err = p.Append(ctx, Mode{}, []byte("late"))
	require.ErrorIs(t, err, ErrDeposed, "a claim the cluster confirms deposes the primary")
}
