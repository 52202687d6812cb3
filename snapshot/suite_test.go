package snapshot

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/gen"
	"github.com/continuity-go/continuity/internal/testkit"
)

// TestBuckets runs the repository's life cycle on every object store
// backend: file://, mem:// and S3 (versitygw, started by .ci/run).
func TestBuckets(t *testing.T) {
	testkit.RunBuckets(t, func(t *testing.T, b *blob.Bucket) {
		ctx := context.Background()
		r, err := Init(ctx, b, testKey, testFormat, testOptions())
		require.NoError(t, err)
		defer r.Close()
		_, err = Init(ctx, b, testKey, testFormat, testOptions())
		require.ErrorIs(t, err, ErrExists)

		v1 := gen.Events(1, 3<<20)
		v2 := gen.Edit(2, v1, 30, 100)
		m1, _ := save(t, r, v1)
		m2, st := save(t, r, v2)
		assert.Less(t, st.NewBytes, int64(len(v2))/4)

		r2, err := Open(ctx, b, testKey, testOptions())
		require.NoError(t, err)
		defer r2.Close()
		assert.True(t, bytes.Equal(v1, restore(t, r2, m1.ID)))
		assert.True(t, bytes.Equal(v2, restore(t, r2, m2.ID)))

		require.NoError(t, r2.Remove(ctx, m1.ID))
		_, err = r2.Prune(ctx, PruneOptions{MaxUnused: 0.01})
		require.NoError(t, err)
		assert.True(t, bytes.Equal(v2, restore(t, r, m2.ID)))
		rep, err := r.Verify(ctx, VerifyOptions{ReadData: true})
		require.NoError(t, err)
		require.True(t, rep.OK(), "%v", rep.Problems)
		assert.Equal(t, 1, rep.Snapshots)

		// Damage is told apart on every backend.
		names := packNames(t, b)
		require.NotEmpty(t, names)
		require.NoError(t, b.Delete(ctx, names[0]))
		rep, err = r.Verify(ctx, VerifyOptions{})
		require.NoError(t, err)
		require.Len(t, rep.Problems, 1)
		assert.ErrorIs(t, rep.Problems[0].Err, ErrMissing)
		failRestore(t, r, m2.ID, v2, ErrMissing)
	})
}
