package wal

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/internal/vfs/errorfs"
)

// gatedFS holds every file sync until the test releases it, and counts
// them.
type gatedFS struct {
	gate  chan struct{} // receive to let one sync proceed; nil: no gate
	syncs atomic.Int64
	fail  atomic.Pointer[error]
}

func (g *gatedFS) MaybeError(op errorfs.Op) error {
	if op.Kind != errorfs.OpSync {
		return nil
	}
	if g.gate != nil {
		<-g.gate
	}
	g.syncs.Add(1)
	if err := g.fail.Load(); err != nil {
		return *err
	}
	return nil
}

func TestUnsyncedReaderSeesBatchWhileItSyncs(t *testing.T) {
	g := &gatedFS{gate: make(chan struct{})}
	l := openT(t, memDir, Options{FS: errorfs.Wrap(vfs.NewMem(), g), DisablePreallocation: true})
	ctx := t.Context()
	// The first record opens a segment; let its syncs through.
	done := make(chan error, 1)
	go func() { _, _, err := l.Append(ctx, []byte("first")); done <- err }()
	for {
		select {
		case g.gate <- struct{}{}:
			continue
		case err := <-done:
			require.NoError(t, err)
		}
		break
	}
	require.Equal(t, LSN(1), l.Synced())

	_, synced, changed := l.Progress()
	require.Equal(t, LSN(1), synced)
	go func() { _, _, err := l.Append(ctx, []byte("second")); done <- err }()

	ur := l.NewUnsyncedReader(2)
	defer ur.Close()
	rec, err := ur.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "second", string(rec.Data))
	<-changed
	written, synced, changed := l.Progress()
	require.Equal(t, LSN(2), written)
	require.Equal(t, LSN(1), synced, "the batch is still in its sync")
	require.Equal(t, LSN(1), l.Last(), "ordinary readers see only durable records")
	select {
	case err := <-done:
		require.Failf(t, "Append returned before its sync", "%v", err)
	default:
	}
	r := l.NewReader(2)
	defer r.Close()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	_, err = r.Next(short)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	g.gate <- struct{}{}
	require.NoError(t, <-done)
	select {
	case <-changed:
		require.Fail(t, "Progress's channel closed by a sync: it tells only of new records")
	default:
	}
	require.Equal(t, LSN(2), l.Synced())
	require.Equal(t, LSN(2), l.Last())
	rec, err = r.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "second", string(rec.Data))
}

func TestWriteNoSync(t *testing.T) {
	g := &gatedFS{}
	mem := vfs.NewMem()
	l := openT(t, memDir, Options{FS: errorfs.Wrap(mem, g), DisablePreallocation: true})
	ctx := t.Context()
	base := time.Unix(1_700_000_000, 0)
	rec := func(lsn LSN) Record {
		return Record{LSN: lsn, Epoch: 1, Time: base.Add(time.Duration(lsn)), Data: payload(lsn, sizeFor(lsn))}
	}
	require.NoError(t, l.Write(ctx, rec(1)))
	syncs := g.syncs.Load()
	require.Equal(t, LSN(1), l.Synced())

	_, _, changed := l.Progress()
	for lsn := LSN(2); lsn <= 5; lsn++ {
		require.NoError(t, l.WriteNoSync(ctx, rec(lsn)))
	}
	<-changed
	require.Equal(t, syncs, g.syncs.Load(), "WriteNoSync must not sync")
	require.Equal(t, LSN(5), l.Last(), "written records are visible")
	require.Equal(t, LSN(1), l.Synced())
	require.Len(t, readAll(t, l, 1), 5)

	require.NoError(t, l.Sync())
	require.Equal(t, syncs+1, g.syncs.Load())
	require.Equal(t, LSN(5), l.Synced())
	require.NoError(t, l.Sync(), "nothing left to sync")
	require.Equal(t, syncs+1, g.syncs.Load())

	// A synced Write makes the unsynced records before it durable too.
	require.NoError(t, l.WriteNoSync(ctx, rec(6)))
	require.NoError(t, l.Write(ctx, rec(7)))
	require.Equal(t, LSN(7), l.Synced())

	// A failed Sync poisons the log like a failed Append.
	require.NoError(t, l.WriteNoSync(ctx, rec(8)))
	eio := error(syscall.EIO)
	g.fail.Store(&eio)
	err := l.Sync()
	require.ErrorIs(t, err, syscall.EIO)
	require.ErrorIs(t, l.Write(ctx, rec(9)), ErrPoisoned)
	require.ErrorIs(t, l.Sync(), ErrPoisoned)
	require.Equal(t, LSN(7), l.Synced())
}

func TestWriteNoSyncSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	require.NoError(t, err)
	base := time.Unix(1_700_000_000, 0)
	for lsn := LSN(1); lsn <= 50; lsn++ {
		require.NoError(t, l.WriteNoSync(t.Context(), Record{LSN: lsn, Epoch: 3, Time: base.Add(time.Duration(lsn)), Data: payload(lsn, sizeFor(lsn))}))
	}
	require.Less(t, l.Synced(), LSN(50))
	require.NoError(t, l.Close(), "Close syncs what is written")
	l = openT(t, dir, Options{})
	require.Equal(t, LSN(50), l.Last())
	require.Equal(t, LSN(50), l.Synced())
	require.Len(t, readAll(t, l, 1), 50)
}
