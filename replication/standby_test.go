package replication

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/wal"
)

var errBoom = errors.New("boom")

// failSM applies records until failAt, whose Apply fails.
type failSM struct {
	sumSM
	failAt wal.LSN
}

func (s *failSM) Apply(r wal.Record) error {
	if r.LSN == s.failAt {
		return errBoom
	}
	return s.sumSM.Apply(r)
}

func TestStandbyWaitFor(t *testing.T) {
	plog := openLog(t, vfs.NewMem())
	for i := range 10 {
		_, _, err := plog.Append(t.Context(), fmt.Appendf(nil, "record %d", i))
		require.NoError(t, err)
	}
	p := newTestPrimary(t, plog, PrimaryOptions{})
	defer p.Close()
	newStandby := func(t *testing.T, sm archive.StateMachine) *Standby {
		s, err := NewStandby(openLog(t, vfs.NewMem()), sm, StandbyOptions{Transport: plaintext, Node: "standby", Primary: p.Addr().String()})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	ctx, cancel := context.WithTimeout(t.Context(), hangTimeout)
	defer cancel()

	t.Run("state machine fails", func(t *testing.T) {
		s := newStandby(t, &failSM{failAt: 4})
		// Whether the failure comes before or during the wait, it ends it.
		assert.ErrorIs(t, s.WaitFor(ctx, 10), errBoom)
		st := s.State()
		assert.ErrorIs(t, st.Err, errBoom)
		assert.Less(t, st.Applied, wal.LSN(4))
		assert.NoError(t, s.WaitFor(ctx, st.Applied), "a position applied before the failure is reached")
		done, cancel := context.WithCancel(ctx)
		cancel()
		assert.ErrorIs(t, s.WaitFor(done, 10), errBoom, "the failure, not the ctx")
	})
	t.Run("ctx ends", func(t *testing.T) {
		s := newStandby(t, &sumSM{})
		require.NoError(t, s.WaitFor(ctx, 10))
		cause := errors.New("client gave up")
		done, cancel := context.WithCancelCause(ctx)
		cancel(cause)
		err := s.WaitFor(done, 11)
		assert.ErrorIs(t, err, cause)
		assert.ErrorContains(t, err, "applied LSN 10, waiting for 11")
	})
}

// logSM is a LogApplier: it reads what it applies from the standby's
// log (into a sumSM), and fails the test if handed records one by one.
type logSM struct {
	sumSM
	t     *testing.T
	log   *wal.Log
	calls int
}

func (s *logSM) Apply(r wal.Record) error {
	s.t.Errorf("Apply(LSN %d) called on a LogApplier", r.LSN)
	return nil
}

func (s *logSM) ApplyThrough(lsn wal.LSN) error {
	s.calls++
	next := s.log.First()
	if n := len(s.lsns); n > 0 {
		next = s.lsns[n-1] + 1
	}
	if next > lsn {
		return nil
	}
	r := s.log.NewReader(next)
	defer r.Close()
	for next <= lsn {
		rec, err := r.Next(context.Background())
		if err != nil {
			return err
		}
		if err := s.sumSM.Apply(rec); err != nil {
			return err
		}
		next++
	}
	return nil
}

// TestStandbyLogApplier: a LogApplier state machine is called through
// an LSN once the standby's log holds every record up to it, and ends
// with exactly the primary's records.
func TestStandbyLogApplier(t *testing.T) {
	plog := openLog(t, vfs.NewMem())
	want := &sumSM{}
	for i := range 50 {
		first, _, err := plog.Append(t.Context(), fmt.Appendf(nil, "record %d", i))
		require.NoError(t, err)
		require.NoError(t, want.Apply(wal.Record{LSN: first, Data: fmt.Appendf(nil, "record %d", i)}))
	}
	p := newTestPrimary(t, plog, PrimaryOptions{})
	defer p.Close()
	slog := openLog(t, vfs.NewMem())
	sm := &logSM{t: t, log: slog}
	s, err := NewStandby(slog, sm, StandbyOptions{Transport: plaintext, Node: "standby", Primary: p.Addr().String()})
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), hangTimeout)
	defer cancel()
	require.NoError(t, s.WaitFor(ctx, 50))
	require.NoError(t, s.Close())
	assert.Equal(t, want.lsns, sm.lsns)
	assert.Equal(t, want.sum, sm.sum)
	assert.Positive(t, sm.calls)
}
