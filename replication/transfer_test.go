package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/wal"
)

// listSM keeps the data of every record applied, in order; it snapshots
// as JSON and can be discarded and rebased, as a Node's applier.
type listSM struct {
	mu        sync.Mutex
	data      []string
	lsn       wal.LSN
	discarded bool
	restores  int
}

func (s *listSM) Apply(r wal.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discarded {
		return fmt.Errorf("apply LSN %d on a discarded state", r.LSN)
	}
	if r.LSN != s.lsn+1 {
		return fmt.Errorf("apply LSN %d on a state at %d", r.LSN, s.lsn)
	}
	s.data, s.lsn = append(s.data, string(r.Data)), r.LSN
	return nil
}

func (s *listSM) Snapshot(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.NewEncoder(w).Encode(s.data)
}

func (s *listSM) Restore(r io.Reader) error {
	var d []string
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data, s.restores = d, s.restores+1
	return nil
}

func (s *listSM) Discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data, s.lsn, s.discarded = nil, 0, true
}

func (s *listSM) Rebase(lsn wal.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lsn, s.discarded = lsn, false
}

func (s *listSM) get() ([]string, wal.LSN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.data), s.lsn
}

// capture is a PrimaryOptions.Capture over sm.
func (s *listSM) capture(context.Context) (wal.LSN, func(io.Writer) error, error) {
	s.mu.Lock()
	lsn, data := s.lsn, slices.Clone(s.data)
	s.mu.Unlock()
	return lsn, func(w io.Writer) error { return json.NewEncoder(w).Encode(data) }, nil
}

// TestStateTransferReplacesDivergedState: a standby whose state applied
// records the primary does not hold (a deposed primary's tail, which no
// base snapshot in the archive can undo) is refused as diverged; it
// discards its state, asks the primary for its state, restores it only
// after checking it, restarts its WAL after it, and then follows the
// primary's records. Its state ends equal to the primary's.
func TestStateTransferReplacesDivergedState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	plog := openLog(t, vfs.NewMem())
	require.NoError(t, plog.SetEpoch(1))
	psm := &listSM{}
	for i := range 10 {
		if i == 5 {
			require.NoError(t, plog.SetEpoch(2)) // the new primary's history forks after LSN 5
		}
		_, last, err := plog.Append(ctx, fmt.Appendf(nil, "history %d", i))
		require.NoError(t, err)
		rec := readOne(t, plog, last)
		require.NoError(t, psm.Apply(rec))
	}

	// The standby holds the first 5 records and 3 of its own, all
	// applied.
	stlog := openLog(t, vfs.NewMem())
	ssm := &listSM{}
	for lsn := wal.LSN(1); lsn <= 5; lsn++ {
		rec := readOne(t, plog, lsn)
		require.NoError(t, stlog.Write(ctx, rec))
		require.NoError(t, ssm.Apply(rec))
	}
	base := readOne(t, plog, 5).Time
	for i := range 3 {
		rec := wal.Record{LSN: wal.LSN(6 + i), Epoch: 1, Time: base.Add(time.Duration(i+1) * time.Millisecond), Data: fmt.Appendf(nil, "diverged %d", i)}
		require.NoError(t, stlog.Write(ctx, rec))
		require.NoError(t, ssm.Apply(rec))
	}

	p := newTestPrimary(t, plog, PrimaryOptions{Heartbeat: 20 * time.Millisecond, Capture: psm.capture})
	defer p.Close()
	s, err := NewStandby(stlog, ssm, StandbyOptions{Transport: plaintext, Node: "standby-1", Primary: p.Addr().String(),
		Applied: 8, SpoolDir: t.TempDir(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()

	testkit.Eventually(t, func() bool { return s.State().Confirmed }, "the standby to take the primary's state")
	for i := 10; i < 13; i++ {
		_, last, err := p.Append(ctx, Mode{Sync: 1}, fmt.Appendf(nil, "history %d", i))
		require.NoError(t, err)
		require.NoError(t, psm.Apply(readOne(t, plog, last)))
	}
	require.NoError(t, s.WaitFor(ctx, 13))
	want, _ := psm.get()
	got, lsn := ssm.get()
	require.Equal(t, wal.LSN(13), lsn)
	require.Equal(t, want, got, "the standby's state is the primary's")
	require.Equal(t, 1, ssm.restores, "restored once, from the transfer")
	require.Equal(t, wal.LSN(11), stlog.First(), "the standby's WAL restarts after the state's LSN")
	require.False(t, s.State().NeedState)
	requireSameRecords(t, plog, stlog, 11, 13)
}

// TestStateTransferRefusedWithoutCapture: a primary that cannot capture
// its state refuses a standby that asks for it; the standby keeps
// asking and applies nothing meanwhile.
func TestStateTransferRefusedWithoutCapture(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), hangTimeout)
	defer cancel()
	plog := openLog(t, vfs.NewMem())
	for i := range 3 {
		_, _, err := plog.Append(ctx, fmt.Appendf(nil, "history %d", i))
		require.NoError(t, err)
	}
	p := newTestPrimary(t, plog, PrimaryOptions{Heartbeat: 20 * time.Millisecond})
	defer p.Close()
	ssm := &listSM{}
	ssm.Discard()
	s, err := NewStandby(openLog(t, vfs.NewMem()), ssm, StandbyOptions{Transport: plaintext, Node: "standby-1", Primary: p.Addr().String(),
		NeedState: true, SpoolDir: t.TempDir(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	require.NoError(t, err)
	defer s.Close()
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond) // how long to watch it not apply
	defer wcancel()
	require.Error(t, s.WaitFor(wctx, 1), "nothing is applied on a state that waits for a transfer")
	st := s.State()
	require.True(t, st.NeedState)
	require.False(t, st.Confirmed)
	_, lsn := ssm.get()
	require.Zero(t, lsn)
}

func readOne(t *testing.T, l *wal.Log, lsn wal.LSN) wal.Record {
	t.Helper()
	r := l.NewReader(lsn)
	defer r.Close()
	rec, err := r.Next(context.Background())
	require.NoError(t, err)
	return rec
}

// requireSameRecords checks that a and b hold the same records from
// through to.
func requireSameRecords(t *testing.T, a, b *wal.Log, from, to wal.LSN) {
	t.Helper()
	for lsn := from; lsn <= to; lsn++ {
		x, y := readOne(t, a, lsn), readOne(t, b, lsn)
		require.Equal(t, x.Data, y.Data, "record %d", lsn)
		require.Equal(t, x.Epoch, y.Epoch, "record %d", lsn)
	}
}
