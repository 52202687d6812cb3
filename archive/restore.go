package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
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

// Window is what the archive can restore: every instant from Earliest to
// Latest, every LSN from EarliestLSN to LatestLSN.
type Window struct {
	Earliest, Latest       time.Time // the first and last restorable instants
	EarliestLSN, LatestLSN wal.LSN   // the LSNs the state has at those instants
	Timeline               string    // the history followed, e.g. "epoch 1 → after 420: epoch 2"
	Snapshots              int       // base snapshots inside the window
	// Gap, if set, is the gap in the archive just before the window
	// (an *ObjectError with ErrGap): nothing before it can be
	// restored past it.
	Gap error
	// Unverified, if set, is why an object at the window's start or end
	// did not authenticate (an *ObjectError): that bound comes from the
	// object's name only, and restores that need the object fail. Verify
	// reports it too. Targets that do not need it still restore.
	Unverified error
}

// WindowError reports a restore target outside the restorable window.
type WindowError struct {
	Target Target // the target asked for
	Window Window // what can be restored
	// Gap, if set, is why the window starts where it does: an
	// *ObjectError with ErrGap naming the object after records
	// missing from the archive.
	Gap error
}

// Error states the target and the window to choose from.
func (e *WindowError) Error() string {
	s := fmt.Sprintf("archive: restore target %s is outside the restorable window %s to %s (LSN %d to %d); choose a target within it",
		e.Target, e.Window.Earliest.UTC().Format(time.RFC3339Nano), e.Window.Latest.UTC().Format(time.RFC3339Nano), e.Window.EarliestLSN, e.Window.LatestLSN)
	if e.Gap != nil {
		s += " (the window starts after a gap: " + e.Gap.Error() + ")"
	}
	return s
}

// Unwrap returns ErrOutOfWindow and, if set, Gap.
func (e *WindowError) Unwrap() []error {
	if e.Gap != nil {
		return []error{ErrOutOfWindow, e.Gap}
	}
	return []error{ErrOutOfWindow}
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

// history is what restore planning needs: the archive's view and the
// base snapshots on its timeline, newest first.
type history struct {
	v     *archiveView
	bases []snapshot.Manifest
}

func loadHistory(ctx context.Context, store Store) (*history, error) {
	v, err := loadView(ctx, store)
	if err != nil {
		return nil, err
	}
	if len(v.offline) > 0 {
		s := v.offline[0]
		tl := "no timeline"
		if len(v.hist.Epochs) > 0 {
			tl = "the newest timeline is " + v.hist.String()
		}
		return nil, &ObjectError{Object: s.String(), LSN: s.First, Err: ErrOffTimeline,
			Detail: fmt.Sprintf("epoch %d has no timeline object (%s); remove the object if it was planted, or restore the missing timeline", s.Epoch, tl)}
	}
	ms, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	h := &history{v: v}
	for _, m := range ms {
		if !isBase(m) {
			continue
		}
		if b, ok := v.hist.bound(m.Epoch); ok && wal.LSN(m.LSN) <= b {
			h.bases = append(h.bases, m)
		}
	}
	sort.SliceStable(h.bases, func(i, j int) bool { return h.bases[i].LSN > h.bases[j].LSN })
	return h, nil
}

// isBase reports whether m is a base snapshot: taken by an Archiver (or
// tagged baseTag by the host, with the LSN it reflects in Meta.LSN).
func isBase(m snapshot.Manifest) bool {
	return slices.Contains(m.Tags, baseTag) // LSN 0: the state before the first record
}

// recordTime returns the time of record lsn, which piece p holds, from
// the object itself: a name is not evidence (anyone who can write to the
// bucket can plant one), so the object is read and authenticated, once
// per name for the first and last records (see verified).
func recordTime(ctx context.Context, store Store, p piece, lsn wal.LSN) (time.Time, error) {
	if lsn == p.seg.First || lsn == p.seg.Last {
		if err := authenticated(ctx, store, p.seg.segName); err != nil {
			return time.Time{}, err
		}
		// The name's times are the authenticated object's (readSegment
		// checks them against the sealed prefix).
		if lsn == p.seg.First {
			return time.Unix(0, p.seg.FirstNanos), nil
		}
		return time.Unix(0, p.seg.LastNanos), nil
	}
	recs, err := readSegment(ctx, store, p.seg.segName)
	if err != nil {
		return time.Time{}, err
	}
	return recs[lsn-p.seg.First].Time, nil
}

// boundTime is the time of record lsn of piece p, a bound of the window:
// from the authenticated object, or, if it does not authenticate, from
// its name, with the failure kept in w.Unverified, so that damage at the
// window's edge does not stop restores that do not need the object.
// Storage errors are returned.
func (w *Window) boundTime(ctx context.Context, store Store, p piece, lsn wal.LSN) (time.Time, error) {
	t, err := recordTime(ctx, store, p, lsn)
	var oe *ObjectError
	if err == nil || !errors.As(err, &oe) {
		return t, err
	}
	if w.Unverified == nil {
		w.Unverified = err
	}
	if lsn == p.seg.First {
		return time.Unix(0, p.seg.FirstNanos), nil
	}
	return time.Unix(0, p.seg.LastNanos), nil
}

// window computes the restorable window: the last contiguous run of
// archived records, and the oldest base from which it can be reached.
func (h *history) window(ctx context.Context, store Store) (Window, error) {
	w := Window{Timeline: h.v.hist.String()}
	cov := h.v.covered()
	var lo, hi wal.LSN
	if len(cov) > 0 {
		lo, hi = cov[len(cov)-1][0], cov[len(cov)-1][1]
	}
	var earliest *snapshot.Manifest
	for i := range h.bases {
		m := &h.bases[i]
		if len(cov) == 0 && i == 0 || len(cov) > 0 && wal.LSN(m.LSN)+1 >= lo && wal.LSN(m.LSN) <= hi {
			w.Snapshots++
			if earliest == nil || m.Time.Before(earliest.Time) {
				earliest = m
			}
		}
	}
	switch {
	case len(cov) == 0 && earliest == nil:
		return w, ErrNothingToRestore
	case len(cov) == 0:
		// Only a snapshot: its own instant.
		w.Earliest, w.Latest = earliest.Time, earliest.Time
		w.EarliestLSN, w.LatestLSN = wal.LSN(earliest.LSN), wal.LSN(earliest.LSN)
		return w, nil
	}
	if n := len(cov); n > 1 {
		after := h.v.planFrom(lo).pieces[0].seg
		w.Gap = &ObjectError{Object: after.String(), LSN: lo, Err: ErrGap,
			Detail: fmt.Sprintf("no object holds LSN %d to %d", cov[n-2][1]+1, lo-1)}
	}
	p := h.v.planFrom(lo)
	t, err := w.boundTime(ctx, store, p.pieces[len(p.pieces)-1], hi)
	if err != nil {
		return w, err
	}
	w.Latest, w.LatestLSN = t, hi
	found := false
	if lo == 1 {
		first, err := w.boundTime(ctx, store, p.pieces[0], 1)
		if err != nil {
			return w, err
		}
		w.Earliest, w.EarliestLSN, found = first, 1, true
	}
	if earliest != nil && (!found || earliest.Time.Before(w.Earliest)) {
		w.Earliest, w.EarliestLSN, found = earliest.Time, wal.LSN(earliest.LSN), true // LSN 0: the state before record 1
	}
	if !found {
		err := fmt.Errorf("%w: the archive's newest run of records is LSN %d to %d, and no base snapshot at or after LSN %d", ErrNothingToRestore, lo, hi, lo-1)
		if w.Gap != nil {
			err = fmt.Errorf("%w (%w)", err, w.Gap)
		}
		return w, err
	}
	if w.Latest.Before(w.Earliest) {
		// The newest state is a base snapshot's, taken after its last
		// record: it is the state as of its own instant.
		w.Latest = w.Earliest
	}
	return w, nil
}

// Restorable returns the earliest and latest instants (and LSNs) the
// repository can restore, for monitoring and for choosing a target.
func Restorable(ctx context.Context, store Store) (Window, error) {
	h, err := loadHistory(ctx, store)
	if err != nil {
		return Window{}, err
	}
	return h.window(ctx, store)
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
	w, werr := h.window(ctx, store)
	if werr != nil && w.LatestLSN == 0 {
		return res, werr
	}
	if !target.Time.IsZero() && target.Time.After(w.Latest) || target.LSN > w.LatestLSN {
		return res, &WindowError{Target: target, Window: w, Gap: w.Gap}
	}
	stopLSN := w.LatestLSN
	if target.LSN != 0 {
		stopLSN = target.LSN
	}
	// The newest base at or before the target: a snapshot, or the empty
	// state if the archive holds every record from LSN 1. A gap between
	// it and the target is an error that names the object after it.
	var base *snapshot.Manifest
	for i := range h.bases {
		m := &h.bases[i]
		if wal.LSN(m.LSN) > stopLSN || !target.Time.IsZero() && m.Time.After(target.Time) {
			continue
		}
		base = m
		break
	}
	if base == nil && h.v.firstLSN() != 1 {
		return res, &WindowError{Target: target, Window: w, Gap: w.Gap}
	}
	if base == nil && !target.Time.IsZero() && target.Time.Before(time.Unix(0, h.v.valid()[0].seg.FirstNanos)) {
		return res, &WindowError{Target: target, Window: w, Gap: w.Gap} // before the first record
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
	for relists := 0; res.LSN < stopLSN; {
		p := h.v.planFrom(res.LSN + 1)
		progress.Of = progress.Objects + len(p.pieces)
		if len(p.pieces) == 0 {
			gap := &ObjectError{Object: p.next.String(), LSN: res.LSN + 1, Err: ErrGap,
				Detail: fmt.Sprintf("no archived object holds LSN %d", res.LSN+1)}
			if !w.Earliest.IsZero() && (!target.Time.IsZero() && target.Time.Before(w.Earliest) || target.LSN != 0 && target.LSN < w.EarliestLSN) {
				// Restoring from before the window runs into the gap
				// that starts it (or WAL that retention deleted).
				return res, &WindowError{Target: target, Window: w, Gap: gap}
			}
			return res, gap
		}
		done, err := replay(ctx, store, p.pieces, target, stopLSN, sm, &res, func() {
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
		// An object vanished between listing and reading: compaction
		// replaced it. List again and go on from where replay stopped.
		var ae *ObjectError
		if !errors.As(err, &ae) || !errors.Is(err, ErrGap) || relists == 3 {
			return res, err
		}
		relists++
		if h, err = loadHistory(ctx, store); err != nil {
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
func replay(ctx context.Context, store Store, pieces []piece, target Target, stopLSN wal.LSN, sm StateMachine, res *Restored, onObject func()) (done bool, err error) {
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
		recs []wal.Record
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan fetched, prefetchObjects)
	go func() {
		defer close(ch)
		for _, pc := range pieces {
			recs, err := readSegment(ctx, store, pc.seg.segName)
			select {
			case ch <- fetched{recs, err}:
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
		for _, rec := range f.recs[res.LSN+1-pc.seg.First : pc.hi-pc.seg.First+1] {
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

// prefetchObjects is how many archive objects restore reads ahead.
const prefetchObjects = 1
