package continuity

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/wal"
)

// TestForgetWhileAppending: writers append to a tenant while it is
// forgotten. Every append acknowledged at an LSN after the forget record
// re-created the tenant: the state holds it. None is acknowledged and
// then skipped as shredded.
func TestForgetWhileAppending(t *testing.T) {
	ctx := t.Context()
	sm := testsm.NewTenants()
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet}, sm)
	require.NoError(t, err)
	defer n.Close()
	_, _, err = n.AppendTenant(ctx, "a", []byte("first"))
	require.NoError(t, err)

	const writers = 8
	var (
		mu    sync.Mutex
		acked = map[wal.LSN]string{}
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ev := fmt.Sprintf("w%d-%d", w, i)
				_, lsn, err := n.AppendTenant(ctx, "a", []byte(ev))
				if err != nil {
					t.Errorf("writer %d: %v", w, err) // the gate makes an append wait, not fail
					return
				}
				mu.Lock()
				acked[lsn] = ev
				mu.Unlock()
			}
		}()
	}
	// Some appends before and after the forget. Bounded: writers that
	// failed append nothing more.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	require.NoError(t, n.WaitFor(wctx, n.Log().Last()+200))
	receipt, err := n.ForgetTenant(ctx, "a", "race")
	require.NoError(t, err)
	require.NoError(t, n.WaitFor(wctx, receipt.LSN+200))
	close(stop)
	wg.Wait()
	require.NoError(t, n.WaitFor(ctx, n.Log().Last()))

	var after []wal.LSN
	for lsn := range acked {
		if lsn > receipt.LSN {
			after = append(after, lsn)
		}
	}
	slices.Sort(after)
	require.NotEmpty(t, after)
	held := map[string]bool{}
	for _, ev := range sm.Events("a") {
		held[ev] = true
	}
	var lost []string
	for _, lsn := range after {
		if !held[acked[lsn]] {
			lost = append(lost, fmt.Sprintf("%s at LSN %d", acked[lsn], lsn))
		}
	}
	require.Empty(t, lost, "acknowledged after the forget record (LSN %d), not in the state", receipt.LSN)
}

// TestLockGateGivesUp: ForgetTenant stops waiting for the appends in
// flight when its ctx is done, and the gate it gave up on is free again
// once they finish.
func TestLockGateGivesUp(t *testing.T) {
	var gate sync.RWMutex
	gate.RLock() // an append in flight
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, lockGate(ctx, &gate), context.Canceled)
	gate.RUnlock()
	// Blocks for good if the given-up lock were kept.
	require.NoError(t, lockGate(t.Context(), &gate))
	gate.Unlock()
}
