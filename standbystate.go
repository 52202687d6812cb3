package continuity

import (
	"errors"
	"fmt"
	"sync"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/replication"
	"github.com/continuity-go/continuity/wal"
)

// standbyState is the StateMachine a replication.Standby drives. Its
// ApplyThrough lets the applier's loop apply the local log through an
// LSN (the standby wrote and synced every record up to it) and waits
// until the loop has: the host's Apply runs on the loop, never on
// the standby's goroutine. A role change closes the standby after
// release, which ends that wait at once, so a slow or stuck host Apply
// does not hold up the role change, nor the position reports it locks
// out while it runs. (Applying on the standby's goroutine, a cluster
// whose standbys were all inside one long Apply promoted none of them
// until it returned: TestForgetThenFailover.)
//
// Snapshot, Restore, Rebase and Discard are the applier's.
type standbyState struct {
	*applier
	released chan struct{}
	once     sync.Once
}

var (
	_ archive.StateMachine  = (*standbyState)(nil)
	_ replication.Rebaser   = (*standbyState)(nil)
	_ replication.Discarder = (*standbyState)(nil)
)

func newStandbyState(a *applier) *standbyState {
	return &standbyState{applier: a, released: make(chan struct{})}
}

// errReleased: the standby is being closed (the node changes role).
var errReleased = errors.New("continuity: the standby is being closed")

// Apply is ApplyThrough(rec.LSN).
func (s *standbyState) Apply(rec wal.Record) error { return s.ApplyThrough(rec.LSN) }

// ApplyThrough returns once the state holds every record through lsn
// (or held them already), the state failed or was discarded
// (errRebasing), or the standby is released.
func (s *standbyState) ApplyThrough(lsn wal.LSN) error {
	a := s.applier
	if a.rebased.Load() {
		return errRebasing
	}
	if a.Applied() >= lsn {
		return nil
	}
	if last := a.log.Last(); last < lsn {
		// The loop applies from the log: a record it does not hold would
		// be waited for, not applied.
		return fmt.Errorf("continuity: apply LSN %d: the state holds up to %d, and the log only up to %d", lsn, a.Applied(), last)
	}
	a.acknowledge(lsn)
	applied, err := a.waitApplied(lsn, s.released, true)
	if !applied && err == nil {
		return errReleased
	}
	return err
}

// release ends ApplyThrough's waits, now and later: the standby is about to
// be closed.
func (s *standbyState) release() { s.once.Do(func() { close(s.released) }) }
