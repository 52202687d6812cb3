package snapshot

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, Options{}.Validate())
	err := Options{PackBytes: 10, Workers: -1, Uploads: 1000, LockStale: time.Millisecond, ProgressInterval: -1}.Validate()
	require.Error(t, err)
	for _, field := range []string{"PackBytes", "Workers", "Uploads", "LockStale", "ProgressInterval"} {
		assert.Contains(t, err.Error(), field)
	}
	require.NoError(t, Format{}.Validate())
	err = Format{ChunkMin: 100, ChunkAvg: 1000, ChunkMax: 50, Codec: 9}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Format.Chunk")
	assert.Contains(t, err.Error(), "Format.Codec")
	_, err = Init(context.Background(), memBucket(t), testKey, Format{Codec: 9}, Options{})
	assert.Error(t, err)
}
