package continuity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestMain checks that no test leaves goroutines behind, but for an S3
// client's idle keep-alive connections: versitygw keeps a connection
// open after a HEAD (Attributes: Object Lock dates, Exists), and the
// client keeps it until its idle timeout, after the bucket's Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
}

// kv is a key-value state folded from "key=value" events. It refuses a
// record that does not follow the last one it holds, so a record applied
// twice (or skipped) stops the node's applying and fails the test.
type kv struct {
	mu  sync.Mutex
	m   map[string]string
	lsn LSN
}

func (s *kv) Apply(rec Record) error {
	k, v, ok := strings.Cut(string(rec.Data), "=")
	if !ok {
		return fmt.Errorf("bad event %q", rec.Data)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.LSN != s.lsn+1 {
		return fmt.Errorf("kv: LSN %d after %d: applied twice, or one skipped", rec.LSN, s.lsn)
	}
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[k], s.lsn = v, rec.LSN
	return nil
}

func (s *kv) Snapshot(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.NewEncoder(w).Encode(struct {
		M   map[string]string
		LSN LSN
	}{s.m, s.lsn})
}

func (s *kv) Restore(r io.Reader) error {
	var x struct {
		M   map[string]string
		LSN LSN
	}
	if err := json.NewDecoder(r).Decode(&x); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m, s.lsn = x.M, x.LSN
	return nil
}

func (s *kv) get(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k]
}

// String prints the state, for failure messages.
func (s *kv) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestSingleNode is the five-line setup: a node in a directory, events
// appended and applied, a base snapshot, a restart that rebuilds the
// state, point-in-time restore from the default file:// archive, and
// Events from any LSN.
func TestSingleNode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sm := &kv{}
	var roles []RoleChange
	n, err := Open(ctx, Config{Dir: dir, Logger: quiet, OnRoleChange: func(rc RoleChange) { roles = append(roles, rc) }}, sm)
	require.NoError(t, err)
	require.Len(t, roles, 1, "role changes of a single node: %+v", roles)
	assert.Equal(t, RolePrimary, roles[0].Role, "role changes of a single node: %+v", roles)
	for i := 0; i < 50; i++ {
		_, _, err := n.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i%10, i))
		require.NoError(t, err)
	}
	_, err = n.Snapshot(ctx)
	require.NoError(t, err)
	// The scenario: mid is an instant strictly between the 50th event and
	// the 51st. The sleep puts time between them; the restore below holds
	// however long it lasts.
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	_, last, err := n.Append(ctx, []byte("k0=after"))
	require.NoError(t, err)
	require.NoError(t, n.WaitFor(ctx, last))
	assert.Equal(t, "after", sm.get("k0"), "state %v", sm)
	assert.Equal(t, "v49", sm.get("k9"), "state %v", sm)
	_, err = n.Verify(ctx, true)
	require.NoError(t, err)
	require.NoError(t, n.arch.Flush(ctx))
	_, err = n.Window(ctx)
	require.NoError(t, err)
	st := n.Status()
	assert.Equal(t, RolePrimary, st.Role, "status %+v", st)
	assert.Equal(t, LSN(51), st.Last, "status %+v", st)
	assert.Equal(t, LSN(51), st.Applied, "status %+v", st)
	assert.Equal(t, LSN(51), st.Window.LatestLSN, "status %+v", st)
	assert.True(t, st.LastVerify.OK(), "status %+v", st)
	assert.NotZero(t, st.Archive.SnapshotStats.BytesIn, "status %+v", st)
	var got []LSN
	for rec, err := range n.Events(ctx, 45) {
		require.NoError(t, err)
		got = append(got, rec.LSN)
		if rec.LSN == last {
			break
		}
	}
	require.Len(t, got, 7, "Events(45) gave %v", got)
	assert.Equal(t, LSN(45), got[0], "Events(45) gave %v", got)
	require.NoError(t, n.Close())

	// Restart: a fresh state machine is rebuilt from the log.
	sm2 := &kv{}
	n2, err := Open(ctx, Config{Dir: dir, Logger: quiet}, sm2)
	require.NoError(t, err)
	defer n2.Close()
	require.NoError(t, n2.WaitFor(ctx, last))
	assert.Equal(t, "after", sm2.get("k0"), "restarted state %v", sm2)
	// Point in time, from the archive the node shipped.
	var then kv
	res, err := archive.RestoreTo(ctx, n2.Repo(), archive.AtTime(mid), &then, archive.RestoreOptions{})
	require.NoError(t, err)
	assert.Equal(t, LSN(50), res.LSN, "restore to before the last event: k0=%q", then.get("k0"))
	assert.Equal(t, "v40", then.get("k0"), "restore to before the last event: LSN %d", res.LSN)
}

func TestConfigValidate(t *testing.T) {
	err := Config{Archive: "not a url", ShipInterval: -1, Cluster: &ClusterConfig{Sync: -1}}.Validate()
	require.Error(t, err)
	err = Config{Dir: "x", Cluster: &ClusterConfig{Node: "n1", RaftBind: ":1", ReplBind: ":2", InsecurePlaintext: true}}.Validate()
	assert.ErrorContains(t, err, "a cluster has one archive that every node shares", "a cluster on the per-node default archive")
	err = Config{Archive: "not a url", ShipInterval: -1, UploadLimit: 1000, ReadLimit: -1, Cluster: &ClusterConfig{Sync: -1},
		Copies: []CopyConfig{{Name: "x", URL: "file:///x"}, {Name: "x", Every: -1}, {URL: "file:///y"}}}.Validate()
	for _, want := range []string{"Config.Dir", "Config.Archive", "Config.ShipInterval", "Config.UploadLimit 1000", "Config.ReadLimit -1",
		`Config.Copies[1].Name "x" is given twice`, "Config.Copies[1].URL is empty", "Config.Copies[1].Every -1ns", "Config.Copies[2].Name is empty", "Cluster.Node", "Cluster.RaftBind", "Cluster.ReplBind", "Cluster.Sync", "Cluster.TLS"} {
		assert.ErrorContains(t, err, want, "Validate does not name %s", want)
	}
	assert.NoError(t, Config{Dir: "x"}.Validate())
	assert.NoError(t, Config{Dir: "x", UploadLimit: 64 << 10, ReadLimit: 10 << 20}.Validate())
	assert.ErrorContains(t, Config{Dir: "x", IdleShipInterval: 500 * time.Millisecond}.Validate(), "Config.IdleShipInterval 500ms is shorter than ShipInterval 1s")
	assert.NoError(t, Config{Dir: "x", IdleShipInterval: time.Minute}.Validate())
	assert.ErrorContains(t, Config{Dir: "x", ArchiveSyncCopies: 1, Copies: []CopyConfig{{Name: "c", URL: "file:///c"}}}.Validate(), "Config.ArchiveSyncCopies 1: it needs ArchiveSync")
	assert.ErrorContains(t, Config{Dir: "x", ArchiveSync: true, ArchiveSyncCopies: 2, Copies: []CopyConfig{{Name: "c", URL: "file:///c"}}}.Validate(), "at most len(Copies) = 1")
}

// TestIdleShipIntervalNode: a node with IdleShipInterval promises that
// bound (Status), and Sync does not wait for it.
func TestIdleShipIntervalNode(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet, IdleShipInterval: time.Hour, VerifyEvery: -1}, &kv{})
	require.NoError(t, err)
	defer n.Close()
	_, last, err := n.Append(ctx, []byte("k=v"))
	require.NoError(t, err)
	assert.Equal(t, time.Hour, n.Status().Archive.Bound)
	require.NoError(t, n.archiver().Sync(ctx, last), "Sync ships a quiet batch at once")
}

// freeAddr is a port a restarted node can always listen on again.
func freeAddr(t *testing.T) string { return testkit.FreeAddr(t) }

// TestCluster runs three nodes with synchronous replication: writes on
// the primary reach the standbys' state machines, a standby refuses
// writes naming the primary, and when the primary is closed another node
// becomes primary with every acknowledged write.
func TestCluster(t *testing.T) {
	ctx := context.Background()
	type member struct {
		id         string
		raft, repl string
		sm         *kv
		n          *Node
		mu         sync.Mutex
		roles      []RoleChange
	}
	var ms []*member
	for i := 1; i <= 3; i++ {
		ms = append(ms, &member{id: fmt.Sprintf("n%d", i), raft: freeAddr(t), repl: freeAddr(t), sm: &kv{}})
	}
	// One archive for the cluster, with one key.
	archiveURL := "file://" + filepath.ToSlash(t.TempDir())
	var key [32]byte
	key[0] = 7
	for i, m := range ms {
		n, err := Open(ctx, Config{Dir: t.TempDir(), Archive: archiveURL, Keys: snapshot.RawKey(key), Logger: quiet, OnRoleChange: func(rc RoleChange) {
			m.mu.Lock()
			m.roles = append(m.roles, rc)
			m.mu.Unlock()
		}, Cluster: &ClusterConfig{
			Node: m.id, RaftBind: m.raft, ReplBind: m.repl, Bootstrap: i == 0, Sync: 1, InsecurePlaintext: true,
		}}, m.sm)
		require.NoError(t, err)
		m.n = n
	}
	defer func() {
		for _, m := range ms {
			if m.n != nil {
				m.n.Close()
			}
		}
	}()
	for _, m := range ms[1:] {
		require.NoError(t, ms[0].n.Join(ctx, m.id, m.raft, m.repl, true), "join %s", m.id)
	}
	primary := func(not *member) *member {
		t.Helper()
		what := "a primary"
		if not != nil {
			what += " other than " + not.id
		}
		var p *member
		testkit.Eventually(t, func() bool {
			for _, m := range ms {
				if m != not && m.n != nil {
					if _, ok := m.n.Coordinator().CanWrite(); ok {
						p = m
						return true
					}
				}
			}
			return false
		}, "%s", what)
		return p
	}
	p := primary(nil)
	var last LSN
	for i := 0; i < 20; i++ {
		// On a busy machine the primary can lose its lease and another
		// node take over: a client then writes to the new primary.
		testkit.Eventually(t, func() bool {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, l, err := p.n.Append(wctx, fmt.Appendf(nil, "k%d=v%d", i%5, i))
			if errors.Is(err, ErrNotPrimary) {
				p = primary(nil)
				return false
			}
			require.NoError(t, err, "append %d", i)
			last = l
			return true
		}, "append %d", i)
	}
	var standby *member
	for _, m := range ms {
		if m != p {
			standby = m
			break
		}
	}
	_, _, err := standby.n.Append(ctx, []byte("x=y"))
	var np *NotPrimaryError
	if assert.ErrorAs(t, err, &np, "append on a standby") {
		assert.Equal(t, p.id, np.Primary, "append on a standby: %v", err)
		assert.Equal(t, p.repl, np.PrimaryAddr, "append on a standby: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, testkit.EventuallyTimeout) // bounds a hang, not a timing check
	defer cancel()
	for _, m := range ms {
		require.NoError(t, m.n.WaitFor(wctx, last), "%s did not apply %d (status %+v)", m.id, last, m.n.Status())
		assert.Equal(t, "v19", m.sm.get("k4"), "%s state %v", m.id, m.sm)
	}
	// The cluster state records how far the primary's archive reached
	// (its head), on every node, and verify holds the archive to it.
	for _, m := range ms {
		testkit.Eventually(t, func() bool { return m.n.Coordinator().State().Archived >= last },
			"%s's cluster state to record the archive's head at LSN %d (state %+v)", m.id, last, m.n.Coordinator().State())
	}
	res, err := p.n.Verify(ctx, false)
	require.NoError(t, err, "verify on the primary")
	require.True(t, res.OK(), "verify on the primary: %+v", res.Archive.Problems)

	// The primary goes away; another takes over with every write.
	epochBefore := p.n.Log().Epoch()
	start := time.Now()
	p.n.Close()
	p.n = nil
	p2 := primary(p)
	var l2 LSN
	var lastErr string
	testkit.Eventually(t, func() bool {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second) // one attempt; a failed one is retried
		var err error
		_, l2, err = p2.n.Append(actx, []byte("k0=after-failover"))
		cancel()
		if err != nil && err.Error() != lastErr { // for the log only: each new reason once
			lastErr = err.Error()
			t.Logf("write after fail-over: %v; retrying", err)
		}
		return err == nil
	}, "a write acknowledged by %s after the fail-over", p2.id)
	t.Logf("fail-over to %s: first acknowledged write %v after the primary closed", p2.id, time.Since(start))
	require.Greater(t, l2, last, "new write at LSN %d, not after %d", l2, last)
	wctx, cancel = context.WithTimeout(ctx, testkit.EventuallyTimeout) // bounds a hang, not a timing check
	defer cancel()
	require.NoError(t, p2.n.WaitFor(wctx, l2))
	p2.mu.Lock()
	lastRole := p2.roles[len(p2.roles)-1]
	p2.mu.Unlock()
	assert.Equal(t, RolePrimary, lastRole.Role, "%s was last told %+v", p2.id, lastRole)
	assert.Greater(t, lastRole.Epoch, epochBefore, "%s was last told %+v", p2.id, lastRole)
	assert.Equal(t, "v19", p2.sm.get("k4"), "new primary's state %v", p2.sm)
	assert.Equal(t, "after-failover", p2.sm.get("k0"), "new primary's state %v", p2.sm)
	assert.Equal(t, "v18", p2.sm.get("k3"), "lost write: k3")

	// The new primary continues the cluster's one archive on its new
	// timeline: the archive's ID is the cluster's, and it restores the
	// new write without anything archived twice.
	st := p2.n.Coordinator().State()
	assert.Equal(t, p2.n.Repo().ID(), st.ArchiveID, "the cluster state names the archive")
	testkit.Eventually(t, func() bool { return p2.n.Status().Archive.HeadLSN >= l2 }, "the new primary's archive to reach LSN %d", l2)
	res, err = p2.n.Verify(ctx, false)
	require.NoError(t, err, "verify on the new primary")
	require.True(t, res.OK(), "verify on the new primary: %+v", res.Archive.Problems)
	var after kv
	_, err = p2.n.RestoreTo(ctx, AtLSN(l2), &after)
	require.NoError(t, err, "restore the new timeline from the shared archive")
	assert.Equal(t, "after-failover", after.get("k0"))
	assert.Equal(t, "v19", after.get("k4"))
}

// TestEventsFromArchive: Events from an LSN the WAL no longer holds reads
// the archive first, then the WAL, then follows the tail.
func TestEventsFromArchive(t *testing.T) {
	ctx := context.Background()
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet, ShipInterval: 20 * time.Millisecond,
		WAL: wal.Options{SegmentBytes: 64 << 10, DisablePreallocation: true}}, &kv{})
	require.NoError(t, err)
	defer n.Close()
	var last LSN
	for i := 0; i < 3000; i++ {
		_, last, err = n.Append(ctx, fmt.Appendf(nil, "k%d=%s", i, strings.Repeat("x", 80)))
		require.NoError(t, err)
	}
	testkit.Eventually(t, func() bool { return n.Status().Archive.Archived >= last }, "every event archived")
	_, err = n.Snapshot(ctx) // a base snapshot must not hide the older events
	require.NoError(t, err)
	require.NoError(t, n.Log().TruncateFront(last))
	require.GreaterOrEqual(t, n.Log().First(), LSN(1000), "the WAL still starts at %d", n.Log().First())
	want := LSN(1)
	for rec, err := range n.Events(ctx, 1) {
		require.NoError(t, err)
		require.Equal(t, want, rec.LSN, "event %d: LSN %d %q", want, rec.LSN, rec.Data)
		require.True(t, strings.HasPrefix(string(rec.Data), fmt.Sprintf("k%d=", want-1)), "event %d: LSN %d %q", want, rec.LSN, rec.Data)
		if want == last {
			break
		}
		want++
	}
}

// TestScheduledVerify: Config.VerifyEvery runs Verify on its own; its
// result reaches LastVerify, and damage it finds is logged as an error
// naming the damaged object.
func TestScheduledVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var logs testkit.SyncBuffer
	n, err := Open(ctx, Config{Dir: dir, VerifyEvery: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, &kv{})
	require.NoError(t, err)
	defer n.Close()
	_, _, err = n.Append(ctx, []byte("a=1"))
	require.NoError(t, err)
	_, err = n.Snapshot(ctx)
	require.NoError(t, err)
	since := time.Now()
	testkit.Eventually(t, func() bool {
		r, ok := n.LastVerify()
		return ok && r.At.After(since) && r.OK()
	}, "a scheduled verify that passes")
	st := n.Status()
	assert.False(t, st.LastVerify.At.Before(since), "Status().LastVerify = %+v", st.LastVerify)
	assert.True(t, st.LastVerify.OK(), "Status().LastVerify = %+v", st.LastVerify)
	// Lose the snapshot's data objects.
	packs, err := filepath.Glob(filepath.Join(dir, "archive", "data", "*", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, packs, "no data objects in the archive")
	for _, p := range packs {
		require.NoError(t, os.Remove(p))
	}
	testkit.Eventually(t, func() bool {
		r, ok := n.LastVerify()
		return ok && !r.Snapshot.OK()
	}, "a scheduled verify that finds the damage")
	testkit.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "scheduled verify found damage") && strings.Contains(logs.String(), "data/")
	}, "the damage in the log")
}

// TestOpenAndCloseMisuse: a nil state machine is refused at Open, not a
// panic at the first Append; a second Close returns the first's result.
func TestOpenAndCloseMisuse(t *testing.T) {
	_, err := Open(t.Context(), Config{Dir: t.TempDir(), Logger: quiet}, nil)
	require.ErrorContains(t, err, "state machine")
	n, err := Open(t.Context(), Config{Dir: t.TempDir(), Logger: quiet}, &kv{})
	require.NoError(t, err)
	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "a second Close")
}

// TestOpenContext: the ctx given to Open bounds the opening. A done ctx
// makes Open fail with its error, also while Open waits for a restarted
// cluster node's role (which it would otherwise wait 2 s for and then
// succeed), and what Open opened is closed: the directory opens again.
func TestOpenContext(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := Open(ctx, Config{Dir: dir, Logger: quiet}, &kv{})
		require.ErrorIs(t, err, context.Canceled)
		n, err := Open(t.Context(), Config{Dir: dir, Logger: quiet}, &kv{})
		require.NoError(t, err, "open again after a cancelled Open")
		require.NoError(t, n.Close())
	})
	t.Run("expires while waiting for the role", func(t *testing.T) {
		// A member nobody bootstrapped: restarted, it waits for a
		// leader that never comes.
		dir, archiveURL := t.TempDir(), "file://"+filepath.ToSlash(t.TempDir())
		cfg := Config{Dir: dir, Archive: archiveURL, Logger: quiet,
			Cluster: &ClusterConfig{Node: "n1", RaftBind: freeAddr(t), ReplBind: freeAddr(t), InsecurePlaintext: true}}
		n, err := Open(t.Context(), cfg, &kv{})
		require.NoError(t, err)
		require.NoError(t, n.Close())

		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = Open(ctx, cfg, &kv{})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		t.Logf("Open failed after %v: %v", time.Since(start), err)

		n, err = Open(t.Context(), cfg, &kv{})
		require.NoError(t, err, "open again after an expired Open: the WAL, Raft store and ports were released")
		require.NoError(t, n.Close())
	})
}

// TestAppendReturnsFirstAndLast: the records of one Append are
// consecutive, and Append names the first and the last, on a single node
// and on a cluster's primary.
func TestAppendReturnsFirstAndLast(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster bool
	}{{"single node", false}, {"cluster", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			cfg := Config{Dir: t.TempDir(), Logger: quiet}
			if tc.cluster {
				cfg.Archive = "file://" + filepath.ToSlash(t.TempDir())
				cfg.Cluster = &ClusterConfig{Node: "n1", RaftBind: freeAddr(t), ReplBind: freeAddr(t), Bootstrap: true, InsecurePlaintext: true}
			}
			n, err := Open(ctx, cfg, &kv{})
			require.NoError(t, err)
			defer n.Close()
			if tc.cluster {
				testkit.Eventually(t, func() bool { _, ok := n.Coordinator().CanWrite(); return ok }, "n1 to be primary")
			}
			_, one, err := n.Append(ctx, []byte("a=1"))
			require.NoError(t, err)
			first, last, err := n.Append(ctx, []byte("b=1"), []byte("c=1"), []byte("d=1"))
			require.NoError(t, err)
			assert.Equal(t, one+1, first, "first of the batch after LSN %d", one)
			assert.Equal(t, LSN(2), last-first, "first %d, last %d", first, last)
			require.NoError(t, n.WaitFor(ctx, last))
		})
	}
}
