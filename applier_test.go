package continuity

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/wal"
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
	n, err := Open(ctx, Config{Dir: t.TempDir(), Logger: quiet, SnapshotEvery: -1, SnapshotEveryBytes: -1, VerifyEvery: -1}, sm)
	require.NoError(t, err)
	defer n.Close()
	for i := 0; i < 10; i++ {
		_, _, err := n.Append(ctx, fmt.Appendf(nil, "k%d=v", i))
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
	_, lsn, err := n.Append(ctx, []byte("during=snapshot"))
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // bounds a hang, not a timing check
	defer cancel()
	require.NoError(t, n.WaitFor(wctx, lsn), "applying waited for the snapshot's write")
	assert.Equal(t, "snapshot", sm.get("during"))
	close(sm.release)
	require.NoError(t, <-snap)
}

// TestApplierAppliesEachRecordOnce drives the applier directly: a
// standby's records fill a gap from the local log first, a record
// applied already is skipped, and after a base snapshot is restored
// nothing is applied until Rebase says where the state is.
func TestApplierAppliesEachRecordOnce(t *testing.T) {
	ctx := t.Context()
	log, err := wal.Open(t.TempDir(), wal.Options{})
	require.NoError(t, err)
	defer log.Close()
	var recs []wal.Record
	for i := 1; i <= 6; i++ {
		_, last, err := log.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i, i))
		require.NoError(t, err)
		recs = append(recs, wal.Record{LSN: last, Data: fmt.Appendf(nil, "k%d=v%d", i, i)})
	}
	sm := &kv{}
	a := newApplier(log, &hostState{ctx: t.Context(), host: sm}, quiet)

	// A standby's record 6 while the state holds nothing: 1-5 come from
	// the log first, then 6; the kv refuses any record out of order.
	require.NoError(t, a.Apply(recs[5]))
	assert.Equal(t, LSN(6), a.Applied())
	require.NoError(t, a.Apply(recs[2]), "a record applied already is skipped")
	assert.Equal(t, LSN(6), a.Applied())

	// The loop applies acknowledged records not applied yet: none here.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.run(runCtx) }()
	a.acknowledge(6)

	// A base snapshot at LSN 20 restored: nothing applies until Rebase.
	var snap bytes.Buffer
	require.NoError(t, (&kv{m: map[string]string{"k": "restored"}, lsn: 20}).Snapshot(&snap))
	require.NoError(t, a.Restore(&snap))
	assert.ErrorIs(t, a.Apply(wal.Record{LSN: 21, Data: []byte("k21=v")}), errRebasing)
	a.Rebase(20)
	assert.Equal(t, LSN(20), a.Applied())
	require.NoError(t, a.Apply(wal.Record{LSN: 21, Data: []byte("k21=v")}))
	wctx, wcancel := context.WithTimeout(ctx, time.Minute) // bounds a hang
	defer wcancel()
	require.NoError(t, a.WaitFor(wctx, 21))
	assert.Equal(t, "restored", sm.get("k"))
	assert.Equal(t, "v", sm.get("k21"))
	assert.NoError(t, a.err())
	assert.Error(t, a.Apply(wal.Record{LSN: 30, Data: []byte("k30=v")}), "records 22-29 are in no log: an error, not a wait")
	cancel()
	<-done
}
