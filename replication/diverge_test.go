package replication

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/internal/vfs/errorfs"
	"github.com/continuity-go/continuity/wal"
)

// TestStandbyCutsRecordsThePrimaryLost: the primary ships a record while
// it syncs it, and its machine crashes before the sync completes. The
// standby holds the record but must not apply it (the primary never
// committed it); when the restarted primary has written other records at
// those LSNs, the standby's handshake is refused as diverged, it cuts the
// record it never applied, and it follows the new history.
func TestStandbyCutsRecordsThePrimaryLost(t *testing.T) {
	mem := vfs.NewMem()
	var hold atomic.Bool
	release := make(chan struct{})
	gated := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpSync && hold.Load() {
			<-release
		}
		return nil
	}))
	plog, err := wal.Open("log", wal.Options{FS: gated, SegmentBytes: 256 << 10, DisablePreallocation: true})
	require.NoError(t, err)
	p := newTestPrimary(t, plog, PrimaryOptions{Heartbeat: 20 * time.Millisecond})
	addr := p.Addr().String()

	slog := openLog(t, vfs.NewMem())
	sm := &sumSM{}
	s, err := NewStandby(slog, sm, StandbyOptions{Transport: plaintext, Node: "standby-1", Primary: addr,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()

	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	for i := range 5 {
		_, _, err := p.Append(ctx, Mode{}, fmt.Appendf(nil, "event %d", i))
		require.NoError(t, err)
	}
	require.NoError(t, s.WaitFor(ctx, 5))

	// LSN 6 is written and shipped; its sync never completes.
	hold.Store(true)
	appended := make(chan error, 1)
	go func() {
		_, _, err := p.Append(ctx, Mode{}, []byte("lost with the primary's page cache"))
		appended <- err
	}()
	testkit.Eventually(t, func() bool { return slog.Last() == 6 }, "the standby to receive LSN 6 while the primary syncs it")
	crashed := mem.CrashClone()
	testkit.Eventually(t, func() bool { return s.State().Flushed == 6 }, "the standby to sync LSN 6")
	require.Equal(t, wal.LSN(5), s.State().Applied, "a record the primary has not committed is not applied")

	require.NoError(t, p.Close())
	close(release)
	<-appended
	require.NoError(t, plog.Close())

	// The primary restarts from what its disk kept, and writes other
	// records at LSN 6 and on.
	plog2, err := wal.Open("log", wal.Options{FS: crashed, SegmentBytes: 256 << 10})
	require.NoError(t, err)
	defer plog2.Close()
	require.Equal(t, wal.LSN(5), plog2.Last())
	for i := range 3 {
		_, _, err := plog2.Append(ctx, fmt.Appendf(nil, "new history %d", i))
		require.NoError(t, err)
	}
	var p2 *Primary
	testkit.Eventually(t, func() bool {
		p2, err = NewPrimary(plog2, addr, PrimaryOptions{Transport: plaintext, Node: "primary", Heartbeat: 20 * time.Millisecond})
		return err == nil
	}, "the restarted primary to listen again on %s", addr)
	defer p2.Close()

	require.NoError(t, s.WaitFor(ctx, 8))
	requirePrefix(t, plog2, slog)
	require.Equal(t, wal.LSN(8), slog.Last())
	want := &sumSM{}
	r := plog2.NewReader(1)
	defer r.Close()
	for range 8 {
		rec, err := r.Next(ctx)
		require.NoError(t, err)
		require.NoError(t, want.Apply(rec))
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	require.Equal(t, want.lsns, sm.lsns, "every record applied once, in order")
	require.Equal(t, want.sum, sm.sum, "the state holds the new history, not the lost record")
}

// TestStandbyAppliesOnlyCommitted: however the primary's syncs and the
// standby's interleave, the standby never applies a record before the
// primary's log has it durable, and a synchronous Append returns only
// once the standby has it durable too.
func TestStandbyAppliesOnlyCommitted(t *testing.T) {
	plog := openLog(t, vfs.NewMem())
	p := newTestPrimary(t, plog, PrimaryOptions{})
	defer p.Close()
	slog := openLog(t, vfs.NewMem())
	var early atomic.Int64
	sm := &checkSM{apply: func(rec wal.Record) {
		if rec.LSN > plog.Synced() {
			early.Add(1)
		}
	}}
	s, err := NewStandby(slog, sm, StandbyOptions{Transport: plaintext, Node: "standby-1", Primary: p.Addr().String()})
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := range 100 {
				mode := Mode{}
				if (w+i)%3 == 0 {
					mode.Sync = 1
				}
				_, lsn, err := p.Append(ctx, mode, fmt.Appendf(nil, "writer %d event %d", w, i))
				if err == nil && mode.Sync > 0 && s.State().Flushed < lsn {
					err = fmt.Errorf("sync Append of LSN %d returned with the standby flushed to %d", lsn, s.State().Flushed)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
	require.NoError(t, s.WaitFor(ctx, plog.Last()))
	require.Zero(t, early.Load(), "records applied before the primary's sync")
	requirePrefix(t, plog, slog)
}

// checkSM calls apply for every record.
type checkSM struct {
	sumSM
	apply func(wal.Record)
}

func (c *checkSM) Apply(rec wal.Record) error {
	c.apply(rec)
	return c.sumSM.Apply(rec)
}
