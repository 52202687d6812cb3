package snapshot

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClosed(t *testing.T) {
	r := initRepo(t, memBucket(t), testFormat)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	_, _, err := r.Save(context.Background(), strings.NewReader("x"), Meta{})
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, r.Restore(context.Background(), ID{}, io.Discard), ErrClosed)
	_, err = r.List(context.Background())
	assert.ErrorIs(t, err, ErrClosed)
}
