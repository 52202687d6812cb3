package archive

import (
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestThrottledSnapshotLeavesShipping: while a base snapshot's upload
// waits on snapshot.Options.UploadLimit (held there by the test), the
// archiver still ships the log: a Flush of new records returns and the
// archive holds them. WAL objects are never throttled.
func TestThrottledSnapshotLeavesShipping(t *testing.T) {
	ctx := context.Background()
	rig := newArchiveRig(t, testkit.Buckets(t)[1].Open(t)) // mem
	held := newGate()
	repo, err := snapshot.Open(ctx, rig.bucket, snapshot.RawKey([32]byte{7}), snapshot.Options{
		Now: rig.clock.Now, UploadLimit: 64 << 10, PackBytes: 64 << 10,
		Sleep: func(ctx context.Context, _ time.Duration) error { return held.pass(ctx) },
	})
	require.NoError(t, err)
	rig.repo.Close()
	rig.repo = repo
	// A state of 1 MiB of random bytes: more than the limit's first
	// second, so the upload has to wait.
	state := make([]byte, 1<<20)
	rand.Read(state)
	capture := func(context.Context) (wal.LSN, func(io.Writer) error, error) {
		return rig.log.Last(), func(w io.Writer) error { _, err := w.Write(state); return err }, nil
	}
	a := rig.archiver(Options{ShipInterval: time.Second, NoCompaction: true, Capture: capture})
	rig.append(5)
	flush(t, a)

	done := make(chan error, 1)
	go func() { _, err := a.SnapshotNow(ctx); done <- err }()
	select {
	case <-held.waiting:
	case err := <-done:
		t.Fatalf("the snapshot finished without waiting on the limit: %v", err)
	}
	rig.append(10)
	flush(t, a) // returns while the snapshot's upload waits
	require.Equal(t, wal.LSN(15), a.Status().Archived, "the log is archived while the snapshot waits")
	select {
	case err := <-done:
		t.Fatalf("the snapshot finished while held: %v", err)
	default:
	}
	held.open()
	require.NoError(t, <-done)
}
