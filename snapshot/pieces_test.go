package snapshot

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob/fileblob"
)

// TestPiecesRoundTrip: bodies around the piece size open again; cutting,
// reordering or extending the pieces does not.
func TestPiecesRoundTrip(t *testing.T) {
	k, err := deriveKeyring(bytes.Repeat([]byte{5}, masterKeySize), [repoIDSize]byte{2})
	require.NoError(t, err)
	for _, n := range []int{0, 1, pieceSize - 1, pieceSize, pieceSize + 1, 3 * pieceSize} {
		body := bytes.Repeat([]byte{byte(n)}, n)
		obj, err := k.sealPieces(kindSealed, []byte("pre"), body, "wal/x")
		require.NoError(t, err)
		require.Equal(t, int64(headerSize+3+n)+piecesOverhead(int64(n)), int64(len(obj)), "size for %d", n)
		open := func(b []byte) ([]byte, error) {
			_, _, got, err := k.openFrom(bytes.NewReader(b), int64(len(b)), "wal/x", kindSealed, 3, 1<<30, true)
			return got, err
		}
		got, err := open(obj)
		require.NoError(t, err, "%d bytes", n)
		require.Equal(t, body, got)

		_, _, _, err = k.openFrom(bytes.NewReader(obj), int64(len(obj)), "wal/y", kindSealed, 3, 1<<30, true)
		assert.ErrorIs(t, err, ErrCorrupt, "another name, %d bytes", n)
		_, err = open(append(append([]byte{}, obj...), 0))
		assert.Error(t, err, "a byte appended, %d bytes", n)
		_, err = open(obj[:len(obj)-1])
		assert.Error(t, err, "the last byte cut, %d bytes", n)
		if n > pieceSize {
			piece := pieceSize + tagSize
			start := headerSize + 3
			_, err = open(obj[:start+piece]) // only the first piece: not the last
			assert.ErrorIs(t, err, ErrCorrupt, "cut after piece 0, %d bytes", n)
		}
		if n >= 2*pieceSize {
			piece := pieceSize + tagSize
			start := headerSize + 3
			swapped := append([]byte{}, obj...)
			copy(swapped[start:], obj[start+piece:start+2*piece])
			copy(swapped[start+piece:], obj[start:start+piece])
			_, err = open(swapped)
			assert.ErrorIs(t, err, ErrCorrupt, "pieces swapped, %d bytes", n)
		}
	}
}

// TestPlantedLargeObjects: an object planted in the bucket under a name
// the repository reads, claiming 512 MiB, fails after at most one piece
// (or, in the single-piece format, by its size; a pack by its trailer,
// read by range), with little allocated; so does a real object with
// 512 MiB appended, a piece past what authenticated.
func TestPlantedLargeObjects(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	b, err := fileblob.OpenBucket(dir, nil)
	require.NoError(t, err)
	defer b.Close()
	r := initRepo(t, b, testFormat)
	plant := func(version uint16, kind byte) func(name string) {
		return func(name string) {
			h := header{version: version, kind: kind, salt: newSalt()}
			p := filepath.Join(dir, filepath.FromSlash(name))
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
			require.NoError(t, os.WriteFile(p, h.append(nil), 0o600))
			require.NoError(t, os.Truncate(p, 512<<20)) // sparse
		}
	}
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	getSealed := func(name string) error {
		_, _, err := r.GetSealed(ctx, name, 0, 1<<30)
		return err
	}
	for _, c := range []struct {
		name  string
		make  func(name string)
		read  func(name string) error
		limit uint64 // bytes allocated by read, at most
	}{
		{"wal/planted-pieces", plant(piecesVersion, kindSealed), getSealed, 8 << 20},
		// A real object of 3 pieces with 512 MiB of zeros appended: the
		// body grows to hold the 2 MiB that authenticated and one piece
		// more, about 6 MiB over its growth, not 512.
		{"wal/extended", func(name string) {
			_, err := r.PutSealed(ctx, name, nil, make([]byte, 3*pieceSize))
			require.NoError(t, err)
			require.NoError(t, os.Truncate(filepath.Join(dir, filepath.FromSlash(name)), 512<<20))
		}, getSealed, 16 << 20},
		{"wal/planted-single", plant(formatVersion, kindSealed), getSealed, 8 << 20},
		{dataPrefix + "ab/ab000000000000000000000000000000", plant(formatVersion, kindPack), func(name string) error {
			_, err := r.readPackIndex(ctx, name)
			return err
		}, 8 << 20},
		{indexPrefix + "00000000000000000000000000000000", plant(piecesVersion, kindIndex), func(name string) error {
			_, err := r.readIndexObject(ctx, name)
			return err
		}, 8 << 20},
	} {
		c.make(c.name)
		var err error
		n := allocated(func() { err = c.read(c.name) })
		assert.ErrorIs(t, err, ErrCorrupt, c.name)
		assert.Less(t, n, c.limit, "%s: %d bytes allocated", c.name, n)
		t.Logf("%s: %v; %d KiB allocated", c.name, err, n>>10)
	}
}
