package archive

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/wal"
)

// TestArchiveSnapshotBytesScheduleOnce: uploads that complete while a
// byte-scheduled base snapshot runs do not set off a second one as soon
// as it is saved; the next waits for SnapshotEveryBytes archived after
// the first one's capture. (Under load every upload used to request one,
// and the request queued during a snapshot ran right after it: two base
// snapshots per SnapshotEveryBytes.)
func TestArchiveSnapshotBytesScheduleOnce(t *testing.T) {
	rig := newArchiveRig(t, memBucket(t))
	const every = 1 << 10 // bytes; an event here is about 45
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	var captures atomic.Int64
	a := rig.archiver(Options{ShipInterval: time.Hour, NoCompaction: true, SnapshotEveryBytes: every,
		Capture: func(ctx context.Context) (wal.LSN, func(io.Writer) error, error) {
			captures.Add(1)
			entered <- struct{}{}
			<-release // the first capture waits; later ones pass
			return rig.state.Capture(ctx)
		}})

	rig.append(40) // over every
	flush(t, a)
	<-entered // the snapshot is under way, its capture held

	rig.append(10) // under every, archived during the snapshot: it requests another
	flush(t, a)
	close(release)
	skipped := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.snapsSkip
	}
	testkit.Eventually(t, func() bool { return skipped() == 1 }, "the request queued during the snapshot to be dropped")
	require.EqualValues(t, 1, captures.Load(), "a second base snapshot right after the first")

	rig.append(40) // over every again, after the first capture
	flush(t, a)
	testkit.Eventually(t, func() bool { return a.Status().SnapshotAt == wal.LSN(len(rig.recs)) }, "the second base snapshot")
	require.EqualValues(t, 2, captures.Load())
	ms, err := rig.repo.List(context.Background())
	require.NoError(t, err)
	require.Len(t, ms, 2)
}
