package snapshot

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/gen"
)

// TestSealedObjects: a sealed object opens under its name in its
// repository only; another name, another repository, a flipped bit or a
// cut each give an *ObjectError naming the object. It is written once,
// read within its bounds, listed, and deleted; the repository's own
// objects cannot be reached through it.
func TestSealedObjects(t *testing.T) {
	ctx := context.Background()
	b, otherBucket := memBucket(t), memBucket(t)
	r := initRepo(t, b, testFormat)
	other := initRepo(t, otherBucket, testFormat)
	n, err := r.PutSealed(ctx, "wal/a", []byte("clear"), []byte("secret body"))
	require.NoError(t, err)
	sealed, err := b.ReadAll(ctx, "wal/a")
	require.NoError(t, err)
	require.EqualValues(t, len(sealed), n)
	prefix, body, err := r.GetSealed(ctx, "wal/a", 5, 1<<20)
	require.NoError(t, err)
	require.Equal(t, "clear", string(prefix))
	require.Equal(t, "secret body", string(body))
	_, err = r.PutSealed(ctx, "wal/a", []byte("clear"), []byte("other body"))
	require.ErrorIs(t, err, ErrObjectExists, "an object is written once")

	flipped := append([]byte(nil), sealed...)
	flipped[len(flipped)-3] ^= 1
	prefixFlipped := append([]byte(nil), sealed...)
	prefixFlipped[headerSize+1] ^= 1
	for _, c := range []struct {
		name   string
		bucket *blob.Bucket
		repo   *Repo
		obj    string
		data   []byte
		cause  error
	}{
		{"renamed", b, r, "wal/b", sealed, ErrCorrupt},
		{"other repository", otherBucket, other, "wal/a", sealed, ErrCorrupt},
		{"flipped body", b, r, "wal/c", flipped, ErrCorrupt},
		{"flipped prefix", b, r, "wal/d", prefixFlipped, ErrCorrupt},
		{"cut", b, r, "wal/e", sealed[:headerSize+5+3], ErrTruncated},
		{"header only", b, r, "wal/f", sealed[:20], ErrTruncated},
		{"larger than its bound", b, r, "wal/g", append(sealed[:len(sealed):len(sealed)], make([]byte, 1<<20)...), ErrCorrupt},
		{"missing", b, r, "wal/none", nil, ErrMissing},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.data != nil {
				require.NoError(t, c.bucket.WriteAll(ctx, c.obj, c.data, nil))
			}
			_, _, err := c.repo.GetSealed(ctx, c.obj, 5, 1<<20)
			var oe *ObjectError
			require.ErrorAs(t, err, &oe)
			assert.ErrorIs(t, err, c.cause)
			assert.Equal(t, c.obj, oe.Object)
		})
	}

	list, err := r.ListObjects(ctx, "wal/", "")
	require.NoError(t, err)
	require.Len(t, list, 7)
	assert.Equal(t, ObjectInfo{Name: "wal/a", Size: n}, list[0])
	dirs, err := r.ListObjects(ctx, "", "/")
	require.NoError(t, err)
	assert.Contains(t, dirs, ObjectInfo{Name: "wal/", IsDir: true})

	require.NoError(t, r.DeleteObject(ctx, "wal/a"))
	require.NoError(t, r.DeleteObject(ctx, "wal/a"), "deleting twice")
	_, _, err = r.GetSealed(ctx, "wal/a", 5, 1<<20)
	require.ErrorIs(t, err, ErrMissing)

	for _, name := range []string{"config", "keys/x", "data/00/x", "index/x", "snapshots/x", "locks/x", ""} {
		assert.Error(t, r.DeleteObject(ctx, name), name)
		_, err := r.PutSealed(ctx, name, nil, nil)
		assert.Error(t, err, name)
		_, _, err = r.GetSealed(ctx, name, 0, 1<<20)
		assert.Error(t, err, name)
	}
	_, err = b.ReadAll(ctx, "config")
	require.NoError(t, err, "the repository's config is untouched")
}

// TestVerifyReportsEachObjectOnce: a missing pack is reported once, also
// when it holds tree blocks (found both by the tree walk and by the check
// of indexed packs), with every affected snapshot.
func TestVerifyReportsEachObjectOnce(t *testing.T) {
	ctx := context.Background()
	// The chunk list is cut into tree blocks where ten bits of a (keyed)
	// chunk ID are zero: with ~1,500 chunks a repository's key gives none
	// about one time in five. Take repositories until one has them.
	var b *blob.Bucket
	var r *Repo
	var m Manifest
	for attempt := 0; ; attempt++ {
		b = memBucket(t)
		r = initRepo(t, b, testFormat)
		var st Stats
		m, st = save(t, r, gen.Random(3, 12<<20))
		if int64(len(m.root)) < st.Chunks {
			break // tree blocks
		}
		require.Less(t, attempt, 20, "no repository key gave tree blocks")
	}
	names := packNames(t, b)
	require.NotEmpty(t, names)
	for _, name := range names {
		data, err := b.ReadAll(ctx, name)
		require.NoError(t, err)
		require.NoError(t, b.Delete(ctx, name))
		rep, err := r.Verify(ctx, VerifyOptions{})
		require.NoError(t, err)
		seen := map[string]bool{}
		for _, p := range rep.Problems {
			require.False(t, seen[p.Object], "%s reported twice: %v", p.Object, rep.Problems)
			seen[p.Object] = true
		}
		require.True(t, seen[name], "missing %s not reported: %v", name, rep.Problems)
		require.Contains(t, rep.Problems[0].Snapshots, m.ID)
		require.NoError(t, b.WriteAll(ctx, name, data, nil))
	}
}
