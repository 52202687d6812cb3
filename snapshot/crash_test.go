package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

var errCrash = errors.New("injected crash")

// TestCrashSweep stops Save and Prune at every object write and delete in
// turn, as if the process died there, then "restarts" (a new Repo whose
// clock is past LockStale, so leftovers count as stale) and checks that
// every snapshot that exists restores exactly, that Verify finds nothing,
// and that the next Prune completes and removes the leftovers.
func TestCrashSweep(t *testing.T) {
	for seed := range uint64(crashSweepRounds) {
		for _, op := range []string{"save", "prune"} {
			t.Run(fmt.Sprintf("seed-%d/%s", seed, op), func(t *testing.T) {
				for k := 0; ; k++ {
					finished := false
					if !t.Run(fmt.Sprintf("crash-at-%d", k), func(t *testing.T) {
						finished = crashAt(t, op, k, seed)
					}) || finished {
						return
					}
					require.LessOrEqual(t, k, 500, "sweep did not end")
				}
			})
		}
	}
}

// crashAt runs one crash scenario and reports whether op finished before
// its k-th mutation.
func crashAt(t *testing.T, op string, k int, seed uint64) (finished bool) {
	ctx := context.Background()
	b := memBucket(t)
	r := initRepo(t, b, testFormat)
	states := map[ID][]byte{}
	base := gen.Events(1+seed, 1<<20)
	for i := range 3 {
		d := append(bytes.Clone(base[:(i+1)<<18]), gen.Random(seed*10+uint64(i), 200<<10)...)
		m, _ := save(t, r, d)
		states[m.ID] = d
	}
	ms, err := r.List(ctx)
	require.NoError(t, err)
	require.NoError(t, r.Remove(ctx, ms[0].ID)) // gives Prune work: drop and repack

	var calls atomic.Int64
	r.fault = func(string, string) error {
		if calls.Add(1) > int64(k) {
			return errCrash
		}
		return nil
	}
	newState := gen.Edit(9+seed, base, 50, 200)
	var newID ID
	switch op {
	case "save":
		var m Manifest
		m, _, err = r.Save(ctx, bytes.NewReader(newState), Meta{})
		newID = m.ID
	case "prune":
		_, err = r.Prune(ctx, PruneOptions{MaxUnused: 0.01})
	}
	r.fault = nil
	if err == nil {
		require.LessOrEqual(t, calls.Load(), int64(k))
		if op == "save" {
			states[newID] = newState
		}
		finished = true
	} else {
		require.ErrorIs(t, err, errCrash)
	}

	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	opts := testOptions()
	opts.Now = later
	r2, err := Open(ctx, b, testKey, opts)
	require.NoError(t, err)
	defer r2.Close()
	check := func(when string) {
		t.Helper()
		ms, err := r2.List(ctx)
		require.NoError(t, err)
		require.Len(t, ms, len(states)-1, when) // one was removed
		for _, m := range ms {
			want, ok := states[m.ID]
			require.True(t, ok, "%s: unknown snapshot %s", when, m.ID.Short())
			require.True(t, bytes.Equal(want, restore(t, r2, m.ID)), "%s: snapshot %s", when, m.ID.Short())
		}
		rep, err := r2.Verify(ctx, VerifyOptions{ReadData: true})
		require.NoError(t, err)
		require.True(t, rep.OK(), "%s: %v", when, rep.Problems)
	}
	check("after crash")
	_, err = r2.Prune(ctx, PruneOptions{MaxUnused: 0.01})
	require.NoError(t, err)
	check("after recovery prune")
	// Nothing is left that no index names.
	r2.idxMu.RLock()
	indexed := map[string]bool{}
	for _, p := range r2.idx.packs {
		indexed[p.name()] = true
	}
	r2.idxMu.RUnlock()
	for _, n := range packNames(t, b) {
		assert.True(t, indexed[n], "leftover pack %s", n)
	}
	locks, err := listNames(ctx, b, locksPrefix)
	require.NoError(t, err)
	assert.Empty(t, locks)
	return finished
}
