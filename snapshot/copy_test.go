package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestCopyTo copies a repository into another bucket (every backend):
// the copy opens with the same key and restores every snapshot; a repeated
// copy of an unchanged repository moves 0 bytes; after a 1% edit it moves
// at most 1.1× what the new Save stored. Planted objects in the source
// are reported, not copied; a destination holding another repository is
// refused.
func TestCopyTo(t *testing.T) {
	testkit.RunBucketOpeners(t, func(t *testing.T, open func(testing.TB) *blob.Bucket) {
		ctx := context.Background()
		src, dst := open(t), open(t)
		r := initRepo(t, src, testFormat)
		rng := mrand.New(mrand.NewPCG(7, 8))
		state := make([]byte, 2<<20)
		for i := range state {
			state[i] = byte(rng.IntN(16)) // compressible, with structure
		}
		m1, _ := save(t, r, state)
		prefix := func(string) (int, bool) { return 0, true }

		st, err := r.CopyTo(ctx, dst, CopyOptions{SealedPrefix: prefix})
		require.NoError(t, err)
		assert.Positive(t, st.Copied)
		assert.Empty(t, st.Unauthenticated)
		assert.Empty(t, st.Conflicts)
		c, err := Open(ctx, dst, testKey, testOptions())
		require.NoError(t, err)
		defer c.Close()
		assert.True(t, bytes.Equal(state, restore(t, c, m1.ID)), "the copy restores the snapshot")

		again, err := r.CopyTo(ctx, dst, CopyOptions{SealedPrefix: prefix})
		require.NoError(t, err)
		assert.Zero(t, again.Bytes, "an unchanged repository moves nothing")
		assert.Zero(t, again.Copied)
		assert.Equal(t, again.Objects, again.Present)

		// 1% of the state changes: the copy moves about what Save stored.
		for range 20 {
			off := rng.IntN(len(state) - 1024)
			rand.Read(state[off : off+1024])
		}
		m2, saved := save(t, r, state)
		more, err := r.CopyTo(ctx, dst, CopyOptions{SealedPrefix: prefix})
		require.NoError(t, err)
		t.Logf("after a 1%% edit: Save stored %d bytes, the copy moved %d (%.3f×)", saved.StoredBytes, more.Bytes, float64(more.Bytes)/float64(saved.StoredBytes))
		assert.LessOrEqual(t, float64(more.Bytes), 1.1*float64(saved.StoredBytes))
		require.NoError(t, c.refreshIndex(ctx, false))
		assert.True(t, bytes.Equal(state, restore(t, c, m2.ID)), "the copy restores the new snapshot")
		rep, err := c.Verify(ctx, VerifyOptions{ReadData: true})
		require.NoError(t, err)
		assert.True(t, rep.OK(), "%v", rep.Problems)

		// Planted objects in the source are not copied. (A planted index
		// object stops every operation that loads the index, CopyTo too.)
		for _, name := range []string{"snapshots/00000000000000000000000000000000", "data/ff/ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "wal/planted"} {
			require.NoError(t, src.WriteAll(ctx, name, []byte("planted by someone with write access"), nil))
		}
		hostile, err := r.CopyTo(ctx, dst, CopyOptions{SealedPrefix: prefix})
		require.NoError(t, err)
		assert.Len(t, hostile.Unauthenticated, 3, "%v", hostile.Unauthenticated)
		assert.Zero(t, hostile.Copied)

		// Another repository is refused.
		other := open(t)
		initRepo(t, other, testFormat)
		_, err = r.CopyTo(ctx, other, CopyOptions{SealedPrefix: prefix})
		assert.ErrorIs(t, err, ErrExists)
	})
}

// TestCopyPlantedLarge: a planted 512 MiB sealed object is read only as
// far as its first piece before CopyTo refuses to copy it.
func TestCopyPlantedLarge(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	b, err := fileblob.OpenBucket(dir, nil)
	require.NoError(t, err)
	defer b.Close()
	r := initRepo(t, b, testFormat)
	for _, c := range []struct {
		name    string
		version uint16
	}{{"wal/planted-pieces", piecesVersion}, {"wal/planted-single", formatVersion}} {
		h := header{version: c.version, kind: kindSealed, salt: newSalt()}
		p := filepath.Join(dir, filepath.FromSlash(c.name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, h.append(nil), 0o600))
		require.NoError(t, os.Truncate(p, 512<<20)) // sparse
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st, err := r.CopyTo(ctx, memBucket(t), CopyOptions{SealedPrefix: func(string) (int, bool) { return 0, true }})
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"wal/planted-pieces", "wal/planted-single"}, st.Unauthenticated)
	n := after.TotalAlloc - before.TotalAlloc
	assert.Less(t, n, uint64(16<<20), "%d bytes allocated", n)
	t.Logf("CopyTo with two planted 512 MiB objects: %d KiB allocated", n>>10)
}

// TestCopyMissing: a sealed object deleted after it was named (to
// CopyObjects) or listed (by CopyTo), before it was read, is reported as
// Missing, not copied, and the rest is.
func TestCopyMissing(t *testing.T) {
	ctx := context.Background()
	raw, dst := testkit.Buckets(t)[0].Open(t), testkit.Buckets(t)[0].Open(t)
	vanish := "wal/vanishes-when-read"
	r := initRepo(t, testkit.FaultBucket(raw, func(ctx context.Context, op testkit.BucketOp) error {
		if op.Kind == "get" && op.Key == vanish {
			return raw.Delete(ctx, vanish) // a compaction or a prune, between the listing and the read
		}
		return nil
	}), testFormat)
	prefix := func(string) (int, bool) { return 0, true }
	for _, name := range []string{"wal/stays", vanish} {
		_, err := r.PutSealed(ctx, name, nil, []byte("sealed "+name))
		require.NoError(t, err)
	}
	st, err := r.CopyTo(ctx, dst, CopyOptions{SealedPrefix: prefix})
	require.NoError(t, err)
	assert.Equal(t, []string{vanish}, st.Missing, "CopyTo")
	ok, err := dst.Exists(ctx, "wal/stays")
	require.NoError(t, err)
	assert.True(t, ok, "the other object is copied")

	st, err = r.CopyObjects(ctx, dst, []string{vanish, "wal/stays"}, CopyOptions{SealedPrefix: prefix})
	require.NoError(t, err)
	assert.Equal(t, []string{vanish}, st.Missing, "CopyObjects")
	assert.Equal(t, 1, st.Present)
}
