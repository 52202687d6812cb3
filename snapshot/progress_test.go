package snapshot

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

func TestProgress(t *testing.T) {
	var mu sync.Mutex
	var reports []Progress
	opts := testOptions()
	opts.ProgressInterval = time.Nanosecond
	opts.Progress = func(p Progress) {
		mu.Lock()
		reports = append(reports, p)
		mu.Unlock()
	}
	r, err := Init(context.Background(), memBucket(t), testKey, testFormat, opts)
	require.NoError(t, err)
	defer r.Close()
	data := gen.Random(1, 1<<20)
	m, _ := save(t, r, data)
	restore(t, r, m.ID)
	_, err = r.Verify(context.Background(), VerifyOptions{ReadData: true})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	byOp := map[string][]Progress{}
	for _, p := range reports {
		byOp[p.Op] = append(byOp[p.Op], p)
	}
	for _, op := range []string{"save", "restore", "verify"} {
		ps := byOp[op]
		require.NotEmpty(t, ps, op)
		last := ps[len(ps)-1]
		assert.True(t, last.Done, op)
		for i := 1; i < len(ps); i++ {
			assert.GreaterOrEqual(t, ps[i].Bytes, ps[i-1].Bytes, "%s progress never goes back", op)
		}
	}
	assert.Equal(t, int64(len(data)), byOp["save"][len(byOp["save"])-1].Bytes)
	assert.Equal(t, int64(len(data)), byOp["restore"][len(byOp["restore"])-1].Total)
}
