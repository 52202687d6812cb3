package wal

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHoldRefusesTruncateFront(t *testing.T) {
	l, err := Open(t.TempDir(), Options{SegmentBytes: 64 << 10, DisablePreallocation: true})
	require.NoError(t, err)
	defer l.Close()
	ctx := context.Background()
	for i := 0; i < 2000; i++ {
		_, _, err := l.Append(ctx, make([]byte, 200))
		require.NoError(t, err)
	}
	l.Hold("archive", 500)
	l.Hold("standby", 800)
	err = l.TruncateFront(900)
	require.ErrorIs(t, err, ErrHeld)
	var he *HoldError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, HoldError{Holder: "archive", Held: 500, Requested: 900}, *he, "TruncateFront(900) must name the lowest hold")
	assert.Equal(t, LSN(1), l.First(), "a refused TruncateFront moved First")
	require.NoError(t, l.TruncateFront(500), "TruncateFront up to the hold")
	assert.LessOrEqual(t, l.First(), LSN(500), "First past the hold")
	l.Hold("archive", 1500)
	err = l.TruncateFront(900)
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "standby", he.Holder, "TruncateFront(900) must name the standby's hold")
	l.Release("standby")
	require.NoError(t, l.TruncateFront(1500))
	assert.Equal(t, map[string]LSN{"archive": 1500}, l.Holds())
}
