package replication

import (
	"context"
	"fmt"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/wal"
)

// Rebaser is an optional capability of a standby's StateMachine that
// keeps track of the LSN its state holds: after the standby restores a
// base snapshot from the archive (StateMachine.Restore), it calls Rebase
// with the snapshot's LSN before it applies the records after it.
type Rebaser interface {
	Rebase(lsn wal.LSN)
}

// Discarder is an optional capability of a standby's StateMachine: the
// standby calls Discard when the state applied records the primary's
// history does not hold, and then asks the primary for its state
// (StandbyOptions.NeedState). Until Restore and Rebase, nothing may be
// read from the state, and WaitFor must not return.
type Discarder interface {
	Discard()
}

// LogApplier is an optional capability of a standby's StateMachine that
// reads the records it applies from the standby's WAL itself: the
// standby calls ApplyThrough(lsn) instead of Apply for each record, once
// its WAL holds every record through lsn, synced, and returns when the
// state holds them. One call per batch instead of one per record.
type LogApplier interface {
	ApplyThrough(lsn wal.LSN) error
}

// bootstrap catches the standby up from the archive: the archived records
// after its last LSN, or, if the archive does not hold them, the newest
// base snapshot and the records after it. On return the local WAL and the
// state machine are at the end of the archive's run of records.
func (s *Standby) bootstrap(ctx context.Context) error {
	store := s.opts.Archive
	plan, err := archive.PlanCatchUp(ctx, store, s.log.Last()+1)
	if err != nil {
		return fmt.Errorf("replication: bootstrap: %w", err)
	}
	if m := plan.Base; m != nil {
		if err := archive.RestoreSnapshot(ctx, store, m.ID, s.sm); err != nil {
			return err
		}
		s.lg.Info("standby restored a base snapshot from the archive", "snapshot", m.ID.Short(), "lsn", m.LSN)
		// The local WAL restarts after the snapshot: empty it (an empty
		// log accepts any first LSN).
		if _, err := s.log.CutTail(ctx, s.log.First()-1, nil); err != nil {
			return fmt.Errorf("replication: bootstrap: empty the local WAL: %w", err)
		}
		base := wal.LSN(m.LSN)
		if rb, ok := s.sm.(Rebaser); ok {
			rb.Rebase(base)
		}
		s.notify(func() { s.applied, s.received, s.committed = base, base, max(s.committed, base) })
	}
	applied := plan.From - 1
	err = archive.ReadBatches(ctx, store, plan.From, plan.To, func(recs []wal.Record) error {
		if err := s.log.Write(ctx, recs...); err != nil {
			return fmt.Errorf("replication: bootstrap: write LSN %d-%d: %w", recs[0].LSN, recs[len(recs)-1].LSN, err)
		}
		if applied, err = s.applyThrough(ctx, applied, recs[len(recs)-1].LSN, recs); err != nil {
			return err
		}
		s.notify(func() { s.applied, s.received, s.committed = applied, applied, max(s.committed, applied) })
		return nil
	})
	if err != nil {
		return err
	}
	s.lg.Info("standby caught up from the archive", "lsn", applied)
	return nil
}
