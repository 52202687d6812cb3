package continuity

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/wal"
)

// failAt is a state machine whose Apply fails at one LSN.
type failAt struct {
	lsn wal.LSN
	err error
}

func (f *failAt) Apply(rec wal.Record) error {
	if rec.LSN == f.lsn {
		return f.err
	}
	return nil
}
func (f *failAt) Snapshot(io.Writer) error { return nil }
func (f *failAt) Restore(io.Reader) error  { return nil }

// TestWaitForFailedState: once the state machine has failed, WaitFor of
// an LSN it will never apply returns the failure, not ctx's end (a
// caller with context.Background would wait for ever).
func TestWaitForFailedState(t *testing.T) {
	ctx := t.Context()
	boom := errors.New("boom")
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet}, &failAt{lsn: 2, err: boom})
	require.NoError(t, err)
	defer n.Close()
	_, _, err = n.Append(ctx, []byte("one"), []byte("two"), []byte("three"))
	require.NoError(t, err)
	require.NoError(t, n.WaitFor(ctx, 1))
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second) // room: the failure comes at once
	defer cancel()
	err = n.WaitFor(wctx, 3)
	require.ErrorIs(t, err, boom)
	require.ErrorIs(t, err, ErrStateFailed)
	require.ErrorContains(t, err, "LSN 3 will not be applied")
	ready, why := n.Ready()
	require.False(t, ready, "its state stays at LSN 1")
	require.Contains(t, why, "boom")
}
