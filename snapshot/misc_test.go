package snapshot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
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

// blockingReader returns data in small pieces; once drained it closes
// drained and blocks until released, to cancel a Save mid-stream.
type blockingReader struct {
	data    []byte
	drained chan struct{}
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		close(b.drained)
		<-b.release
		return 0, io.EOF
	}
	n := copy(p, b.data[:min(len(b.data), 4096)])
	b.data = b.data[n:]
	return n, nil
}

func TestSaveCancel(t *testing.T) {
	r := initRepo(t, memBucket(t), testFormat)
	ctx, cancel := context.WithCancel(context.Background())
	br := &blockingReader{data: gen.Random(1, 1<<20), drained: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() {
		_, _, err := r.Save(ctx, br, Meta{})
		done <- err
	}()
	<-br.drained
	cancel()
	close(br.release)
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	ms, err := r.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, ms, "a cancelled Save creates no snapshot")
	locks, err := listNames(context.Background(), r.bucket, locksPrefix)
	require.NoError(t, err)
	assert.Empty(t, locks, "the lock is released")
}

func TestSaveReadError(t *testing.T) {
	r := initRepo(t, memBucket(t), testFormat)
	boom := errors.New("state machine failed")
	_, _, err := r.Save(context.Background(), io.MultiReader(bytes.NewReader(gen.Random(1, 300<<10)), errReader{boom}), Meta{})
	require.ErrorIs(t, err, boom)
	ms, err := r.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, ms)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

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

// TestTreeDepth builds chunk lists deep enough for several tree levels
// and walks them back.
func TestTreeDepth(t *testing.T) {
	for _, tc := range []struct {
		n, minIDs, maxIDs int
		mask              uint64
		minDepth          uint8
	}{
		{0, 0, 0, 0, 0}, {1, 0, 0, 0, 0}, {treeMinIDs, 0, 0, 0, 0}, {treeMaxIDs, 0, 0, 0, 0},
		{treeMaxIDs + 1, 0, 0, 0, 1}, {50_000, 0, 0, 0, 1}, {20_000, 4, 16, 7, 3},
	} {
		n := tc.n
		blocks := map[blobID][]byte{}
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		tb := &treeBuilder{minIDs: tc.minIDs, maxIDs: tc.maxIDs, mask: tc.mask, store: func(ids []blobID) (blobID, error) {
			var id blobID
			for i := range id {
				id[i] = byte(rng.Uint32())
			}
			blocks[id] = idsBytes(ids)
			return id, nil
		}}
		want := make([]blobID, n)
		for i := range want {
			for j := range want[i] {
				want[i][j] = byte(rng.Uint32())
			}
			require.NoError(t, tb.add(0, want[i]))
		}
		depth, root, err := tb.finish()
		require.NoError(t, err)
		assert.LessOrEqual(t, len(root), max(treeMaxIDs, tc.maxIDs))
		var got []blobID
		var walk func(d int, ids []blobID)
		walk = func(d int, ids []blobID) {
			for _, id := range ids {
				if d == 0 {
					got = append(got, id)
					continue
				}
				b := blocks[id]
				children := make([]blobID, len(b)/blobIDSize)
				for i := range children {
					copy(children[i][:], b[i*blobIDSize:])
				}
				walk(d-1, children)
			}
		}
		walk(int(depth), root)
		require.Equal(t, len(want), len(got), "n=%d depth=%d", n, depth)
		if n > 0 {
			require.Equal(t, want, got)
		}
		assert.GreaterOrEqual(t, depth, tc.minDepth, "n=%d", n)
	}
}

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

func TestMetaRoundTrip(t *testing.T) {
	r := initRepo(t, memBucket(t), testFormat)
	at := time.Date(2026, 11, 25, 10, 0, 0, 123, time.UTC)
	parent := ID{7}
	m, _, err := r.Save(context.Background(), strings.NewReader("state"), Meta{
		Time: at, Host: "node-2", Tags: []string{"hourly"}, Labels: map[string]string{"tenant": "t1"},
		Parent: parent, LSN: 99, Epoch: 4,
	})
	require.NoError(t, err)
	got, err := r.Manifest(context.Background(), m.ID)
	require.NoError(t, err)
	assert.Equal(t, at, got.Time)
	assert.Equal(t, "node-2", got.Host)
	assert.True(t, got.HasTag("hourly"))
	assert.Equal(t, "t1", got.Labels["tenant"])
	assert.Equal(t, parent, got.Parent)
	assert.Equal(t, uint64(99), got.LSN)
	assert.Equal(t, uint64(4), got.Epoch)
	latest, err := r.Latest(context.Background())
	require.NoError(t, err)
	assert.Equal(t, m.ID, latest.ID)
	id, err := ParseID(m.ID.String())
	require.NoError(t, err)
	assert.Equal(t, m.ID, id)
	_, err = ParseID("zz")
	assert.Error(t, err)
}

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
