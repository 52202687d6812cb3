package wal

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/internal/vfs/errorfs"
)

// heldSync holds each file sync until the test releases it, and tells
// the test when one is waiting.
type heldSync struct {
	waiting chan struct{}
	release chan struct{}
}

func (h *heldSync) MaybeError(op errorfs.Op) error {
	if op.Kind == errorfs.OpSync {
		h.waiting <- struct{}{}
		<-h.release
	}
	return nil
}

// TestGatherTakesReturningWriters: a writer released by one sync that
// appends again at once joins the batch the writers queued during that
// sync, instead of making a batch of its own. Without gather, the next
// leader takes the queued writers while the sync runs, so the returning
// writer always needs a third batch. Whether it comes back before the
// leader stops yielding depends on the scheduler, so the scenario runs
// until it has been seen once (the first time on an idle machine).
func TestGatherTakesReturningWriters(t *testing.T) {
	const attempts = 50
	for i := range attempts {
		if batches := returningWriterBatches(t, 8); batches == 2 {
			return
		} else if i == attempts-1 {
			require.Failf(t, "the returning writer never joined the queued batch",
				"%d attempts, last one took %d batches", attempts, batches)
		}
	}
}

// returningWriterBatches holds writer 0's batch in its sync while writers
// 1..n-1 queue, lets writer 0 append again as soon as it is released,
// and returns how many batches the n+1 records took.
func returningWriterBatches(t *testing.T, n int) uint64 {
	h := &heldSync{waiting: make(chan struct{}), release: make(chan struct{})}
	l := openT(t, memDir, Options{FS: errorfs.Wrap(vfs.NewMem(), h), DisablePreallocation: true})
	ctx := t.Context()
	errs := make(chan error, n+1)
	go func() { _, _, err := l.Append(ctx, []byte("open")); errs <- err }()
	<-h.waiting // the new segment's header
	h.release <- struct{}{}
	<-h.waiting // the record
	h.release <- struct{}{}
	require.NoError(t, <-errs)
	before := l.Stats().Batches

	go func() {
		_, _, err := l.Append(ctx, []byte("writer 0, first"))
		if err == nil {
			_, _, err = l.Append(ctx, []byte("writer 0, again"))
		}
		errs <- err
	}()
	<-h.waiting // writer 0's batch is in its sync
	base := l.written.Load()
	for i := 1; i < n; i++ {
		go func() { _, _, err := l.Append(ctx, fmt.Appendf(nil, "writer %d", i)); errs <- err }()
	}
	// Until writers 1..n-1 are queued, or (without gather) taken into
	// the next batch and written.
	for l.queued()+int(l.written.Load()-base) < n-1 {
		time.Sleep(50 * time.Microsecond)
	}
	go func() {
		h.release <- struct{}{}
		for range h.waiting {
			h.release <- struct{}{}
		}
	}()
	for range n {
		require.NoError(t, <-errs)
	}
	require.NoError(t, l.Close())
	close(h.waiting)
	return l.Stats().Batches - before
}
