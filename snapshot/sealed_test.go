package snapshot

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/gen"
)

// TestSeal: a sealed object opens under its name in its repository only;
// another name, another repository, a flipped bit or a cut each give an
// *ObjectError naming the object.
func TestSeal(t *testing.T) {
	ctx := context.Background()
	r := initRepo(t, memBucket(t), testFormat)
	other := initRepo(t, memBucket(t), testFormat)
	sealed, err := r.Seal("wal/a", []byte("clear"), []byte("secret body"))
	require.NoError(t, err)
	prefix, body, err := r.Unseal("wal/a", 5, sealed)
	require.NoError(t, err)
	require.Equal(t, "clear", string(prefix))
	require.Equal(t, "secret body", string(body))

	flipped := append([]byte(nil), sealed...)
	flipped[len(flipped)-3] ^= 1
	prefixFlipped := append([]byte(nil), sealed...)
	prefixFlipped[headerSize+1] ^= 1
	for _, c := range []struct {
		name  string
		repo  *Repo
		obj   string
		data  []byte
		cause error
	}{
		{"renamed", r, "wal/b", sealed, ErrCorrupt},
		{"other repository", other, "wal/a", sealed, ErrCorrupt},
		{"flipped body", r, "wal/a", flipped, ErrCorrupt},
		{"flipped prefix", r, "wal/a", prefixFlipped, ErrCorrupt},
		{"cut", r, "wal/a", sealed[:headerSize+5+3], ErrTruncated},
		{"header only", r, "wal/a", sealed[:20], ErrTruncated},
	} {
		_, _, err := c.repo.Unseal(c.obj, 5, c.data)
		var oe *ObjectError
		if !errors.As(err, &oe) || !errors.Is(err, c.cause) || oe.Object != c.obj {
			t.Errorf("%s: %v, want an ObjectError %v naming %s", c.name, err, c.cause, c.obj)
		}
	}
	require.NoError(t, r.WriteObject(ctx, "wal/a", sealed))
	got, err := r.ReadObject(ctx, "wal/a", 1<<20)
	require.NoError(t, err)
	require.Equal(t, sealed, got)
	_, err = r.ReadObject(ctx, "wal/a", 10)
	require.ErrorIs(t, err, ErrCorrupt)
	require.NoError(t, r.DeleteObject(ctx, "wal/a"))
	require.NoError(t, r.DeleteObject(ctx, "wal/a"), "deleting twice")
	_, err = r.ReadObject(ctx, "wal/a", 1<<20)
	require.ErrorIs(t, err, ErrMissing)
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
