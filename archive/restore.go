package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// Target says what state RestoreTo rebuilds: the state as of Time (every
// record with Time at or before it), or as of LSN. The zero Target is the
// newest state the archive holds.
type Target struct {
	Time time.Time // the state as of this instant, if not zero
	LSN  wal.LSN   // or as of this LSN, if not zero
}

// AtTime is the state as of t.
func AtTime(t time.Time) Target { return Target{Time: t} }

// AtLSN is the state as of lsn.
func AtLSN(lsn wal.LSN) Target { return Target{LSN: lsn} }

// String describes the target.
func (t Target) String() string {
	switch {
	case !t.Time.IsZero():
		return t.Time.UTC().Format(time.RFC3339Nano)
	case t.LSN != 0:
		return fmt.Sprintf("LSN %d", t.LSN)
	}
	return "latest"
}

// RestoreProgress is reported while RestoreTo replays the archive.
type RestoreProgress struct {
	Snapshot      snapshot.ID   // the base snapshot (zero if none)
	LSN           wal.LSN       // last record applied
	TargetLSN     wal.LSN       // the highest LSN the replay can reach
	Records       int64         // records applied so far
	Bytes         int64         // payload bytes applied so far
	Objects, Of   int           // archive objects read, of how many planned
	SinceStart    time.Duration // time since RestoreTo started
	BaseRestored  bool          // the snapshot is restored; replay is running
	BaseRestoring bool          // the snapshot is being restored
}

// RestoreOptions configures RestoreTo.
type RestoreOptions struct {
	// Progress, if set, is called after the base snapshot and after each
	// archive object.
	Progress func(RestoreProgress)
}

// Restored says what RestoreTo reached.
type Restored struct {
	Target      Target        // the target asked for
	LSN         wal.LSN       // the last record in the state
	Time        time.Time     // that record's time (the snapshot's if no record was replayed)
	Snapshot    snapshot.ID   // base snapshot restored (zero: replayed from LSN 1)
	SnapshotLSN wal.LSN       // its LSN
	Records     int64         // records replayed from the archive
	Bytes       int64         // their payload bytes
	Objects     int           // archive objects read
	Duration    time.Duration // how long the restore took
}

// RestoreTo rebuilds into sm the state as of target: it restores the
// newest base snapshot (tagged baseTag, with its LSN on the timeline) at
// or before the target (or starts from the empty
// state sm is in, if the archive holds every record from LSN 1), then
// replays archived records of the archive's newest timeline up to the
// target. A target outside the restorable window gives a *WindowError
// stating the window; a missing or damaged object an *ObjectError
// naming it. sm must be fresh: RestoreTo calls its Restore (with a base
// snapshot) and Apply.
func RestoreTo(ctx context.Context, store Store, target Target, sm StateMachine, opts RestoreOptions) (Restored, error) {
	start := time.Now()
	res := Restored{Target: target}
	h, err := loadHistory(ctx, store)
	if err != nil {
		return res, err
	}
	// Everything that can be known before touching sm is checked first:
	// the target lies in a range of the window, a base and the archived
	// records reach it, the archive's tail is not cut.
	w, werr := h.restorable(ctx, store)
	if werr != nil && len(w.Ranges) == 0 {
		return res, werr
	}
	if target.LSN == 0 && target.Time.IsZero() && w.Cut != nil {
		return res, fmt.Errorf("%w; to restore what remains, name LSN %d (or an earlier target) to accept the loss", w.Cut, w.LatestLSN)
	}
	r, ok := w.rangeOf(target)
	if !ok {
		return res, &WindowError{Target: target, Window: w}
	}
	stopLSN := r.ToLSN
	if target.LSN != 0 {
		stopLSN = target.LSN
	}
	// The newest base in the range at or before the target, or the empty
	// state if the range starts at LSN 1.
	var base *snapshot.Manifest
	for i := range h.bases {
		m := &h.bases[i]
		lsn := wal.LSN(m.LSN)
		if lsn > stopLSN || lsn < r.FromLSN || !target.Time.IsZero() && m.Time.After(target.Time) {
			continue
		}
		base = m
		break
	}
	if base == nil && !r.fromLSN1 {
		return res, &WindowError{Target: target, Window: w}
	}
	from := wal.LSN(1)
	if base != nil {
		from = wal.LSN(base.LSN) + 1
	}
	if p := h.v.planFrom(from); p.end < stopLSN && (target.LSN != 0 || p.end < r.ToLSN) {
		return res, &ObjectError{Object: p.next.String(), LSN: p.end + 1, Err: ErrGap,
			Detail: fmt.Sprintf("no archived object holds LSN %d", p.end+1)}
	}
	progress := RestoreProgress{TargetLSN: stopLSN}
	report := func() {
		if opts.Progress != nil {
			progress.SinceStart = time.Since(start)
			opts.Progress(progress)
		}
	}
	if base != nil {
		res.Snapshot, res.SnapshotLSN, res.LSN, res.Time = base.ID, wal.LSN(base.LSN), wal.LSN(base.LSN), base.Time
		progress.Snapshot, progress.LSN, progress.BaseRestoring = base.ID, res.LSN, true
		report()
		if err := RestoreSnapshot(ctx, store, base.ID, sm); err != nil {
			return res, err
		}
		progress.BaseRestoring, progress.BaseRestored = false, true
		report()
	}
	l := newLinker()
	var damaged error // the last object planned around
	for relists := 0; res.LSN < stopLSN; {
		p := h.v.planFrom(res.LSN + 1)
		progress.Of = progress.Objects + len(p.pieces)
		if len(p.pieces) == 0 && damaged != nil {
			return res, damaged // nothing else holds its records
		}
		if len(p.pieces) == 0 {
			return res, &ObjectError{Object: p.next.String(), LSN: res.LSN + 1, Err: ErrGap,
				Detail: fmt.Sprintf("no archived object holds LSN %d (it vanished while restoring)", res.LSN+1)}
		}
		done, err := replay(ctx, store, l, p.pieces, target, stopLSN, sm, &res, func() {
			progress.Objects++
			progress.LSN, progress.Records, progress.Bytes = res.LSN, res.Records, res.Bytes
			report()
		})
		if done || err == nil && res.LSN >= p.end {
			if done || res.LSN >= stopLSN {
				break
			}
			continue
		}
		// An object that does not authenticate (planted under a name
		// that shadows real ones, or damaged) is planned around: the
		// records applied so far are authentic, and another object may
		// hold the rest. One that vanished between listing and reading
		// (compaction replaced it) makes us list again.
		var oe *ObjectError
		if !errors.As(err, &oe) || relists == maxReplans {
			return res, err
		}
		relists++
		switch {
		case oe.Err == ErrCorrupt:
			n, isTL, perr := parseArchiveName(oe.Object)
			if perr != nil || isTL {
				return res, err
			}
			h.v.drop(n)
			damaged = err
		case oe.Err == ErrGap:
			excluded := h.v.exclude
			if h, err = loadHistory(ctx, store); err != nil {
				return res, err
			}
			h.v.exclude = excluded
		default:
			return res, err
		}
	}
	res.Duration = time.Since(start)
	return res, nil
}

// RestoreSnapshot restores the base snapshot id into sm: sm.Restore
// reads the state as Save stored it. An error names the snapshot.
func RestoreSnapshot(ctx context.Context, store Store, id snapshot.ID, sm StateMachine) error {
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := sm.Restore(pr)
		pr.CloseWithError(errors.New("state machine stopped reading"))
		errc <- err
	}()
	err := store.Restore(ctx, id, pw)
	pw.CloseWithError(err)
	if rerr := <-errc; err == nil && rerr != nil {
		err = fmt.Errorf("archive: state machine Restore: %w", rerr)
	}
	if err != nil {
		return fmt.Errorf("archive: restore base snapshot %s: %w", id.Short(), err)
	}
	return nil
}

// replay applies the records of pieces up to the target; done reports
// that it reached it (a record past the target time, or stopLSN).
func replay(ctx context.Context, store Store, l *linker, pieces []piece, target Target, stopLSN wal.LSN, sm StateMachine, res *Restored, onObject func()) (done bool, err error) {
	// Only the pieces the target needs: stop before one that starts past it.
	for i, pc := range pieces {
		if pc.lo > stopLSN || !target.Time.IsZero() && pc.lo == pc.seg.First && time.Unix(0, pc.seg.FirstNanos).After(target.Time) {
			pieces, done = pieces[:i], true
			break
		}
	}
	// Objects are fetched and decoded ahead, up to prefetchObjects, while
	// the state machine applies: on a store with 20-50 ms per GET the
	// replay does not wait for each.
	type fetched struct {
		seg segment
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan fetched, prefetchObjects)
	go func() {
		defer close(ch)
		for _, pc := range pieces {
			seg, err := readSegment(ctx, store, pc.seg.segName)
			select {
			case ch <- fetched{seg, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range ch { // let the fetcher end
		}
	}()
	for _, pc := range pieces {
		f, ok := <-ch
		if !ok {
			return false, ctx.Err()
		}
		if f.err != nil {
			return false, f.err
		}
		res.Objects++
		pc.lo = res.LSN + 1
		recs, err := l.take(pc, f.seg)
		if err != nil {
			return false, err
		}
		for _, rec := range recs {
			if !target.Time.IsZero() && rec.Time.After(target.Time) || rec.LSN > stopLSN {
				onObject()
				return true, nil
			}
			if err := sm.Apply(rec); err != nil {
				return false, fmt.Errorf("archive: state machine Apply(LSN %d): %w", rec.LSN, err)
			}
			res.LSN, res.Time = rec.LSN, rec.Time
			res.Records++
			res.Bytes += int64(len(rec.Data))
		}
		onObject()
	}
	return done, nil
}

// maxReplans bounds how often a restore plans again around objects that
// failed or vanished.
const maxReplans = 16

// prefetchObjects is how many archive objects restore reads ahead.
const prefetchObjects = 1
