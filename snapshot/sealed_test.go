package snapshot

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
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
