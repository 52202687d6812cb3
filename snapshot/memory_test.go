package snapshot

import (
	"context"
	"io"
	"net/url"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob"

	"github.com/continuity-go/continuity/internal/gen"
)

// eventStream yields n bytes of event-like data, 1 MiB generated at a
// time, so the test itself never holds the state.
type eventStream struct {
	left  int
	block []byte
	seed  uint64
}

func (e *eventStream) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	if len(e.block) == 0 {
		e.seed++
		e.block = gen.Events(e.seed, min(e.left, 1<<20))
	}
	n := copy(p, e.block[:min(len(e.block), e.left)])
	e.block = e.block[n:]
	e.left -= n
	return n, nil
}

// TestSaveMemoryBounded saves a state larger than the memory Save may use
// and samples the heap meanwhile: Save streams, it never holds the state.
func TestSaveMemoryBounded(t *testing.T) {
	size := 256 << 20
	if raceEnabled || testing.Short() {
		size = 64 << 20
	}
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(t.TempDir()), RawQuery: "metadata=skip"}
	b, err := blob.OpenBucket(context.Background(), u.String())
	require.NoError(t, err)
	defer b.Close()
	opts := Options{PackBytes: 1 << 20, Workers: 2, Uploads: 2}
	r, err := Init(context.Background(), b, testKey, Format{}, opts)
	require.NoError(t, err)
	defer r.Close()

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	_, st, err := r.Save(context.Background(), &eventStream{left: size}, Meta{})
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	require.Equal(t, int64(size), st.BytesIn)
	grew := int64(peak) - int64(base.HeapAlloc)
	// Packs: (Workers + 1 + 2×Uploads) × (PackBytes×1.125 + ChunkMax);
	// runs of chunks: (2×Workers + 2) × (2 MiB + ChunkMax); read buffer
	// 1 MiB; plus the index of the chunks saved and garbage between GCs.
	bound := int64(48 << 20)
	t.Logf("state %d MiB, heap grew by at most %.1f MiB (bound %d MiB)", size>>20, float64(grew)/(1<<20), bound>>20)
	assert.Less(t, grew, bound)
}
