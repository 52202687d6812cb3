package replication

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/wal"
)

// TestHoldCommit: with HoldCommit a standby holds (and acknowledges)
// every record but applies only what the host committed with Commit,
// never past what is durable on the primary.
func TestHoldCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	plog := openLog(t, vfs.NewMem())
	p := newTestPrimary(t, plog, PrimaryOptions{HoldCommit: true, Heartbeat: 20 * time.Millisecond})
	defer p.Close()
	sm := &listSM{}
	s, err := NewStandby(openLog(t, vfs.NewMem()), sm, StandbyOptions{Transport: plaintext, Node: "standby-1", Primary: p.Addr().String()})
	require.NoError(t, err)
	defer s.Close()
	for i := range 5 {
		_, _, err := p.Append(ctx, Mode{Sync: 1}, fmt.Appendf(nil, "event %d", i))
		require.NoError(t, err)
	}
	require.Equal(t, wal.LSN(5), s.State().Flushed, "a sync Append returns once the standby holds it")
	// Heartbeats come every 20 ms: several pass without a commit.
	hb := time.After(200 * time.Millisecond) // how long to watch it not apply
	for done := false; !done; {
		select {
		case <-hb:
			done = true
		case <-time.After(10 * time.Millisecond):
			require.Zero(t, s.State().Applied, "applied before the host committed anything")
		}
	}
	p.Commit(3)
	require.NoError(t, s.WaitFor(ctx, 3))
	testkit.Eventually(t, func() bool { return s.State().Applied == 3 }, "the standby to apply up to the commit")
	p.Commit(9) // past what exists: bounded by the primary's durable LSN
	require.NoError(t, s.WaitFor(ctx, 5))
	_, lsn := sm.get()
	require.Equal(t, wal.LSN(5), lsn)
}
