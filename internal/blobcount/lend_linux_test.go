package blobcount

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/blobview"
	"github.com/continuity-go/continuity/localblob"
)

// TestLentRangeCounts: a range the bucket lends instead of copying
// (blobview) counts its bytes as read, as a Read of them would.
func TestLentRangeCounts(t *testing.T) {
	ctx := context.Background()
	inner, err := localblob.OpenBucket(t.TempDir(), nil)
	require.NoError(t, err)
	defer inner.Close()
	var c Counter
	b := Wrap(inner, &c)
	defer b.Close()
	require.NoError(t, b.WriteAll(ctx, "p", make([]byte, 1<<20), nil))
	rd, err := b.NewRangeReader(ctx, "p", 1000, 300<<10, nil)
	require.NoError(t, err)
	var v blobview.View
	require.True(t, rd.As(&v))
	require.Len(t, v.Bytes, 300<<10)
	require.NoError(t, rd.Close())
	assert.Equal(t, Counts{Put: 1, Get: 1, BytesUp: 1 << 20, BytesDown: 300 << 10}, c.Counts())
}
