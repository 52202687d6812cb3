package archive

import (
	"context"
	"errors"
	"fmt"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// Read calls fn with every archived record of the newest timeline
// from LSN from through to, in order, without any snapshot: for
// projections that need events older than a log holds. Records missing
// from the archive give an *ObjectError with ErrGap naming the
// object after them; an error from fn stops the read and is returned.
func Read(ctx context.Context, store Store, from, to wal.LSN, fn func(wal.Record) error) error {
	return ReadBatches(ctx, store, from, to, func(recs []wal.Record) error {
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// ReadBatches is Read with the records of one archive object at a time,
// for callers that write them on in batches (a standby catching up). fn
// must not keep recs after it returns.
func ReadBatches(ctx context.Context, store Store, from, to wal.LSN, fn func(recs []wal.Record) error) error {
	if from == 0 {
		from = 1
	}
	next := from
	l := newLinker()
	var excluded map[segName]bool // objects that did not authenticate: planned around
	var damaged error             // the last of them
	for relists := 0; next <= to; {
		h, err := loadHistory(ctx, store)
		if err != nil {
			return err
		}
		h.v.exclude = excluded
		p := h.v.planFrom(next)
		if len(p.pieces) == 0 && damaged != nil {
			return damaged // nothing else holds its records
		}
		if len(p.pieces) == 0 {
			obj := "(none)"
			if p.next != (segObj{}) {
				obj = p.next.String()
			}
			return &ObjectError{Object: obj, LSN: next, Err: ErrGap, Detail: fmt.Sprintf("no archived object holds LSN %d", next)}
		}
		for _, pc := range p.pieces {
			if next > to {
				return nil
			}
			seg, err := readSegment(ctx, store, pc.seg.segName)
			if err != nil {
				if (errors.Is(err, ErrGap) || errors.Is(err, ErrCorrupt)) && relists < maxReplans {
					// Compaction replaced the object, or it does not
					// authenticate (planted, damaged): plan again,
					// around it.
					relists++
					if errors.Is(err, ErrCorrupt) {
						h.v.drop(pc.seg.segName)
						excluded, damaged = h.v.exclude, err
					}
					break
				}
				return err
			}
			pc.lo, pc.hi = next, min(pc.hi, to)
			recs, err := l.take(pc, seg)
			if err != nil {
				return err
			}
			if err := fn(recs); err != nil {
				return err
			}
			next = recs[len(recs)-1].LSN + 1
		}
	}
	return nil
}

// CatchUp is how a follower whose log ends before LSN From reaches the
// archive's newest record: restore Base first if it is set (the archive
// no longer holds the records after the follower's log), then read From
// through To.
type CatchUp struct {
	// Base, if set, is the newest base snapshot from which the archive
	// can be replayed: the follower restores it, and its log restarts
	// after Base.LSN.
	Base *snapshot.Manifest
	// From and To are the records to read after it (From > To: none).
	From, To wal.LSN
}

// PlanCatchUp plans how a follower whose next record is from catches up
// from the archive: the records from there to the end of their
// contiguous run, or, if the archive does not hold from, the newest base
// snapshot whose successors it holds and the records after it.
func PlanCatchUp(ctx context.Context, store Store, from wal.LSN) (CatchUp, error) {
	h, err := loadHistory(ctx, store)
	if err != nil {
		return CatchUp{}, err
	}
	if p := h.v.planFrom(from); len(p.pieces) > 0 {
		return CatchUp{From: from, To: p.end}, nil
	}
	for i := range h.bases {
		m := &h.bases[i]
		next := wal.LSN(m.LSN) + 1
		if q := h.v.planFrom(next); len(q.pieces) > 0 || q.end >= h.v.tip() {
			return CatchUp{Base: m, From: next, To: q.end}, nil
		}
	}
	return CatchUp{}, fmt.Errorf("archive: the archive has no base snapshot from which LSN %d onward can be replayed", from)
}
