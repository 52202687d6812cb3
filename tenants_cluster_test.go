package continuity

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// tenantMember is one node of a tenantCluster.
type tenantMember struct {
	id, dir, raft, repl string
	sm                  TenantStateMachine
	n                   *Node
}

// events is the member's state's events of tenant id.
func (m *tenantMember) events(id string) []string {
	switch sm := m.sm.(type) {
	case *testsm.Tenants:
		return sm.Events(id)
	case *stalledTenants:
		return sm.Events(id)
	}
	panic(fmt.Sprintf("state machine %T", m.sm))
}

// tenantCluster is a three-node cluster (Sync 1) on one file:// archive,
// n1 the first primary; sm gives each member's state machine.
type tenantCluster struct {
	t          *testing.T
	ms         []*tenantMember
	archiveDir string
}

func newTenantCluster(t *testing.T, sm func(i int) TenantStateMachine) *tenantCluster {
	ctx := context.Background()
	c := &tenantCluster{t: t, archiveDir: t.TempDir()}
	archiveURL := "file://" + filepath.ToSlash(c.archiveDir)
	key := [32]byte{4, 2}
	for i := 1; i <= 3; i++ {
		c.ms = append(c.ms, &tenantMember{id: fmt.Sprintf("n%d", i), dir: t.TempDir(), raft: freeAddr(t), repl: freeAddr(t), sm: sm(i)})
	}
	t.Cleanup(func() {
		for _, m := range c.ms {
			if m.n != nil {
				m.n.Close()
			}
		}
	})
	for i, m := range c.ms {
		n, err := Open(ctx, Config{Dir: m.dir, Archive: archiveURL, Keys: snapshot.RawKey(key), Logger: quiet, SnapshotEvery: -1, SnapshotEveryBytes: -1,
			WAL:     wal.Options{SegmentBytes: 16 << 10},
			Cluster: &ClusterConfig{Node: m.id, RaftBind: m.raft, ReplBind: m.repl, Bootstrap: i == 0, Sync: 1, InsecurePlaintext: true}}, m.sm)
		require.NoError(t, err, "open %s", m.id)
		m.n = n
	}
	for _, m := range c.ms[1:] {
		require.NoError(t, c.ms[0].n.Join(ctx, m.id, m.raft, m.repl, true))
	}
	return c
}

// primary waits for a member that can write.
func (c *tenantCluster) primary() *tenantMember {
	var p *tenantMember
	testkit.Eventually(c.t, func() bool {
		for _, m := range c.ms {
			if m.n != nil {
				if _, ok := m.n.Coordinator().CanWrite(); ok {
					p = m
					return true
				}
			}
		}
		return false
	}, "a primary")
	return p
}

// appendTenant appends ev for tenant id on the primary, retrying while a
// fail-over moves the primary, as a client does on NotPrimaryError.
func (c *tenantCluster) appendTenant(id, ev string) LSN {
	var last LSN
	testkit.Eventually(c.t, func() bool {
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		_, last, err = c.primary().n.AppendTenant(wctx, id, []byte(ev))
		return err == nil
	}, "append %q for %s", ev, id)
	return last
}

// waitAll waits until every running member applied lsn.
func (c *tenantCluster) waitAll(lsn LSN) {
	for _, m := range c.ms {
		if m.n != nil {
			require.NoError(c.t, m.n.WaitFor(context.Background(), lsn), "%s applies LSN %d", m.id, lsn)
		}
	}
}

// TestTenantCluster: in a three-node cluster, standbys apply tenants'
// sealed events; ForgetTenant on the primary makes every node drop the
// tenant and delete its copy of the key; after a fail-over the new
// primary seals under a generation of its own epoch; no node's directory
// holds the forgotten tenant's marker.
func TestTenantCluster(t *testing.T) {
	ctx := context.Background()
	c := newTenantCluster(t, func(int) TenantStateMachine { return testsm.NewTenants() })
	ms, archiveDir := c.ms, c.archiveDir
	primary, appendTenant, waitAll := c.primary, c.appendTenant, c.waitAll

	marker := "MARKER-tenant-a-5d1e"
	for i := range 10 {
		appendTenant("a", fmt.Sprintf("a-%d-%s", i, marker))
	}
	last := appendTenant("b", "b-0")
	waitAll(last)
	for _, m := range ms {
		assert.Len(t, m.events("a"), 10, "%s holds a's events", m.id)
		assert.Equal(t, []string{"b-0"}, m.events("b"), "%s holds b's", m.id)
	}

	p := primary()
	rc, err := p.n.ForgetTenant(ctx, "a", "account closed")
	require.NoError(t, err)
	waitAll(rc.LSN)
	slot := filepath.FromSlash(tenant.SlotName(p.n.tenants.tagger.Tag("a"), mustKeyID(t, rc.KeysDestroyed[0])))
	for _, m := range ms {
		assert.Nil(t, m.events("a"), "%s dropped a", m.id)
		assert.NoFileExists(t, filepath.Join(m.dir, "tenant-keys", slot), "%s deleted its copy of a's key", m.id)
	}
	assert.NoFileExists(t, filepath.Join(archiveDir, slot), "the archive's slot of a's key")

	// Fail-over: the new primary takes a generation in its own epoch.
	oldEpoch := p.n.Log().Epoch()
	require.NoError(t, p.n.Close())
	p.n = nil
	last = appendTenant("b", "b-1")
	np := primary()
	assert.Greater(t, np.n.Log().Epoch(), oldEpoch)
	g, _, ok := np.n.tenants.sealer.Next(np.n.Log().Epoch())
	require.True(t, ok, "the new primary sealed under a generation of its epoch")
	assert.Equal(t, np.n.Log().Epoch(), g.Epoch)
	last = max(last, appendTenant("a", "a-again"))
	testkit.Eventually(t, func() bool {
		trail, _, err := audit.List(ctx, np.n.Repo(), time.Time{})
		require.NoError(t, err)
		for _, e := range trail {
			if e.Action == "promote" && e.Subject == np.id && e.Details["epoch"] == fmt.Sprint(np.n.Log().Epoch()) {
				return true
			}
		}
		return false
	}, "the promotion of %s in the audit trail", np.id)
	waitAll(last)
	for _, m := range ms {
		if m.n == nil {
			continue
		}
		assert.Equal(t, []string{"b-0", "b-1"}, m.events("b"), "%s", m.id)
		assert.Equal(t, []string{"a-again"}, m.events("a"), "%s", m.id)
	}
	for _, m := range ms {
		if m.n != nil {
			require.NoError(t, m.n.Close())
			m.n = nil
		}
		assert.Empty(t, grepTree(t, m.dir, []byte(marker)), "%s's directory holds a's marker", m.id)
	}
	assert.Empty(t, grepTree(t, archiveDir, []byte(marker)), "the archive holds a's marker")
}

// TestForgetThenFailover: the primary forgets a tenant and dies while
// both standbys hold the forget record but have not applied it (their
// appliers stall on an earlier event). The promoted standby's first
// append to the tenant waits until its state has applied the forget,
// and creates the tenant anew. Without that wait it sealed under the
// forgotten key, and every node then skipped the acknowledged event as
// shredded.
func TestForgetThenFailover(t *testing.T) {
	ctx := context.Background()
	stalls := map[int]*stalledTenants{}
	c := newTenantCluster(t, func(i int) TenantStateMachine {
		if i == 1 {
			return testsm.NewTenants()
		}
		stalls[i] = &stalledTenants{Tenants: testsm.NewTenants(), stall: "stall", stalled: make(chan struct{}), release: make(chan struct{})}
		return stalls[i]
	})
	old := c.ms[0]
	c.waitAll(c.appendTenant("a", "a0"))
	_, forgotten, ok := old.n.tenants.reg.Lookup(old.n.tenants.tagger.Tag("a"))
	require.True(t, ok)

	_, _, err := old.n.Append(ctx, []byte("stall"))
	require.NoError(t, err)
	for _, s := range stalls {
		<-s.stalled
	}
	rc, err := old.n.ForgetTenant(ctx, "a", "account closed")
	require.NoError(t, err)
	// Both standbys hold the forget record (Sync 1 acknowledged it on
	// one; the other has it too before the primary goes).
	for _, m := range c.ms[1:] {
		testkit.Eventually(t, func() bool { return m.n.Log().Last() >= rc.LSN }, "%s holds the forget record", m.id)
	}
	require.NoError(t, old.n.Close())
	old.n = nil

	np := c.primary()
	for _, m := range c.ms[1:] {
		require.Less(t, m.n.Applied(), rc.LSN, "%s has not applied the forget", m.id)
	}
	var lsn LSN
	wait := untilWritten(t, np.n, np.n.Log().Last(), func() error {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		var err error
		_, lsn, err = np.n.AppendTenant(wctx, "a", []byte("a1"))
		return err
	})
	for _, s := range stalls {
		close(s.release)
	}
	require.NoError(t, wait())
	c.waitAll(lsn)
	for _, m := range c.ms[1:] {
		assert.Equal(t, []string{"a1"}, m.events("a"), "%s holds the event acknowledged after the forget", m.id)
	}
	_, now, ok := np.n.tenants.reg.Lookup(np.n.tenants.tagger.Tag("a"))
	require.True(t, ok)
	assert.False(t, now.Forgotten)
	assert.NotEqual(t, forgotten.Key, now.Key, "a new key, not the forgotten one")
}

// failOnEvent is a tenant state machine whose Apply of the plain event
// failOn fails: a state machine that cannot apply the log any more.
type failOnEvent struct {
	*testsm.Tenants
	failOn string
}

func (f *failOnEvent) Apply(rec wal.Record) error {
	if string(rec.Data) == f.failOn {
		return errors.New("this node's state machine cannot apply " + f.failOn)
	}
	return f.Tenants.Apply(rec)
}

// TestPrimaryStateFails: the primary's state machine fails (only there:
// the standbys apply the same record). The primary reports itself
// unhealthy and resigns, a standby takes over, and writes go on; the
// failed node says why it is not healthy.
func TestPrimaryStateFails(t *testing.T) {
	ctx := context.Background()
	c := newTenantCluster(t, func(i int) TenantStateMachine {
		if i == 1 {
			return &failOnEvent{Tenants: testsm.NewTenants(), failOn: "poison"}
		}
		return testsm.NewTenants()
	})
	old := c.ms[0]
	require.Equal(t, old, c.primary())
	_, lsn, err := old.n.Append(ctx, []byte("poison"))
	require.NoError(t, err, "durable and acknowledged; applying it fails afterwards")
	require.ErrorIs(t, old.n.WaitFor(ctx, lsn), ErrStateFailed)

	testkit.Eventually(t, func() bool { return c.primary() != old }, "a standby takes over from the failed primary")
	last := c.appendTenant("a", "after")
	for _, m := range c.ms[1:] {
		require.NoError(t, m.n.WaitFor(ctx, last))
		assert.Equal(t, []string{"after"}, m.events("a"), "%s", m.id)
	}
	ok, why := old.n.Healthy(time.Hour)
	assert.False(t, ok)
	assert.Contains(t, strings.Join(why, "; "), "cannot apply poison")
}
