package snapshot

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

// clockReader advances the repository's clock past LockStale once the
// state has been read, as if the process had been paused for that long.
type clockReader struct {
	r    io.Reader
	jump func()
}

func (c *clockReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.jump()
	}
	return n, err
}

func TestSaveStopsWhenLockLost(t *testing.T) {
	var mu sync.Mutex
	offset := time.Duration(0)
	opts := testOptions()
	opts.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(offset)
	}
	r, err := Init(context.Background(), memBucket(t), testKey, testFormat, opts)
	require.NoError(t, err)
	defer r.Close()
	cr := &clockReader{r: bytes.NewReader(gen.Random(1, 256<<10)), jump: func() {
		mu.Lock()
		offset = time.Hour
		mu.Unlock()
	}}
	_, _, err = r.Save(context.Background(), cr, Meta{})
	require.ErrorIs(t, err, ErrLockLost)
	ms, err := r.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, ms, "no snapshot is published after the lock went stale")
}

// TestLockWait: with Options.LockWait, an operation that meets a live
// conflicting lock (here a Prune's, held by another Repo) fails with
// ErrLocked naming the holder instead of waiting for the context.
func TestLockWait(t *testing.T) {
	ctx := t.Context()
	b := memBucket(t)
	r := initRepo(t, b, testFormat)
	lk, err := r.lock(ctx, "prune", true)
	require.NoError(t, err)
	defer lk.release()
	opts := testOptions()
	opts.LockWait = time.Millisecond
	r2, err := Open(ctx, b, testKey, opts)
	require.NoError(t, err)
	defer r2.Close()
	_, err = r2.Prune(ctx, PruneOptions{})
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), "prune")
	// Released, the same call goes through.
	lk.release()
	_, err = r2.Prune(ctx, PruneOptions{})
	require.NoError(t, err)
}
