package continuity

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/wal"
)

// TestTenantsAtScale: scaleTenants tenants on one node. It logs what
// they cost (time to make them, open time, heap per tenant: figures, not
// pass/fail) and checks what must hold at any scale: a base snapshot
// after one tenant changed stores that tenant's part alone as new data,
// and a node reopened from that snapshot holds every tenant.
func TestTenantsAtScale(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := Config{Dir: dir, Logger: quiet, SnapshotEvery: -1, SnapshotEveryBytes: -1, WAL: wal.Options{SegmentBytes: 256 << 10}}
	sm := testsm.NewTenants()
	n, err := Open(ctx, cfg, sm)
	require.NoError(t, err)
	defer func() {
		if n != nil {
			n.Close()
		}
	}()
	id := func(i int) string { return fmt.Sprintf("tenant-%05d", i) }

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, scaleTenants)
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				evs := make([][]byte, 5)
				for j := range evs {
					evs[j] = fmt.Appendf(nil, `{"tenant":%d,"event":%d,"body":"%s"}`, i, j, bytes.Repeat([]byte("x"), 100))
				}
				if _, _, err := n.AppendTenant(ctx, id(i), evs...); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range scaleTenants {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	made := time.Since(start)
	require.NoError(t, n.WaitFor(ctx, n.Log().Last()))
	require.Len(t, n.Tenants(), scaleTenants)

	m1, err := n.Snapshot(ctx)
	require.NoError(t, err)
	_, last, err := n.AppendTenant(ctx, id(scaleTenants/2), []byte(`{"changed":true}`))
	require.NoError(t, err)
	require.NoError(t, n.WaitFor(ctx, last))
	var part bytes.Buffer
	require.NoError(t, sm.SnapshotTenant(id(scaleTenants/2), &part))
	m2, err := n.Snapshot(ctx)
	require.NoError(t, err)
	st := n.Status().Archive.SnapshotStats
	assert.Equal(t, int64(1), st.ChunksNew, "one tenant changed: its part is the one new chunk (stats %+v)", st)
	// The part as stored: the state sealed, framed, with its header.
	assert.Less(t, st.NewBytes, int64(part.Len()+200), "new bytes for one changed tenant of %d state bytes", part.Len())
	t.Logf("%d tenants: made in %v; snapshot 1 stored %d bytes (%d chunks); one tenant changed (%d bytes of state): snapshot 2 stored %d bytes, %d new",
		scaleTenants, made.Round(time.Millisecond), m1.StoredBytes, m1.Chunks, part.Len(), st.StoredBytes, st.NewBytes)

	// Reopen from the base snapshot: the WAL cut past it.
	require.NoError(t, n.archiver().Flush(ctx))
	require.NoError(t, n.Log().TruncateFront(LSN(m2.LSN)))
	require.NoError(t, n.Close())
	n, sm = nil, nil // what the first life held is garbage now
	runtime.GC()
	runtime.GC() // sync.Pools keep their objects for one more cycle
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sm2 := testsm.NewTenants()
	start = time.Now()
	n, err = Open(ctx, cfg, sm2)
	require.NoError(t, err)
	opened := time.Since(start)
	require.Greater(t, n.Log().First(), LSN(1), "the WAL was cut: the node opened from the base snapshot")
	require.NoError(t, n.WaitFor(ctx, last))
	runtime.GC()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	require.Len(t, n.Tenants(), scaleTenants)
	assert.Len(t, sm2.TenantIDs(), scaleTenants, "every tenant's state restored from the base snapshot")
	assert.Len(t, sm2.Events(id(scaleTenants/2)), 6)
	perTenant := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / scaleTenants
	t.Logf("reopened from the base snapshot in %v; heap %d bytes per tenant (the node's registry and keys, and the test's state)", opened.Round(time.Millisecond), perTenant)
}
