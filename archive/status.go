package archive

import (
	"time"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// Status is an Archiver's state, for monitoring.
type Status struct {
	Epoch        uint64    // epoch of the timeline being archived
	Resumed      bool      // the archiver has found where to continue
	Archived     wal.LSN   // every record of the log up to here is in the archive
	ArchivedTime time.Time // time of record Archived
	Last         wal.LSN   // the log's last LSN
	// Lag is how old the oldest record not yet archived is (0 when the
	// archive is caught up): the recovery point objective right now.
	// Before the archiver has resumed (the bucket cannot be listed yet)
	// it is the age of the oldest record appended since it started: a
	// lower bound.
	Lag time.Duration
	// Bound is how far the archive may lag while uploads keep up:
	// Options.ShipInterval, or IdleShipInterval if set.
	Bound     time.Duration
	Objects   int64     // objects uploaded
	Bytes     int64     // bytes uploaded
	Failures  int64     // failed uploads (each retried)
	LastError error     // the last upload or listing error, if any
	ErrorTime time.Time // when LastError happened
	Compacted int64     // objects written by compaction
	// DeletesDeferred counts deletes of superseded objects (old heads,
	// compacted pieces) skipped because the store denies this
	// archiver's credentials deletes: they stay for a prune with
	// credentials that may (see the package doc, "Credentials").
	DeletesDeferred int64
	Deposed         error          // non-nil once a newer timeline is in the archive: archiving stopped
	HeadLSN         wal.LSN        // the LSN of the newest head object this archiver wrote
	HeadWritten     time.Time      // when it wrote it
	Snapshot        snapshot.ID    // the last base snapshot this archiver took
	SnapshotAt      wal.LSN        // its LSN
	SnapshotTime    time.Time      // its time
	SnapshotStats   snapshot.Stats // what its Save read, reused and stored
	Copies          []CopyStatus   // Options.Copies, in that order
}

// Status returns the archiver's current state.
func (a *Archiver) Status() Status {
	a.mu.Lock()
	st := a.st
	a.mu.Unlock()
	st.Last = a.log.Last()
	st.Bound = a.opts.bound()
	switch {
	case st.Resumed && st.Last > st.Archived:
		if rec, err := a.recordAt(st.Archived + 1); err == nil {
			st.Lag = max(0, a.opts.Now().Sub(rec.Time))
		}
	case !st.Resumed && st.Last >= a.log.First() && st.Last > 0:
		// Not resumed (the bucket cannot be listed): what is archived is
		// unknown, so the lag is at least as old as the oldest record
		// appended since the archiver started, if any.
		if a.startLSN <= st.Last {
			if rec, err := a.recordAt(max(a.startLSN, a.log.First())); err == nil {
				st.Lag = max(0, a.opts.Now().Sub(rec.Time))
			}
		}
	}
	now := a.opts.Now()
	for _, f := range a.copies {
		st.Copies = append(st.Copies, f.status(now, st.Lag))
	}
	return st
}
