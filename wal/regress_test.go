package wal

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests: the smallest call sequences that showed the bugs
// TestModel (model_test.go) found, kept so each stays fixed.

// bugDir is the log directory on the MemFS of the tests below.
const bugDir = "/bug"

// TestTruncateFrontNewLog: TruncateFront on a log that has no segment
// yet (nothing was ever appended) must do nothing. It used to panic
// indexing l.segs[0] of an empty slice, with Log.mu held.
func TestTruncateFrontNewLog(t *testing.T) {
	// No preallocation, SyncBatch: the log starts no goroutine, so it can
	// be abandoned if the panic leaves it locked.
	l, err := Open(bugDir, Options{FS: vfs.NewMem(), DisablePreallocation: true})
	require.NoError(t, err)
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		err = l.TruncateFront(1)
	}()
	require.Nil(t, panicked, "TruncateFront(1) on a new log panicked")
	defer l.Close()
	require.NoError(t, err)
	assert.Equal(t, LSN(1), l.First())
	_, last, err := l.Append(t.Context(), []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, LSN(1), last)
}

// TestReaderTruncatedBackThenRegrown: a Reader that read past the LSN
// TruncateBack cut at must fail with ErrTruncated, as documented, even if
// the log has grown past the Reader's position again by its next call:
// the records after its position now belong to another history. Next
// used to return the new record at that LSN.
func TestReaderTruncatedBackThenRegrown(t *testing.T) {
	l := openT(t, bugDir, Options{FS: vfs.NewMem(), SegmentBytes: 4 << 10})
	appendN(t, l, 10)
	r := l.NewReader(1)
	defer r.Close()
	for range 10 {
		_, err := r.Next(t.Context())
		require.NoError(t, err)
	}
	require.NoError(t, l.TruncateBack(5)) // drops LSNs 6 to 10, which r read
	for i := range 10 {
		_, _, err := l.Append(t.Context(), []byte(fmt.Sprintf("new history %d", i)))
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	rec, err := r.Next(ctx)
	require.ErrorIs(t, err, ErrTruncated, "Next returned LSN %d %q", rec.LSN, rec.Data)
}

// bugEmptiedLog returns a log that held records 1 to segments, one per
// segment, cut by TruncateFront and then emptied by TruncateBack: First
// and the next LSN are segments.
func bugEmptiedLog(t *testing.T, fs *vfs.MemFS, segments int) *Log {
	t.Helper()
	l := openT(t, bugDir, Options{FS: fs, SegmentBytes: 4 << 10, DisablePreallocation: true})
	for i := 1; i <= segments; i++ {
		_, _, err := l.Append(t.Context(), payload(LSN(i), 3000)) // 3000 bytes: one per segment
		require.NoError(t, err)
	}
	require.NoError(t, l.TruncateFront(LSN(segments)))
	require.NoError(t, l.TruncateBack(LSN(segments-1)))
	require.Equal(t, LSN(segments), l.First())
	require.Equal(t, LSN(segments-1), l.Last())
	return l
}

// bugReopenCrashed opens the log a power loss at this moment would
// leave on fs.
func bugReopenCrashed(t *testing.T, fs *vfs.MemFS) *Log {
	t.Helper()
	return openT(t, bugDir, Options{FS: fs.CrashClone(), SegmentBytes: 4 << 10, DisablePreallocation: true})
}

// TestWriteRebaseEndingAtOldNext: an emptied log takes a Write at any
// LSN. When the records written end just before the LSN the log would
// have used next, write() took the batch for one that wrote nothing (it
// compared w.next with its value before the batch): Write returned nil,
// but the records were neither synced nor visible to readers.
func TestWriteRebaseEndingAtOldNext(t *testing.T) {
	fs := vfs.NewMem()
	l := bugEmptiedLog(t, fs, 2) // next LSN 2
	require.NoError(t, l.Write(t.Context(), Record{LSN: 1, Epoch: l.Epoch(), Time: time.Now(), Data: []byte("rebased")}))
	assert.Equal(t, LSN(1), l.First())
	assert.Equal(t, LSN(1), l.Last(), "the written record is not visible")
	l2 := bugReopenCrashed(t, fs)
	assert.Equal(t, LSN(1), l2.Last(), "the acknowledged record did not survive a power loss")
}

// TestWriteRebaseBelowOldEndIsDurable: after Write rebased an emptied log
// to LSNs below its old end, syncLocked skipped the sync that
// acknowledges them, because the LSN it had to make durable (l.written)
// was not above the last LSN synced before the rebase (l.synced). The
// acknowledged record was lost in a power loss; had a segment followed
// it, the log would not open at all (a sealed segment missing records).
func TestWriteRebaseBelowOldEndIsDurable(t *testing.T) {
	fs := vfs.NewMem()
	l := bugEmptiedLog(t, fs, 3) // next LSN 3, synced up to LSN 2
	require.NoError(t, l.Write(t.Context(), Record{LSN: 1, Epoch: l.Epoch(), Time: time.Now(), Data: []byte("rebased")}))
	require.Equal(t, LSN(1), l.Last())
	l2 := bugReopenCrashed(t, fs)
	require.Equal(t, LSN(1), l2.Last(), "the acknowledged record did not survive a power loss")
	r := l2.NewReader(1)
	defer r.Close()
	rec, err := r.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []byte("rebased"), rec.Data)
}
