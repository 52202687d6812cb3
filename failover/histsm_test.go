package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/continuity-go/continuity/replication"
	"github.com/continuity-go/continuity/wal"
)

// stateRec is one record a hostSM holds: enough to compare with the
// final history.
type stateRec struct {
	LSN   wal.LSN
	Epoch uint64
	Data  string
}

// hostSM is a history test host's state machine, as a Node's applier
// drives it: the records applied, in order (a primary applies what the
// cluster acknowledged; a standby what its primary committed). It can be discarded
// (replication.Discarder) and replaced by the primary's state
// (Restore, Rebase). It records every record its standby applied
// before a primary had confirmed the standby's log (early): a restarted
// deposed primary would apply its divergent tail so.
type hostSM struct {
	mu        sync.Mutex
	recs      []stateRec
	discarded bool
	discards  []string // why each discard happened (a failure names them)
	restores  int
	early     []stateRec
	// stby is the standby that applies to this state (nil while the
	// host is primary, or before NewStandby returned).
	stby atomic.Pointer[replication.Standby]
	// rebased is called when a transferred state is in place.
	rebased func()
}

func (s *hostSM) last() wal.LSN {
	if len(s.recs) == 0 {
		return 0
	}
	return s.recs[len(s.recs)-1].LSN
}

// Apply applies the next record (a standby's stream).
func (s *hostSM) Apply(r wal.Record) error {
	stby := s.stby.Load()
	confirmed := stby != nil && stby.State().Confirmed
	s.mu.Lock()
	defer s.mu.Unlock()
	if !confirmed && r.LSN > s.last() {
		s.early = append(s.early, stateRec{r.LSN, r.Epoch, string(r.Data)})
	}
	return s.applyLocked(r)
}

func (s *hostSM) applyLocked(r wal.Record) error {
	if s.discarded {
		return fmt.Errorf("apply LSN %d on a discarded state", r.LSN)
	}
	if last := s.last(); r.LSN <= last {
		return nil // applied already
	} else if r.LSN != last+1 {
		return fmt.Errorf("apply LSN %d on a state at %d", r.LSN, last)
	}
	s.recs = append(s.recs, stateRec{r.LSN, r.Epoch, string(r.Data)})
	return nil
}

// applyLog applies the log's records after the state's, up to to (a
// primary applies what it acknowledged).
func (s *hostSM) applyLog(l *wal.Log, to wal.LSN) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discarded || s.last() >= to {
		return nil
	}
	r := l.NewReader(s.last() + 1)
	defer r.Close()
	for s.last() < to {
		rec, err := r.Next(context.Background())
		if err != nil {
			return err
		}
		if err := s.applyLocked(rec); err != nil {
			return err
		}
	}
	return nil
}

func (s *hostSM) Snapshot(w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.NewEncoder(w).Encode(s.recs)
}

func (s *hostSM) Restore(r io.Reader) error {
	var recs []stateRec
	if err := json.NewDecoder(r).Decode(&recs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs, s.restores = recs, s.restores+1
	return nil
}

// Discard drops the state: it applied records the history cut (the
// standby's primary refused its log as diverged).
func (s *hostSM) Discard() {
	s.discardFor("the primary refused the standby's log as diverged")
}

// discardFor drops the state and records why.
func (s *hostSM) discardFor(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discards = append(s.discards, fmt.Sprintf("%s (state at LSN %d)", why, s.last()))
	s.recs, s.discarded = nil, true
}

// Rebase ends a restore: the state holds records up to lsn.
func (s *hostSM) Rebase(wal.LSN) {
	s.mu.Lock()
	s.discarded = false
	s.mu.Unlock()
	if s.rebased != nil {
		s.rebased()
	}
}

func (s *hostSM) isDiscarded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discarded
}

// capture is the primary's PrimaryOptions.Capture.
func (s *hostSM) capture(context.Context) (wal.LSN, func(io.Writer) error, error) {
	s.mu.Lock()
	recs := slices.Clone(s.recs)
	lsn := s.last()
	s.mu.Unlock()
	return lsn, func(w io.Writer) error { return json.NewEncoder(w).Encode(recs) }, nil
}

// state returns the records the state holds, those applied before a
// primary confirmed them, and the counts.
func (s *hostSM) state() (recs, early []stateRec, discards []string, restores int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recs), slices.Clone(s.early), slices.Clone(s.discards), s.restores
}

// checkState fails unless the state is the final history's records and
// nothing was applied before a primary confirmed the log.
func checkState(id string, recs, early []stateRec, final []wal.Record) error {
	if len(early) > 0 {
		return fmt.Errorf("%s applied %d records before a primary confirmed its log, first LSN %d (epoch %d)", id, len(early), early[0].LSN, early[0].Epoch)
	}
	if len(recs) != len(final) {
		return fmt.Errorf("%s's state holds %d records, the final history %d", id, len(recs), len(final))
	}
	for i, r := range final {
		if recs[i] != (stateRec{r.LSN, r.Epoch, string(r.Data)}) {
			return fmt.Errorf("%s's state differs from the final history at LSN %d: %+v", id, r.LSN, recs[i])
		}
	}
	return nil
}
