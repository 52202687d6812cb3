package snapshot

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/gen"
	"github.com/continuity-go/continuity/internal/testkit"
)

// packNames lists the pack objects of a bucket.
func packNames(t testing.TB, b *blob.Bucket) []string {
	names, err := listNames(context.Background(), b, dataPrefix)
	require.NoError(t, err)
	return names
}

// failRestore restores id and checks that it fails with want and that
// what reached the writer is a prefix of the original.
func failRestore(t *testing.T, r *Repo, id ID, orig []byte, want error) error {
	t.Helper()
	var out bytes.Buffer
	err := r.Restore(context.Background(), id, &out)
	require.Error(t, err)
	assert.ErrorIs(t, err, want)
	assert.True(t, bytes.HasPrefix(orig, out.Bytes()), "restore wrote bytes that are not a prefix of the state")
	return err
}

// TestDamage checks that each kind of damage gives its own typed error,
// and that nothing wrong reaches the restore writer, on every backend.
func TestDamage(t *testing.T) {
	for _, bk := range testkit.Buckets(t) {
		t.Run(bk.Name, func(t *testing.T) { testDamage(t, bk.Open) })
	}
}

func testDamage(t *testing.T, open func(testing.TB) *blob.Bucket) {
	ctx := context.Background()
	data := gen.Events(3, 1<<20)
	setup := func(t *testing.T) (*blob.Bucket, *Repo, Manifest) {
		b := open(t)
		r := initRepo(t, b, testFormat)
		m, _ := save(t, r, data)
		return b, r, m
	}
	exclusive := []error{ErrMissing, ErrCorrupt, ErrTruncated, ErrReplayed, ErrWrongKey}
	only := func(t *testing.T, err, want error) {
		t.Helper()
		for _, e := range exclusive {
			if e != want {
				assert.NotErrorIs(t, err, e)
			}
		}
	}

	t.Run("wrong key", func(t *testing.T) {
		b, _, _ := setup(t)
		_, err := Open(ctx, b, RawKey([32]byte{9}), testOptions())
		assert.ErrorIs(t, err, ErrWrongKey)
		only(t, err, ErrWrongKey)
		_, err = Open(ctx, b, testPassphrase("x"), testOptions())
		assert.ErrorIs(t, err, ErrWrongKey, "a provider of another kind finds no slot")
	})
	t.Run("tampered pack byte", func(t *testing.T) {
		b, r, m := setup(t)
		for _, name := range packNames(t, b) {
			raw, err := b.ReadAll(ctx, name)
			require.NoError(t, err)
			raw[headerSize+100] ^= 0x20
			require.NoError(t, b.WriteAll(ctx, name, raw, nil))
		}
		err := failRestore(t, r, m.ID, data, ErrCorrupt)
		only(t, err, ErrCorrupt)
		var oe *ObjectError
		require.ErrorAs(t, err, &oe)
		assert.True(t, strings.HasPrefix(oe.Object, dataPrefix), oe.Object)
	})
	t.Run("truncated pack", func(t *testing.T) {
		b, r, m := setup(t)
		names := packNames(t, b)
		for _, name := range names {
			raw, err := b.ReadAll(ctx, name)
			require.NoError(t, err)
			require.NoError(t, b.WriteAll(ctx, name, raw[:len(raw)/2], nil))
		}
		err := failRestore(t, r, m.ID, data, ErrTruncated)
		only(t, err, ErrTruncated)
	})
	t.Run("missing pack", func(t *testing.T) {
		b, r, m := setup(t)
		names := packNames(t, b)
		require.NoError(t, b.Delete(ctx, names[len(names)-1]))
		err := failRestore(t, r, m.ID, data, ErrMissing)
		only(t, err, ErrMissing)
	})
	t.Run("replayed manifest", func(t *testing.T) {
		b, r, m := setup(t)
		raw, err := b.ReadAll(ctx, manifestName(m.ID))
		require.NoError(t, err)
		var fake ID
		fake[0] = 0xAB
		require.NoError(t, b.WriteAll(ctx, manifestName(fake), raw, nil))
		err = failRestore(t, r, fake, data, ErrReplayed)
		only(t, err, ErrReplayed)
		_, err = r.List(ctx)
		assert.ErrorIs(t, err, ErrReplayed)
	})
	t.Run("tampered manifest", func(t *testing.T) {
		b, r, m := setup(t)
		raw, err := b.ReadAll(ctx, manifestName(m.ID))
		require.NoError(t, err)
		raw[len(raw)-1] ^= 1
		require.NoError(t, b.WriteAll(ctx, manifestName(m.ID), raw, nil))
		err = failRestore(t, r, m.ID, data, ErrCorrupt)
		only(t, err, ErrCorrupt)
	})
	t.Run("missing snapshot", func(t *testing.T) {
		_, r, _ := setup(t)
		err := r.Restore(ctx, ID{1}, &bytes.Buffer{})
		assert.ErrorIs(t, err, ErrNotFound)
	})
	t.Run("index damaged", func(t *testing.T) {
		b, _, _ := setup(t)
		names, err := listNames(ctx, b, indexPrefix)
		require.NoError(t, err)
		raw, err := b.ReadAll(ctx, names[0])
		require.NoError(t, err)
		raw[headerSize+3] ^= 1
		require.NoError(t, b.WriteAll(ctx, names[0], raw, nil))
		_, err = Open(ctx, b, testKey, testOptions())
		assert.ErrorIs(t, err, ErrCorrupt)
	})
	t.Run("no repository", func(t *testing.T) {
		_, err := Open(ctx, open(t), testKey, testOptions())
		assert.ErrorIs(t, err, ErrNoRepository)
	})
	t.Run("init twice", func(t *testing.T) {
		b, _, _ := setup(t)
		_, err := Init(ctx, b, testKey, testFormat, testOptions())
		assert.ErrorIs(t, err, ErrExists)
	})
	t.Run("failing writer", func(t *testing.T) {
		_, r, m := setup(t)
		werr := errors.New("disk full")
		err := r.Restore(ctx, m.ID, failWriter{werr})
		assert.ErrorIs(t, err, werr)
	})
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
