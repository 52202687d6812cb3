package replication

import (
	"context"
	"fmt"

	"github.com/continuity-go/continuity/wal"
)

// bootstrap catches the standby up from the archive: the archived records
// after its last LSN, or, if the archive does not hold them, the newest
// base snapshot and the records after it. On return the local WAL and the
// state machine are at the archive's newest record.
func (s *Standby) bootstrap(ctx context.Context) error {
	repo := s.opts.Archive
	h, err := loadHistory(ctx, repo)
	if err != nil {
		return err
	}
	from := s.log.Last() + 1
	p := h.v.planFrom(from)
	if len(p.pieces) == 0 {
		// The archive does not hold the next record either: start over
		// from the newest base snapshot whose successors it holds.
		var base *wal.LSN
		for _, m := range h.bases {
			if q := h.v.planFrom(wal.LSN(m.LSN) + 1); len(q.pieces) > 0 || q.end >= h.v.tip() {
				lsn := wal.LSN(m.LSN)
				base = &lsn
				if err := restoreSnapshot(ctx, repo, m.ID, s.sm); err != nil {
					return err
				}
				s.lg.Info("standby restored a base snapshot from the archive", "snapshot", m.ID.Short(), "lsn", m.LSN)
				break
			}
		}
		if base == nil {
			return fmt.Errorf("replication: bootstrap: the archive has no base snapshot from which LSN %d onward can be replayed", from)
		}
		// The local WAL restarts after the snapshot: empty it (an empty
		// log accepts any first LSN).
		if s.log.Last() >= s.log.First() {
			if err := s.log.TruncateBack(s.log.First() - 1); err != nil {
				return fmt.Errorf("replication: bootstrap: empty the local WAL: %w", err)
			}
		}
		s.notify(func() { s.applied, s.received, s.committed = *base, *base, max(s.committed, *base) })
		from = *base + 1
		p = h.v.planFrom(from)
	}
	applied := from - 1
	for _, pc := range p.pieces {
		recs, err := readSegment(ctx, repo, pc.seg.segName)
		if err != nil {
			return err
		}
		recs = recs[pc.lo-pc.seg.First : pc.hi-pc.seg.First+1]
		if err := s.log.Write(ctx, recs...); err != nil {
			return fmt.Errorf("replication: bootstrap: write LSN %d-%d: %w", pc.lo, pc.hi, err)
		}
		for _, rec := range recs {
			if err := s.sm.Apply(rec); err != nil {
				return &applyError{fmt.Errorf("replication: apply LSN %d: %w", rec.LSN, err)}
			}
			applied = rec.LSN
		}
		s.notify(func() { s.applied, s.received, s.committed = applied, applied, max(s.committed, applied) })
	}
	s.lg.Info("standby caught up from the archive", "lsn", applied)
	return nil
}
