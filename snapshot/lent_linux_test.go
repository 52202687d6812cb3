package snapshot

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/blobview"
	"github.com/continuity-go/continuity/internal/gen"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/localblob"
)

// lendingRepo is a repository with the default format in a localblob
// bucket at dir, which lends the ranges Restore reads (blobview); hook
// hears every operation.
func lendingRepo(t *testing.T, dir string, hook func(context.Context, testkit.BucketOp) error) *Repo {
	t.Helper()
	lb, err := localblob.OpenBucket(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { lb.Close() })
	b := testkit.FaultBucket(lb, hook)
	t.Cleanup(func() { b.Close() })
	r, err := Init(context.Background(), b, testKey, Format{}, Options{Workers: 2, Uploads: 2})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

// TestRestoreFromLentRanges: a restore that decrypts straight out of the
// bucket's mapped files gives the state back, for compressed and raw
// chunks.
func TestRestoreFromLentRanges(t *testing.T) {
	for _, kind := range []string{"events", "random"} {
		t.Run(kind, func(t *testing.T) {
			var lends atomic.Int64
			r := lendingRepo(t, t.TempDir(), func(_ context.Context, op testkit.BucketOp) error {
				if op.Kind == "lend" {
					lends.Add(1)
				}
				return nil
			})
			data := gen.Random(3, 3<<20+77)
			if kind == "events" {
				data = gen.Events(3, 3<<20+77)
			}
			m, _ := save(t, r, data)
			require.True(t, bytes.Equal(data, restore(t, r, m.ID)), "restored state differs")
			require.Positive(t, lends.Load(), "no range was lent: the test does not reach the mapped path")
		})
	}
}

// restoreDamagedWhileMapped saves 2 MiB of random bytes (seed) in a
// lending repository, then restores them while damage changes the pack
// file (its path) of the first range lent. It returns what reached the
// output, the state, the damaged pack's name and the
// restore's error.
func restoreDamagedWhileMapped(t *testing.T, seed uint64, damage func(path string) error) (out, data []byte, pack string, err error) {
	t.Helper()
	dir := t.TempDir()
	var armed atomic.Bool
	var damaged atomic.Value // the pack's name
	r := lendingRepo(t, dir, func(_ context.Context, op testkit.BucketOp) error {
		if op.Kind == "lend" && armed.CompareAndSwap(true, false) {
			damaged.Store(op.Key)
			return damage(filepath.Join(dir, filepath.FromSlash(op.Key)))
		}
		return nil
	})
	data = gen.Random(seed, 2<<20)
	m, _ := save(t, r, data)
	armed.Store(true)
	var buf bytes.Buffer
	err = r.Restore(context.Background(), m.ID, &buf)
	require.False(t, armed.Load(), "no range was lent")
	return buf.Bytes(), data, damaged.Load().(string), err
}

// TestRestoreOfAPackTruncatedWhileMapped: a pack file cut short after the
// bucket mapped it (a hostile or broken writer of the directory) makes
// Restore fail with ErrTruncated naming the pack, not crash the process
// with SIGBUS.
func TestRestoreOfAPackTruncatedWhileMapped(t *testing.T) {
	_, _, pack, err := restoreDamagedWhileMapped(t, 4, func(path string) error { return os.Truncate(path, 100) })
	require.ErrorIs(t, err, ErrTruncated)
	var oe *ObjectError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, pack, oe.Object)
	require.ErrorIs(t, err, blobview.ErrFault)
}

// TestRestoreOfAPackChangedWhileMapped: bytes of a pack overwritten after
// the bucket mapped it (they show through the mapping at once) fail the
// restore as corrupt; nothing changed reaches the output unchecked.
func TestRestoreOfAPackChangedWhileMapped(t *testing.T) {
	out, data, _, err := restoreDamagedWhileMapped(t, 5, func(path string) error {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteAt(bytes.Repeat([]byte{0xA5}, 4096), 200<<10)
		return err
	})
	require.ErrorIs(t, err, ErrCorrupt)
	require.True(t, bytes.HasPrefix(data, out), "the output is not a prefix of the state")
}
