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

// stallKV is a kv whose Apply of one LSN closes stalled and waits
// until release is closed: a host's long Apply.
type stallKV struct {
	kv
	at               LSN
	stalled, release chan struct{}
}

func (s *stallKV) Apply(rec Record) error {
	if rec.LSN == s.at {
		close(s.stalled)
		<-s.release
	}
	return s.kv.Apply(rec)
}

// runApplier returns an applier of sm over a new log holding the records
// "k1=v1" to "kn=vn", its loop running until the test ends.
func runApplier(t *testing.T, n int, sm StateMachine) (*applier, []wal.Record) {
	t.Helper()
	log, err := wal.Open(t.TempDir(), wal.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { log.Close() })
	var recs []wal.Record
	for i := 1; i <= n; i++ {
		_, last, err := log.Append(t.Context(), fmt.Appendf(nil, "k%d=v%d", i, i))
		require.NoError(t, err)
		recs = append(recs, wal.Record{LSN: last, Data: fmt.Appendf(nil, "k%d=v%d", i, i)})
	}
	a := newApplier(log, &hostState{ctx: t.Context(), host: sm}, quiet)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done }) // before the log's Close: cleanups run last first
	return a, recs
}

// TestStandbyStateAppliesEachRecordOnce drives a standby's state
// machine directly: a standby's record makes the apply loop fill the gap
// from the local log first, a record applied already is skipped, after
// a base snapshot is restored nothing is applied until Rebase says where
// the state is, and a record the log does not hold is an error, not a
// wait.
func TestStandbyStateAppliesEachRecordOnce(t *testing.T) {
	sm := &kv{}
	a, recs := runApplier(t, 6, sm)
	s := newStandbyState(a)

	// Record 6 while the state holds nothing: 1-5 come from the log
	// first, then 6; the kv refuses any record out of order.
	require.NoError(t, s.Apply(recs[5]))
	assert.Equal(t, LSN(6), a.Applied())
	assert.Equal(t, "v5", sm.get("k5"))
	require.NoError(t, s.Apply(recs[2]), "a record applied already is skipped")
	assert.Equal(t, LSN(6), a.Applied())

	// A base snapshot at LSN 20 restored: nothing applies until Rebase.
	var snap bytes.Buffer
	require.NoError(t, (&kv{m: map[string]string{"k": "restored"}, lsn: 20}).Snapshot(&snap))
	require.NoError(t, s.Restore(&snap))
	assert.ErrorIs(t, s.Apply(wal.Record{LSN: 21, Data: []byte("k21=v")}), errRebasing)
	s.Rebase(20)
	assert.Equal(t, LSN(20), a.Applied())
	assert.Equal(t, "restored", sm.get("k"))
	assert.ErrorContains(t, s.Apply(wal.Record{LSN: 21, Data: []byte("k21=v")}), "the log only up to 6", "record 21 is in no log")
	assert.NoError(t, a.err())
}

// TestStandbyStateRelease: while the host's Apply is stuck, the
// standby's Apply waits, and release ends the wait at once (a role
// change closes the standby without waiting for the host). A state
// failure ends it with the failure.
func TestStandbyStateRelease(t *testing.T) {
	sm := &stallKV{at: 2, stalled: make(chan struct{}), release: make(chan struct{})}
	a, _ := runApplier(t, 3, sm)
	s := newStandbyState(a)
	applied := make(chan error, 1)
	go func() { applied <- s.Apply(wal.Record{LSN: 3}) }()
	<-sm.stalled
	select {
	case err := <-applied:
		t.Fatalf("Apply returned while the host's Apply of LSN 2 is stuck: %v", err)
	default:
	}
	s.release()
	require.ErrorIs(t, <-applied, errReleased)
	require.ErrorIs(t, s.Apply(wal.Record{LSN: 3}), errReleased, "released for good")

	// The next standby's state waits for the loop, which resumes.
	next := newStandbyState(a)
	go func() { applied <- next.Apply(wal.Record{LSN: 3}) }()
	close(sm.release)
	require.NoError(t, <-applied)
	assert.Equal(t, "v3", sm.get("k3"))

	// A failed state ends the wait with its failure.
	_, _, err := a.log.Append(t.Context(), []byte("no pair"))
	require.NoError(t, err)
	err = next.Apply(wal.Record{LSN: 4})
	require.ErrorIs(t, err, ErrStateFailed)
}
