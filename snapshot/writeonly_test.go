package snapshot

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestSaveWithoutDelete saves through credentials that may put, get and
// list but not delete (versitygw's write-only user on the S3 leg): each
// Save releases its lock by writing it over as stale, so a Prune with
// full credentials runs at once instead of waiting LockStale, and Unlock
// then removes the lock objects.
func TestSaveWithoutDelete(t *testing.T) {
	for _, bk := range testkit.WriteOnlyBuckets(t) {
		t.Run(bk.Name, func(t *testing.T) {
			ctx := context.Background()
			full, writeOnly := bk.Open(t)
			opts := testOptions()
			opts.LockWait = time.Second // a leftover live lock fails Prune fast
			admin, err := Init(ctx, full, testKey, testFormat, opts)
			require.NoError(t, err)
			defer admin.Close()
			archiver, err := Open(ctx, writeOnly, testKey, opts)
			require.NoError(t, err)
			defer archiver.Close()

			rng := rand.New(rand.NewPCG(5, 6))
			var ids []ID
			var states [][]byte
			for range 3 {
				data := make([]byte, 300<<10)
				for i := range data {
					data[i] = byte(rng.IntN(4)) // compressible, some dedup
				}
				m, _ := save(t, archiver, data)
				ids, states = append(ids, m.ID), append(states, data)
			}
			locks, err := listNames(ctx, full, locksPrefix)
			require.NoError(t, err)
			assert.NotEmpty(t, locks, "the write-only Saves could not delete their locks")
			live, err := admin.findConflict(ctx, true, "")
			require.NoError(t, err)
			assert.Nil(t, live, "every lock left is stale (released)")

			_, err = admin.Forget(ctx, Policy{Last: 1}, false) // keeps the newest
			require.NoError(t, err)
			_, err = admin.Prune(ctx, PruneOptions{})
			require.NoError(t, err, "Prune with full credentials does not wait for the released locks")
			n, err := admin.Unlock(ctx, false)
			require.NoError(t, err)
			assert.Equal(t, len(locks), n, "Unlock removes the released locks")
			assert.True(t, bytes.Equal(states[2], restore(t, admin, ids[2])), "the kept snapshot restores")
		})
	}
}
