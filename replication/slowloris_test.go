package replication

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/internal/wire"
)

// TestSlowLorisPrimary: 100 connections that never send a byte do not
// keep a standby out: its dial, TLS handshake and Hello included, gets
// through within its HandshakeTimeout (a few attempts, for a busy
// machine: before handshakes ran off the accept loop, each idle
// connection held every later one for the whole handshake timeout), and
// a standby streams. The idle connections are refused and counted: most
// at once (over the per-source cap), the rest at the handshake deadline.
func TestSlowLorisPrimary(t *testing.T) {
	ca := testkit.NewCA(t, "cluster CA")
	plog := openLog(t, vfs.NewMem())
	po := tlsOpts(t, ca, "primary")
	po.HandshakeTimeout = 3 * time.Second // the idle connections' deadline
	p, err := NewPrimary(plog, "127.0.0.1:0", PrimaryOptions{Transport: po, Node: "primary"})
	require.NoError(t, err)
	defer p.Close()

	idle := testkit.SlowLoris(t, p.Addr().String(), 100)

	ctx := t.Context()
	so := tlsOpts(t, ca, "standby-2")
	attempts, connected := 0, false
	for !connected && attempts < 3 {
		attempts++
		start := time.Now()
		c, w, err := wire.Dial(ctx, p.Addr().String(), so.wire(), wire.Hello{Node: "standby-2"})
		if err != nil {
			t.Logf("attempt %d failed after %v: %v", attempts, time.Since(start), err)
			continue
		}
		t.Logf("attempt %d: the handshake took %v", attempts, time.Since(start))
		assert.Equal(t, "primary", w.Node)
		require.NoError(t, c.Close())
		connected = true
	}
	require.True(t, connected, "the standby's handshake never got through")

	s, err := NewStandby(openLog(t, vfs.NewMem()), &sumSM{}, StandbyOptions{Transport: tlsOpts(t, ca, "standby-1"), Node: "standby-1", Primary: p.Addr().String()})
	require.NoError(t, err)
	defer s.Close()
	for i := range 10 {
		_, _, err := plog.Append(ctx, fmt.Appendf(nil, "record %d", i))
		require.NoError(t, err)
	}
	wctx, cancel := context.WithTimeout(ctx, hangTimeout)
	defer cancel()
	require.NoError(t, s.WaitFor(wctx, plog.Last()))

	testkit.Eventually(t, func() bool { return p.HandshakesRefused() >= uint64(len(idle)) }, "the %d idle connections refused", len(idle))
	if attempts == 1 {
		assert.Equal(t, uint64(len(idle)), p.HandshakesRefused(), "only the idle connections are refused")
	}
	for i, c := range idle {
		require.True(t, testkit.ClosedByPeer(c, testkit.EventuallyTimeout), "idle connection %d is closed", i)
	}
}
