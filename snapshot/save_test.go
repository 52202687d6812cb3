package snapshot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{7}},
		{"random 3MiB", gen.Random(1, 3<<20)},
		{"events 3MiB", gen.Events(2, 3<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := initRepo(t, memBucket(t), testFormat)
			m, st := save(t, r, tc.data)
			assert.Equal(t, int64(len(tc.data)), m.Size)
			assert.Equal(t, int64(len(tc.data)), st.BytesIn)
			got := restore(t, r, m.ID)
			require.Equal(t, len(tc.data), len(got))
			require.True(t, string(tc.data) == string(got), "restored bytes differ")

			// Unchanged: nothing new.
			m2, st2 := save(t, r, tc.data)
			assert.Zero(t, st2.NewBytes)
			assert.Zero(t, st2.Packs)
			assert.Equal(t, st2.Chunks, st2.ChunksReused)
			require.True(t, string(tc.data) == string(restore(t, r, m2.ID)))
		})
	}
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
