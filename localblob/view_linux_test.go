package localblob

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/blobview"
	"github.com/continuity-go/continuity/internal/vfs"
)

// TestViewLendsTheRange: a range of at least minViewBytes is lent as the
// file's bytes, valid until Close; a shorter range, a reader already
// read from, and a bucket on a file system of no files of the operating
// system read as usual.
func TestViewLendsTheRange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openFS(t, vfs.Default(), dir)
	data := make([]byte, 3*minViewBytes+123)
	rand.Read(data)
	require.NoError(t, b.WriteAll(ctx, "packs/p", data, nil))

	for _, r := range []struct{ off, n int64 }{{0, minViewBytes}, {4097, 2 * minViewBytes}, {int64(len(data)) - minViewBytes, -1}} {
		rd, err := b.NewRangeReader(ctx, "packs/p", r.off, r.n, nil)
		require.NoError(t, err)
		var v blobview.View
		require.True(t, rd.As(&v), "range %d+%d", r.off, r.n)
		want := data[r.off:]
		if r.n >= 0 {
			want = want[:r.n]
		}
		require.Equal(t, want, v.Bytes)
		var again blobview.View
		require.True(t, rd.As(&again))
		require.Equal(t, &v.Bytes[0], &again.Bytes[0], "a second As lends the same mapping")
		require.NoError(t, rd.Close())
	}

	short, err := b.NewRangeReader(ctx, "packs/p", 0, minViewBytes-1, nil)
	require.NoError(t, err)
	var v blobview.View
	require.False(t, short.As(&v))
	require.NoError(t, short.Close())

	read, err := b.NewRangeReader(ctx, "packs/p", 0, 2*minViewBytes, nil)
	require.NoError(t, err)
	_, err = io.ReadFull(read, make([]byte, 10))
	require.NoError(t, err)
	require.False(t, read.As(&v), "a reader read from lends nothing")
	rest, err := io.ReadAll(read)
	require.NoError(t, err)
	require.Equal(t, data[10:2*minViewBytes], rest)
	require.NoError(t, read.Close())

	mem := openFS(t, vfs.NewMem(), "/bucket")
	require.NoError(t, mem.WriteAll(ctx, "packs/p", data, nil))
	rd, err := mem.NewRangeReader(ctx, "packs/p", 0, -1, nil)
	require.NoError(t, err)
	require.False(t, rd.As(&v), "no mapping of a file the OS does not hold")
	require.NoError(t, rd.Close())
}

// TestViewFaultIsRecovered: reading a lent range whose file was truncated
// under it faults; a goroutine with SetPanicOnFault recovers an error
// that blobview.Fault names, instead of the process crashing.
func TestViewFaultIsRecovered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openFS(t, vfs.Default(), dir)
	data := make([]byte, 4*minViewBytes)
	rand.Read(data)
	require.NoError(t, b.WriteAll(ctx, "packs/p", data, nil))
	rd, err := b.NewRangeReader(ctx, "packs/p", 0, -1, nil)
	require.NoError(t, err)
	defer rd.Close()
	var v blobview.View
	require.True(t, rd.As(&v))
	require.NoError(t, os.Truncate(filepath.Join(dir, "packs", "p"), 0))

	got := make(chan error, 1)
	go func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() { got <- blobview.Fault(recover(), v.Bytes) }()
		var sum byte
		for _, c := range v.Bytes {
			sum += c
		}
		t.Errorf("read %d truncated bytes (sum %d) without a fault", len(v.Bytes), sum)
	}()
	err = <-got
	require.Error(t, err)
	require.ErrorIs(t, err, blobview.ErrFault)
}
