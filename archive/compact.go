package archive

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// Compact merges this archiver's objects (those of its own epoch) window
// by window, for each window length of Options.Compaction in
// turn: the objects whose first record falls in one closed window become
// one object, written before the pieces are deleted, so a crash at any
// point leaves overlapping objects that restore reads once and the next
// Compact cleans up. Objects that another covers entirely are deleted
// first. Windows are closed once the archive holds a record past their
// end: the open tail is never merged. An archiver that may not delete
// leaves the pieces and the covered objects for a prune (deleteOwn);
// they are covered, so they are not merged again.
func (a *Archiver) Compact(ctx context.Context) error {
	a.compactMu.Lock()
	defer a.compactMu.Unlock()
	a.mu.Lock()
	epoch, resumed, archivedTime := a.st.Epoch, a.st.Resumed, a.st.ArchivedTime
	a.mu.Unlock()
	if !resumed {
		return nil
	}
	v, err := loadView(ctx, a.store)
	if err != nil {
		return err
	}
	if err := a.checkDeposed(v, epoch); err != nil {
		return err
	}
	var own []segObj
	for _, s := range v.segs {
		if s.Epoch == epoch {
			own = append(own, s)
		}
	}
	own, err = a.dropCovered(ctx, own)
	if err != nil {
		return err
	}
	closedBefore := archivedTime.UnixNano()
	for _, w := range a.opts.Compaction {
		if own, err = a.compactLevel(ctx, own, int64(w), closedBefore); err != nil {
			return err
		}
	}
	return nil
}

// dropCovered deletes objects whose range another object covers; own is
// sorted by name (first LSN).
func (a *Archiver) dropCovered(ctx context.Context, own []segObj) ([]segObj, error) {
	keep, covered := coveredObjects(ctx, a.store, own, a.lg)
	for _, s := range covered {
		// Covered, so no longer compacted, also when its delete is
		// deferred.
		if _, err := a.deleteOwn(ctx, s.String()); err != nil {
			return nil, err
		}
	}
	return keep, nil
}

// coveredObjects splits segs, objects of one epoch sorted by name (first
// LSN), into those no other covers and those another covers: one that
// authenticates and holds every record of theirs (of two with the same
// range, the first is kept).
func coveredObjects(ctx context.Context, store Store, segs []segObj, lg *slog.Logger) (keep, covered []segObj) {
	checked := map[segName]bool{} // objects read and authenticated as covering
	for i, s := range segs {
		isCovered := false
		for j, o := range segs {
			if j == i || o.First > s.First || o.Last < s.Last || o.Last-o.First <= s.Last-s.First && j >= i {
				continue
			}
			if !checked[o.segName] {
				if _, err := authenticated(ctx, store, o.segName); err != nil {
					// Not an object this archive wrote (planted, or
					// damaged): it covers nothing. Verify reports it.
					lg.Warn("archive: an object that would cover others does not authenticate; nothing is deleted for it", "object", o.String(), "err", err)
					continue
				}
				checked[o.segName] = true
			}
			isCovered = true
			break
		}
		if isCovered {
			covered = append(covered, s)
		} else {
			keep = append(keep, s)
		}
	}
	return keep, covered
}

// compactLevel merges runs of objects within each closed window of width
// nanoseconds.
func (a *Archiver) compactLevel(ctx context.Context, own []segObj, width, closedBefore int64) ([]segObj, error) {
	var out []segObj
	for i := 0; i < len(own); {
		win := own[i].FirstNanos / width
		// A run: consecutive objects of one window, contiguous in LSN,
		// under the size bound.
		j, size := i+1, own[i].Size
		for j < len(own) && own[j].FirstNanos/width == win && own[j].First <= own[j-1].Last+1 && size+own[j].Size <= a.opts.MaxCompactedBytes {
			size += own[j].Size
			j++
		}
		run := own[i:j]
		if len(run) < 2 || (win+1)*width > closedBefore {
			out = append(out, run[0])
			i++
			continue
		}
		merged, err := a.merge(ctx, run)
		if err != nil {
			return nil, err
		}
		out = append(out, merged)
		i = j
	}
	return out, nil
}

// merge writes one object holding the records of run and deletes run.
func (a *Archiver) merge(ctx context.Context, run []segObj) (segObj, error) {
	var recs []wal.Record
	l := newLinker()
	for _, s := range run {
		seg, err := readSegment(ctx, a.store, s.segName)
		if err != nil {
			return segObj{}, err
		}
		next := s.First
		if len(recs) > 0 {
			next = recs[len(recs)-1].LSN + 1
		}
		if s.First > next {
			return segObj{}, fmt.Errorf("archive: compaction run has a gap before %s", s.String())
		}
		// Only pieces that chain onto each other merge: the merged
		// object's chain is its first piece's Prev and its last's End.
		rs, err := l.take(piece{seg: s, lo: next, hi: s.Last}, seg)
		if err != nil {
			return segObj{}, err
		}
		recs = append(recs, rs...)
	}
	enc, err := encodeSegment(run[0].Epoch, l.first, recs, &segEncoder{opaque: a.opts.Opaque})
	if err != nil {
		return segObj{}, err
	}
	if enc.end != l.chain {
		// The pieces' records do not chain to what their prefixes say
		// (a writer's bug): keep them, merged they would hide it.
		return segObj{}, &ObjectError{Object: run[len(run)-1].String(), LSN: run[0].First, Err: ErrBrokenChain,
			Detail: fmt.Sprintf("the run's records chain to %s, its last object says %s; compaction leaves it", enc.end, l.chain)}
	}
	n, prefix, body := enc.name, enc.prefix, enc.body
	name := n.String()
	size, err := a.store.PutSealed(ctx, name, prefix, body)
	if err != nil && !isExists(err) {
		return segObj{}, fmt.Errorf("archive: write %s: %w", name, err)
	}
	if err != nil {
		// Written by an earlier compaction that died before deleting
		// the pieces, if it holds these records: check before deleting
		// them.
		if err := matchExisting(ctx, a.store, n, enc); err != nil {
			return segObj{}, fmt.Errorf("archive: compaction found %s already there, and not as it would write it; the pieces stay: %w", name, err)
		}
		size = int64(len(prefix) + len(body))
	}
	// The copies follow the merged object before its pieces go: one that
	// has not copied them yet finds them gone (see follower.round). Its
	// records are not new, so it adds nothing to a copy's lag.
	a.wrote(name, time.Time{}, 0)
	for _, s := range run {
		if _, err := a.deleteOwn(ctx, s.String()); err != nil {
			return segObj{}, err
		}
	}
	markVerified(a.store, name, enc.prev, enc.end)
	a.mu.Lock()
	a.st.Compacted++
	a.mu.Unlock()
	return segObj{n, size}, nil
}
