package snapshot

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/continuity-go/continuity/internal/gen"
)

func TestZstdCodec(t *testing.T) {
	r := initRepo(t, memBucket(t), Format{ChunkMin: 2 << 10, ChunkAvg: 8 << 10, ChunkMax: 32 << 10, Codec: Zstd})
	assert.Equal(t, Zstd, r.Format().Codec)
	data := gen.Events(1, 2<<20)
	m, st := save(t, r, data)
	assert.Less(t, st.StoredBytes, int64(len(data))/3, "zstd stores event data smaller than a third")
	assert.True(t, bytes.Equal(data, restore(t, r, m.ID)))
	// Random data does not shrink: stored raw, still restores.
	rnd := gen.Random(2, 1<<20)
	m, _ = save(t, r, rnd)
	assert.True(t, bytes.Equal(rnd, restore(t, r, m.ID)))
}
