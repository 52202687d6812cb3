package continuity

import (
	"context"
	"fmt"
	"path/filepath"
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

// TestTenantCluster: in a three-node cluster, standbys apply tenants'
// sealed events; ForgetTenant on the primary makes every node drop the
// tenant and delete its copy of the key; after a fail-over the new
// primary seals under a generation of its own epoch; no node's directory
// holds the forgotten tenant's marker.
func TestTenantCluster(t *testing.T) {
	ctx := context.Background()
	archiveDir := t.TempDir()
	archiveURL := "file://" + filepath.ToSlash(archiveDir)
	key := [32]byte{4, 2}
	type member struct {
		id, dir, raft, repl string
		sm                  *testsm.Tenants
		n                   *Node
	}
	var ms []*member
	for i := 1; i <= 3; i++ {
		ms = append(ms, &member{id: fmt.Sprintf("n%d", i), dir: t.TempDir(), raft: freeAddr(t), repl: freeAddr(t)})
	}
	open := func(m *member, bootstrap bool) {
		m.sm = testsm.NewTenants()
		n, err := Open(ctx, Config{Dir: m.dir, Archive: archiveURL, Keys: snapshot.RawKey(key), Logger: quiet, SnapshotEvery: -1, SnapshotEveryBytes: -1,
			WAL:     wal.Options{SegmentBytes: 16 << 10},
			Cluster: &ClusterConfig{Node: m.id, RaftBind: m.raft, ReplBind: m.repl, Bootstrap: bootstrap, Sync: 1, InsecurePlaintext: true}}, m.sm)
		require.NoError(t, err, "open %s", m.id)
		m.n = n
	}
	defer func() {
		for _, m := range ms {
			if m.n != nil {
				m.n.Close()
			}
		}
	}()
	for i, m := range ms {
		open(m, i == 0)
	}
	for _, m := range ms[1:] {
		require.NoError(t, ms[0].n.Join(ctx, m.id, m.raft, m.repl, true))
	}
	primary := func() *member {
		var p *member
		testkit.Eventually(t, func() bool {
			for _, m := range ms {
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
	// appendTenant retries while a fail-over moves the primary, as a
	// client does on NotPrimaryError.
	appendTenant := func(id, ev string) LSN {
		var last LSN
		testkit.Eventually(t, func() bool {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var err error
			_, last, err = primary().n.AppendTenant(wctx, id, []byte(ev))
			return err == nil
		}, "append %q for %s", ev, id)
		return last
	}
	waitAll := func(lsn LSN) {
		for _, m := range ms {
			if m.n != nil {
				require.NoError(t, m.n.WaitFor(ctx, lsn), "%s applies LSN %d", m.id, lsn)
			}
		}
	}

	marker := "MARKER-tenant-a-5d1e"
	for i := range 10 {
		appendTenant("a", fmt.Sprintf("a-%d-%s", i, marker))
	}
	last := appendTenant("b", "b-0")
	waitAll(last)
	for _, m := range ms {
		assert.Len(t, m.sm.Events("a"), 10, "%s holds a's events", m.id)
		assert.Equal(t, []string{"b-0"}, m.sm.Events("b"), "%s holds b's", m.id)
	}

	p := primary()
	rc, err := p.n.ForgetTenant(ctx, "a", "account closed")
	require.NoError(t, err)
	waitAll(rc.LSN)
	slot := filepath.FromSlash(tenant.SlotName(p.n.tenants.tagger.Tag("a"), mustKeyID(t, rc.KeysDestroyed[0])))
	for _, m := range ms {
		assert.Nil(t, m.sm.Events("a"), "%s dropped a", m.id)
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
		assert.Equal(t, []string{"b-0", "b-1"}, m.sm.Events("b"), "%s", m.id)
		assert.Equal(t, []string{"a-again"}, m.sm.Events("a"), "%s", m.id)
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
