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
