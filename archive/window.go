package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// What can be restored is computed in one place, restorable, which
// Restorable (the window), RestoreTo, Drill, Verify and the metrics all
// use: from each base snapshot on the timeline (and from the empty state,
// if the archive holds LSN 1) the archived records reach forward to the
// first gap; each such stretch is a Range, and the window is their union.
// Gaps that no base bridges are holes in it.

// Range is a stretch of restorable targets: every instant from From to
// To and every LSN from FromLSN to ToLSN.
type Range struct {
	From, To       time.Time
	FromLSN, ToLSN wal.LSN
	Base           snapshot.ID // the oldest base snapshot it starts from; zero if it starts from LSN 1
	fromLSN1       bool        // starts from the empty state, before record 1
}

// Window is what the archive can restore: Ranges, from Earliest to
// Latest, with holes between them where records are missing (Gaps).
type Window struct {
	Earliest, Latest       time.Time // the first and last restorable instants
	EarliestLSN, LatestLSN wal.LSN   // the LSNs the state has at those instants
	Timeline               string    // the history followed, e.g. "epoch 1 → after 420: epoch 2"
	Snapshots              int       // base snapshots inside the window
	// Ranges are the restorable stretches, oldest first; more than one
	// when records are missing between them.
	Ranges []Range
	// Gaps are the holes between Ranges, each an *ObjectError with
	// ErrGap naming the object after the missing records.
	Gaps []error
	// Cut, if set, says the archive's newest records are missing: the
	// head object records a newer archived record than any object holds
	// (an *ObjectError with ErrGap naming the head). A restore to the
	// latest state fails with it; name an LSN or time to accept the loss.
	Cut error
	// Head is the newest head object: how far the archive reached when
	// it was last written, and when (zero if there is none).
	HeadLSN     wal.LSN
	HeadWritten time.Time
	// Unverified, if set, is why an object at the end of a range did not
	// authenticate (an *ObjectError): that range ends before it.
	Unverified error
}

// contains reports whether target lies in r (the zero target: never).
func (r Range) contains(t Target) bool {
	switch {
	case t.LSN != 0:
		return t.LSN >= r.FromLSN && t.LSN <= r.ToLSN
	case !t.Time.IsZero():
		return !t.Time.Before(r.From) && !t.Time.After(r.To)
	}
	return false
}

// rangeOf returns the range holding target (the newest for the zero
// target), or false.
func (w Window) rangeOf(t Target) (Range, bool) {
	if t.LSN == 0 && t.Time.IsZero() {
		if len(w.Ranges) == 0 {
			return Range{}, false
		}
		return w.Ranges[len(w.Ranges)-1], true
	}
	for _, r := range w.Ranges {
		if r.contains(t) {
			return r, true
		}
	}
	return Range{}, false
}

// WindowError reports a restore target outside the restorable window.
type WindowError struct {
	Target Target // the target asked for
	Window Window // what can be restored
}

// Error states the target and the ranges to choose from.
func (e *WindowError) Error() string {
	s := fmt.Sprintf("archive: restore target %s is outside the restorable window", e.Target)
	for i, r := range e.Window.Ranges {
		if i > 0 {
			s += " and"
		}
		s += fmt.Sprintf(" %s to %s (LSN %d to %d)", r.From.UTC().Format(time.RFC3339Nano), r.To.UTC().Format(time.RFC3339Nano), r.FromLSN, r.ToLSN)
	}
	if len(e.Window.Ranges) == 0 {
		s += " (nothing can be restored)"
	}
	s += "; choose a target within it"
	if e.Window.Unverified != nil {
		s += " (a range ends early because an object does not authenticate: " + e.Window.Unverified.Error() + ")"
	}
	if n := len(e.Window.Gaps); n > 0 {
		s += fmt.Sprintf(" (%d gap(s) in the archive; the first: %v)", n, e.Window.Gaps[0])
	}
	return s
}

// Unwrap returns ErrOutOfWindow, the object that did not authenticate at
// a range's end, if any, and the gaps.
func (e *WindowError) Unwrap() []error {
	errs := []error{ErrOutOfWindow}
	if e.Window.Unverified != nil {
		errs = append(errs, e.Window.Unverified)
	}
	return append(errs, e.Window.Gaps...)
}

// unrestorableError: the archive's records start at LSN 1, there is no
// base snapshot, and the first object does not authenticate. It is
// ErrNothingToRestore, for callers that treat an empty archive as such,
// and the object's error, for those that tell damage from emptiness.
type unrestorableError struct{ cause error }

func (e *unrestorableError) Error() string {
	return "archive: nothing can be restored: there is no base snapshot and the first archived object does not authenticate (run verify): " + e.cause.Error()
}

func (e *unrestorableError) Unwrap() []error { return []error{ErrNothingToRestore, e.cause} }

// history is what restore planning needs: the archive's view, the base
// snapshots on its timeline (newest first) and the newest head.
type history struct {
	v       *archiveView
	bases   []snapshot.Manifest
	head    head
	hasHead bool
	heads   anchors // the heads listed (and those that did not authenticate)
	damaged []error // manifests that do not authenticate
}

func loadHistory(ctx context.Context, store Store) (*history, error) {
	v, err := loadView(ctx, store)
	if err != nil {
		return nil, err
	}
	// An object of an epoch the timeline does not know is an error only
	// if it authenticates (a primary that archived without a timeline);
	// one planted there is not history, and Verify reports it.
	var authentic []segObj
	for i, s := range v.offline {
		if i == maxAnchorReads {
			break
		}
		if _, err := authenticated(ctx, store, s.segName); err == nil {
			authentic = append(authentic, s)
		} else if !isObjectErr(err) {
			return nil, err
		}
	}
	if len(authentic) > 0 {
		s := authentic[0]
		tl := "no timeline"
		if len(v.hist.Epochs) > 0 {
			tl = "the newest timeline is " + v.hist.String()
		}
		return nil, &ObjectError{Object: s.String(), LSN: s.First, Err: ErrOffTimeline,
			Detail: fmt.Sprintf("epoch %d has no timeline object (%s); remove the object if it was planted, or restore the missing timeline", s.Epoch, tl)}
	}
	return historyOf(ctx, store, v)
}

// historyOf completes a history from its view: the base snapshots and the
// head.
func historyOf(ctx context.Context, store Store, v *archiveView) (*history, error) {
	// A damaged manifest costs its own snapshot only: Verify reports it.
	ms, damaged, err := store.ListReadable(ctx)
	if err != nil {
		return nil, err
	}
	h := &history{v: v, damaged: damaged}
	for _, m := range ms {
		if !isBase(m) {
			continue
		}
		if b, ok := v.hist.bound(m.Epoch); ok && wal.LSN(m.LSN) <= b {
			h.bases = append(h.bases, m)
		}
	}
	sort.SliceStable(h.bases, func(i, j int) bool { return h.bases[i].LSN > h.bases[j].LSN })
	if h.head, h.hasHead, h.heads, err = readHead(ctx, store); err != nil {
		return nil, err
	}
	return h, nil
}

// isBase reports whether m is a base snapshot: taken by an Archiver (or
// tagged baseTag by the host, with the LSN it reflects in Meta.LSN).
func isBase(m snapshot.Manifest) bool {
	return slices.Contains(m.Tags, baseTag) // LSN 0: the state before the first record
}

// headWant is the last LSN of the history the newest head vouches for
// (0 if none): its LSN, bounded by where a successor of its epoch forked.
func (h *history) headWant() wal.LSN {
	if !h.hasHead {
		return 0
	}
	b, ok := h.v.hist.bound(h.head.Epoch)
	if !ok {
		return 0
	}
	return min(h.head.LSN, b)
}

// recordTime returns the time of record lsn, which piece p holds, from
// the object itself: a name is not evidence (anyone who can write to the
// bucket can plant one), so the object is read and authenticated, once
// per name for the first and last records (see verified).
func recordTime(ctx context.Context, store Store, p piece, lsn wal.LSN) (time.Time, error) {
	if lsn == p.seg.First || lsn == p.seg.Last {
		if _, err := authenticated(ctx, store, p.seg.segName); err != nil {
			return time.Time{}, err
		}
		// The name's times are the authenticated object's (readSegment
		// checks them against the sealed prefix).
		if lsn == p.seg.First {
			return time.Unix(0, p.seg.FirstNanos), nil
		}
		return time.Unix(0, p.seg.LastNanos), nil
	}
	seg, err := readSegment(ctx, store, p.seg.segName)
	if err != nil {
		return time.Time{}, err
	}
	return seg.recs[lsn-p.seg.First].Time, nil
}

// isObjectErr reports whether err is about one object (damaged, missing,
// off the history) rather than the store.
func isObjectErr(err error) bool {
	var oe *ObjectError
	return errors.As(err, &oe) && (oe.Err == ErrCorrupt || oe.Err == ErrGap || oe.Err == ErrBrokenChain || oe.Err == ErrOffTimeline)
}

// start is where a range begins: a base snapshot, or the empty state.
type start struct {
	lsn   wal.LSN
	time  time.Time
	base  snapshot.ID
	empty bool // the empty state, before record 1 (no snapshot)
}

// restorable computes the window: the ranges reachable from each base on
// the timeline and from LSN 1, the gaps between them, and the cut tail.
// Each range's last object is authenticated, and so is every object
// after the head's LSN (the head vouches for the rest being the
// archive's own, verify reads them); one that fails ends its range
// before it and is kept in Unverified. Storage errors are returned.
func (h *history) restorable(ctx context.Context, store Store) (Window, error) {
	w := Window{Timeline: h.v.hist.String()}
	if h.hasHead {
		w.HeadLSN, w.HeadWritten = h.head.LSN, h.head.Written
	}
	var starts []start
	for _, m := range h.bases {
		starts = append(starts, start{lsn: wal.LSN(m.LSN), time: m.Time, base: m.ID})
	}
	if h.v.firstLSN() == 1 {
		starts = append(starts, start{empty: true})
	}
	want := h.headWant()
	var rs []Range
	for _, st := range starts {
		r, err := h.reach(ctx, store, st, want, &w)
		if err != nil {
			return w, err
		}
		if r.From.IsZero() {
			// The empty state whose first object does not authenticate
			// (damaged, or planted): it reaches no record, and has no
			// instant to restore to.
			continue
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		if w.Unverified != nil {
			return w, &unrestorableError{cause: w.Unverified}
		}
		return w, ErrNothingToRestore
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].FromLSN != rs[j].FromLSN {
			return rs[i].FromLSN < rs[j].FromLSN
		}
		return rs[i].From.Before(rs[j].From)
	})
	for _, r := range rs {
		n := len(w.Ranges)
		// A start inside a range extends it: the state at its LSN holds
		// from that record's time until the next record's, which is at
		// or after the start's own time.
		if n > 0 && r.FromLSN <= w.Ranges[n-1].ToLSN {
			last := &w.Ranges[n-1]
			last.ToLSN = max(last.ToLSN, r.ToLSN)
			last.fromLSN1 = last.fromLSN1 || r.fromLSN1
			if r.To.After(last.To) {
				last.To = r.To
			}
			continue
		}
		w.Ranges = append(w.Ranges, r)
	}
	// Gaps: records missing between archived ones, unless a range
	// bridges them (a base snapshot after the gap).
	cov := h.v.covered()
	for k := 1; k < len(cov); k++ {
		lo, hi := cov[k-1][1]+1, cov[k][0]-1
		bridged := false
		for _, r := range w.Ranges {
			bridged = bridged || r.FromLSN <= lo && hi <= r.ToLSN
		}
		if !bridged {
			next := h.v.planFrom(cov[k][0]).pieces[0].seg
			w.Gaps = append(w.Gaps, &ObjectError{Object: next.String(), LSN: lo, Err: ErrGap, Detail: fmt.Sprintf("no object holds LSN %d to %d", lo, hi)})
		}
	}
	for _, m := range h.bases {
		for _, r := range w.Ranges {
			if wal.LSN(m.LSN) >= r.FromLSN && wal.LSN(m.LSN) <= r.ToLSN {
				w.Snapshots++
				break
			}
		}
	}
	first, last := w.Ranges[0], w.Ranges[len(w.Ranges)-1]
	w.Earliest, w.EarliestLSN, w.Latest, w.LatestLSN = first.From, first.FromLSN, last.To, last.ToLSN
	if tip := h.v.tip(); want > tip {
		w.Cut = &ObjectError{Object: anchorName(headPrefix, h.head.Seq), LSN: tip + 1, Err: ErrGap,
			Detail: fmt.Sprintf("the head written at %s says the archive holds every record up to LSN %d, but no object that authenticates holds LSN %d to %d: the newest objects are missing or damaged",
				h.head.Written.UTC().Format(time.RFC3339), want, tip+1, want)}
	}
	return w, nil
}

// reach computes the range from st: the plan from st's next LSN to its
// first gap, its end authenticated (see restorable).
func (h *history) reach(ctx context.Context, store Store, st start, want wal.LSN, w *Window) (Range, error) {
	for {
		r, failed, err := h.reachOnce(ctx, store, st, want)
		if err == nil || !isObjectErr(err) || failed == (segName{}) {
			return r, err
		}
		// Plan around the object that failed: the objects it shadowed
		// (a planted name claiming a wide range, say) may hold the
		// records.
		h.v.drop(failed)
		if w.Unverified == nil {
			w.Unverified = err
		}
	}
}

// reachOnce is one attempt of reach; an object error comes with the
// object that failed.
func (h *history) reachOnce(ctx context.Context, store Store, st start, want wal.LSN) (Range, segName, error) {
	r := Range{FromLSN: st.lsn, ToLSN: st.lsn, From: st.time, To: st.time, Base: st.base, fromLSN1: st.empty}
	pieces := h.v.planFrom(st.lsn + 1).pieces
	// Authenticate backwards from the end: the last piece, and every
	// piece past the head's LSN (all of them without a head).
	for i := len(pieces) - 1; i >= 0; i-- {
		if i < len(pieces)-1 && pieces[i].hi <= want {
			break
		}
		if _, err := authenticated(ctx, store, pieces[i].seg.segName); err != nil {
			return r, pieces[i].seg.segName, err
		}
	}
	if len(pieces) == 0 {
		return r, segName{}, nil
	}
	if st.empty {
		t, err := recordTime(ctx, store, pieces[0], 1)
		if err != nil {
			return r, pieces[0].seg.segName, err
		}
		r.FromLSN, r.From, r.ToLSN, r.To = 1, t, 1, t
	}
	end := pieces[len(pieces)-1]
	t, err := recordTime(ctx, store, end, end.hi)
	if err != nil {
		return r, end.seg.segName, err
	}
	r.ToLSN = end.hi
	if t.After(r.From) {
		r.To = t
	} else {
		r.To = r.From // a snapshot taken after its last record: its own instant
	}
	return r, segName{}, nil
}

// Restorable returns what the repository can restore, for monitoring and
// for choosing a target: the ranges of instants and LSNs, their union's
// bounds, the gaps between them and a cut tail.
func Restorable(ctx context.Context, store Store) (Window, error) {
	h, err := loadHistory(ctx, store)
	if err != nil {
		return Window{}, err
	}
	return h.restorable(ctx, store)
}
