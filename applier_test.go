package continuity

import (
	"context"
	"fmt"
	"io"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// capturingKV is a kv that can capture its state quickly: a copy of the
// map, written later.
type capturingKV struct {
	kv
	writing chan struct{} // closed when a write starts
	release chan struct{} // the write waits for it
}

func (s *capturingKV) Capture() (func(io.Writer) error, error) {
	s.mu.Lock()
	m, lsn := maps.Clone(s.m), s.lsn
	s.mu.Unlock()
	return func(w io.Writer) error {
		close(s.writing)
		<-s.release
		_, err := fmt.Fprintf(w, "%d %v", lsn, m)
		return err
	}, nil
}

// TestCaptureDoesNotStallApplying: with a Capturer, a base snapshot
// pauses applying only for Capture; events appended while the snapshot
// is being written are applied, and the snapshot holds the state at its
// own LSN.
func TestCaptureDoesNotStallApplying(t *testing.T) {
	ctx := context.Background()
	sm := &capturingKV{writing: make(chan struct{}), release: make(chan struct{})}
	n, err := Open(Config{Dir: t.TempDir(), Logger: quiet, SnapshotEvery: -1, SnapshotEveryBytes: -1, VerifyEvery: -1}, sm)
	require.NoError(t, err)
	defer n.Close()
	for i := 0; i < 10; i++ {
		_, err := n.Append(ctx, fmt.Appendf(nil, "k%d=v", i))
		require.NoError(t, err)
	}
	require.NoError(t, n.WaitFor(ctx, 10))

	snap := make(chan error, 1)
	go func() {
		m, err := n.Snapshot(ctx)
		if err == nil && m.LSN != 10 {
			err = fmt.Errorf("snapshot at LSN %d, want 10", m.LSN)
		}
		snap <- err
	}()
	<-sm.writing // the snapshot is being written, outside the apply lock
	lsn, err := n.Append(ctx, []byte("during=snapshot"))
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // bounds a hang, not a timing check
	defer cancel()
	require.NoError(t, n.WaitFor(wctx, lsn), "applying waited for the snapshot's write")
	assert.Equal(t, "snapshot", sm.get("during"))
	close(sm.release)
	require.NoError(t, <-snap)
}
