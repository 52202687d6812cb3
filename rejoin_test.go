package continuity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// watchKV is a kv that remembers every event it ever applied, so that a
// test can tell an event that was applied and later replaced.
type watchKV struct {
	kv
	seenMu sync.Mutex
	seen   map[string]bool
	hold   atomic.Pointer[chan struct{}] // if set, Snapshot waits until it is closed
}

// Snapshot writes the state, once a hold (see holdSnapshots) is released.
func (s *watchKV) Snapshot(w io.Writer) error {
	if h := s.hold.Load(); h != nil {
		<-*h
	}
	return s.kv.Snapshot(w)
}

// holdSnapshots makes Snapshot wait (a state transfer from this node
// stalls) until the returned function is called.
func (s *watchKV) holdSnapshots() (release func()) {
	ch := make(chan struct{})
	s.hold.Store(&ch)
	var once sync.Once
	return func() { once.Do(func() { s.hold.Store(nil); close(ch) }) }
}

func (s *watchKV) Apply(rec Record) error {
	s.seenMu.Lock()
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[string(rec.Data)] = true
	s.seenMu.Unlock()
	return s.kv.Apply(rec)
}

func (s *watchKV) saw(event string) bool {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	return s.seen[event]
}

// clusterNode is one node of a test cluster that can be closed and
// opened again on the same directory and addresses.
type clusterNode struct {
	id, dir, raft, repl string
	sm                  *watchKV
	n                   *Node
}

func (c *clusterNode) open(t *testing.T, archiveURL string, key [32]byte, bootstrap bool) {
	t.Helper()
	c.sm = &watchKV{}
	n, err := Open(t.Context(), Config{Dir: c.dir, Archive: archiveURL, Keys: snapshot.RawKey(key), Logger: quiet, SnapshotEvery: -1, SnapshotEveryBytes: -1,
		WAL:     wal.Options{SegmentBytes: 4 << 10},
		Cluster: &ClusterConfig{Node: c.id, RaftBind: c.raft, ReplBind: c.repl, Bootstrap: bootstrap, Sync: 1, InsecurePlaintext: true}}, c.sm)
	require.NoError(t, err, "open %s", c.id)
	c.n = n
}

func (c *clusterNode) close() {
	if c.n != nil {
		c.n.Close()
		c.n = nil
	}
}

// TestRestartedDeposedPrimary: the primary holds a record no standby
// acknowledged when it stops; the others go on without it and write
// other records at its LSN. The old primary restarts (with its original
// Bootstrap flag, which is ignored) after the front of its WAL was
// truncated, in a cluster whose archive holds no base snapshot: no node's
// state ever contains the unacknowledged record, the node is not ready
// until it has rebuilt its state by a state transfer from the new
// primary, and it then holds exactly the new history.
func TestRestartedDeposedPrimary(t *testing.T) {
	ctx := context.Background()
	archiveURL := "file://" + filepath.ToSlash(t.TempDir())
	var key [32]byte
	key[0] = 9
	var ns []*clusterNode
	for i := 1; i <= 3; i++ {
		ns = append(ns, &clusterNode{id: fmt.Sprintf("n%d", i), dir: t.TempDir(), raft: freeAddr(t), repl: freeAddr(t)})
	}
	defer func() {
		for _, c := range ns {
			c.close()
		}
	}()
	for i, c := range ns {
		c.open(t, archiveURL, key, i == 0)
	}
	for _, c := range ns[1:] {
		require.NoError(t, ns[0].n.Join(ctx, c.id, c.raft, c.repl, true))
	}
	primary := func(among []*clusterNode) *clusterNode {
		t.Helper()
		var p *clusterNode
		testkit.Eventually(t, func() bool {
			for _, c := range among {
				if c.n != nil {
					if _, ok := c.n.Coordinator().CanWrite(); ok {
						p = c
						return true
					}
				}
			}
			return false
		}, "a primary among %d nodes", len(among))
		return p
	}
	write := func(p *clusterNode, event string) (LSN, error) {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, last, err := p.n.Append(wctx, []byte(event))
		return last, err
	}
	p := primary(ns)
	var acked LSN
	pad := strings.Repeat("x", 400) // fills the 4 KiB segments quickly
	for i := 0; i < 40; i++ {
		var err error
		acked, err = write(p, fmt.Sprintf("k%d=v%d%s", i%4, i, pad))
		require.NoError(t, err)
	}
	var others []*clusterNode
	for _, c := range ns {
		if c != p {
			others = append(others, c)
		}
	}
	for _, c := range others {
		require.NoError(t, c.n.WaitFor(ctx, acked))
		c.close()
	}

	// No standby: the write is in the primary's WAL, never acknowledged.
	const phantom = "k0=never-acknowledged"
	_, err := write(p, phantom)
	require.Error(t, err, "a write without its standby is not acknowledged")
	require.Greater(t, p.n.Log().Last(), acked, "the unacknowledged write is in the primary's WAL")
	p.close()

	// The others come back and go on without it.
	for _, c := range others {
		c.open(t, archiveURL, key, false)
	}
	np := primary(others)
	var last LSN
	testkit.Eventually(t, func() bool {
		var err error
		last, err = write(np, "k0=new-history")
		return err == nil
	}, "a write acknowledged by the new primary %s", np.id)
	for i := 0; i < 10; i++ {
		last, err = write(np, fmt.Sprintf("k%d=after%d", i%4, i))
		require.NoError(t, err)
	}
	require.LessOrEqual(t, last-10, acked+1, "the new history reuses the unacknowledged write's LSN")

	// The old primary's WAL loses its front (as retention would), so its
	// state cannot be rebuilt from its log, nor from the archive, which
	// holds no base snapshot.
	l, err := wal.Open(filepath.Join(p.dir, "wal"), wal.Options{SegmentBytes: 4 << 10})
	require.NoError(t, err)
	require.NoError(t, l.TruncateFront(acked-5))
	require.Greater(t, l.First(), LSN(1), "the front of the WAL is gone")
	first := l.First()
	require.NoError(t, l.Close())
	// Nor can the archive: it holds no base snapshot, and its objects up
	// to the WAL's new front go (as if retention had cut them), so that
	// the state can only come from the primary.
	cut := 0
	require.NoError(t, filepath.WalkDir(strings.TrimPrefix(archiveURL, "file://"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(filepath.Dir(filepath.Dir(path))) != "wal" {
			return err
		}
		lo, _, ok := strings.Cut(d.Name(), "-")
		if n, perr := strconv.ParseUint(lo, 16, 64); ok && perr == nil && LSN(n) < first {
			cut++
			return os.Remove(path)
		}
		return nil
	}))
	require.Positive(t, cut, "WAL objects removed from the archive")

	// The new primary's state transfer stalls until released, so that
	// the restarted node is seen not ready while its state is rebuilt.
	release := np.sm.holdSnapshots()
	defer release()
	p.open(t, archiveURL, key, true) // its documented command: -bootstrap is ignored now
	_, _, err = p.n.Append(ctx, []byte("k1=on-the-restarted-node"))
	var notPrimary *NotPrimaryError
	require.ErrorAs(t, err, &notPrimary, "a write on the restarted old primary")
	require.NotEqual(t, p.id, notPrimary.Primary, "a restarted node never names itself primary")
	if notPrimary.Primary == "" {
		require.Positive(t, notPrimary.RetryAfter, "no primary named: says when to retry")
	}
	testkit.Eventually(t, func() bool {
		ok, why := p.n.Ready()
		return !ok && strings.Contains(why, "being rebuilt by a state transfer")
	}, "the restarted node to say its state is being rebuilt (status %+v)", p.n.Status())
	st := p.n.Status()
	require.False(t, st.Ready)
	require.Contains(t, st.NotReady, "being rebuilt")
	release()
	wctx, cancel := context.WithTimeout(ctx, testkit.EventuallyTimeout) // bounds a hang, not a timing check
	defer cancel()
	require.NoError(t, p.n.WaitFor(wctx, last), "the restarted node to reach LSN %d (status %+v)", last, p.n.Status())
	testkit.Eventually(t, func() bool { ok, _ := p.n.Ready(); return ok }, "the restarted node to be ready (status %+v)", p.n.Status())
	for _, c := range ns {
		assert.False(t, c.sm.saw(phantom), "%s applied the unacknowledged write", c.id)
	}
	require.NoError(t, np.n.WaitFor(wctx, last))
	assert.Equal(t, np.sm.String(), p.sm.String(), "the restarted node holds the new primary's state")
	assert.Equal(t, "after8", p.sm.get("k0"))
	st = p.n.Status()
	assert.Equal(t, RoleStandby, st.Role)
	assert.Equal(t, np.id, st.Primary)
	assert.True(t, st.Ready, "ready: %s", st.NotReady)
	q, err := filepath.Glob(filepath.Join(p.dir, "quarantine", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, q, "the cut record is kept for inspection")
	b, err := os.ReadFile(q[0])
	require.NoError(t, err)
	assert.Contains(t, string(b), "bmV2ZXItYWNrbm93bGVkZ2Vk", "the quarantine holds the unacknowledged write (base64 of its value)")
}

// TestClusterRefusesAnotherArchive: a node whose archive is another
// repository than the cluster's takes no role: joining, it reports the
// mismatch on Fatal and is not ready; restarted, Open fails naming both.
func TestClusterRefusesAnotherArchive(t *testing.T) {
	ctx := context.Background()
	shared := "file://" + filepath.ToSlash(t.TempDir())
	other := "file://" + filepath.ToSlash(t.TempDir())
	var key [32]byte
	a := &clusterNode{id: "n1", dir: t.TempDir(), raft: freeAddr(t), repl: freeAddr(t)}
	b := &clusterNode{id: "n2", dir: t.TempDir(), raft: freeAddr(t), repl: freeAddr(t)}
	defer a.close()
	defer b.close()
	a.open(t, shared, key, true)
	testkit.Eventually(t, func() bool { return a.n.Coordinator().State().ArchiveID != "" }, "the first primary to record its archive")
	require.Equal(t, a.n.Repo().ID(), a.n.Coordinator().State().ArchiveID)

	b.open(t, other, key, false)
	require.NoError(t, a.n.Join(ctx, b.id, b.raft, b.repl, true))
	var fatal error
	select {
	case fatal = <-b.n.Fatal():
	case <-time.After(testkit.EventuallyTimeout): // bounds a hang, not a timing check
		t.Fatalf("no fatal error on a node with another archive (status %+v)", b.n.Status())
	}
	require.ErrorContains(t, fatal, a.n.Repo().ID())
	require.ErrorContains(t, fatal, b.n.Repo().ID())
	ok, why := b.n.Ready()
	require.False(t, ok)
	require.Contains(t, why, "archives to repository")
	b.close()

	// Restarted, it learns the cluster's archive before Open returns.
	_, err := Open(ctx, Config{Dir: b.dir, Archive: other, Keys: snapshot.RawKey(key), Logger: quiet,
		Cluster: &ClusterConfig{Node: b.id, RaftBind: b.raft, ReplBind: b.repl, Sync: 1, InsecurePlaintext: true}}, &kv{})
	require.Error(t, err, "a restarted node with another archive")
	require.ErrorContains(t, err, a.n.Repo().ID())
	require.True(t, !errors.Is(err, context.DeadlineExceeded))
}
