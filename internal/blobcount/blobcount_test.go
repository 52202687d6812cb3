package blobcount

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"
)

// TestCounts: each operation counts as the request S3 bills, bytes both
// ways, listings by page, and the store's error codes pass through.
func TestCounts(t *testing.T) {
	ctx := context.Background()
	inner := memblob.OpenBucket(nil)
	defer inner.Close()
	var c Counter
	b := Wrap(inner, &c)
	defer b.Close()

	for _, k := range []string{"a/1", "a/2", "a/3"} {
		require.NoError(t, b.WriteAll(ctx, k, []byte("hello"), nil))
	}
	err := b.WriteAll(ctx, "a/1", []byte("again"), &blob.WriterOptions{IfNotExist: true})
	assert.Equal(t, gcerrors.FailedPrecondition, gcerrors.Code(err), "IfNotExist's error passes through: %v", err)
	got, err := b.ReadAll(ctx, "a/2")
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
	_, err = b.ReadAll(ctx, "missing")
	assert.Equal(t, gcerrors.NotFound, gcerrors.Code(err))
	_, err = b.Attributes(ctx, "a/3")
	require.NoError(t, err)
	objs, next, err := b.ListPage(ctx, blob.FirstPageToken, 2, &blob.ListOptions{Prefix: "a/"})
	require.NoError(t, err)
	assert.Len(t, objs, 2)
	_, _, err = b.ListPage(ctx, next, 2, &blob.ListOptions{Prefix: "a/"})
	require.NoError(t, err)
	require.NoError(t, b.Delete(ctx, "a/1"))
	it := b.List(nil)
	for {
		if _, err := it.Next(ctx); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
	}

	// The refused PUT is a request, and its body was sent.
	assert.Equal(t, Counts{Put: 4, Get: 2, List: 3, Delete: 1, Head: 1, BytesUp: 20, BytesDown: 5}, c.Counts())
	require.NoError(t, b.Close())
	ok, err := inner.Exists(ctx, "a/2")
	require.NoError(t, err, "closing the wrapper leaves the bucket open")
	assert.True(t, ok)
}
