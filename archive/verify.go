package archive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// VerifyLevel says how deeply Verify checks, after pgBackRest's
// levels. Each level includes the ones before it.
type VerifyLevel int

const (
	// VerifyConsistent checks the listing and the anchors: the timeline
	// reads, every object is on it, no LSN is missing between the pin
	// (the first record the archive keeps) and the newest, and the
	// newest head's record is there.
	VerifyConsistent VerifyLevel = iota
	// VerifyValid also reads every object of the history: it must
	// decrypt, authenticate, decode to the records its name promises and
	// continue the chain of the one before it; the chain must match the
	// pin's and the head's.
	VerifyValid
	// VerifyPITR also checks that from every base snapshot on the
	// timeline the archive reaches the newest record without a gap.
	VerifyPITR
)

// Report is what Verify found.
type Report struct {
	Level       VerifyLevel // the level checked
	Timeline    string      // the history checked
	Objects     int         // WAL objects on the history
	Read        int         // objects read and decoded (VerifyValid)
	Records     int64       // records decoded (VerifyValid)
	Bytes       int64       // bytes of the objects read, as stored (VerifyValid)
	First, Last wal.LSN     // the first and newest archived LSNs of the history
	// PinLSN is the first record the archive keeps, as its newest pin
	// says (0 if no pin authenticates).
	PinLSN wal.LSN
	// HeadLSN, HeadTime and HeadWritten are the newest head's record,
	// that record's time and when the head was written (zero if no head
	// authenticates). A head much older than the archiver's
	// ShipInterval while the primary runs means the newest heads were
	// deleted; compare HeadLSN with what the primary says it archived.
	HeadLSN     wal.LSN
	HeadTime    time.Time
	HeadWritten time.Time
	// Window is what restores, with the damaged objects counted as
	// missing (from the listing alone at VerifyConsistent).
	Window Window
	// Problems lists every problem, each an *ObjectError naming its
	// object, with Cost set: gaps (ErrGap), damage (ErrCorrupt), objects
	// that do not continue the history (ErrBrokenChain) or lie outside
	// the timeline (ErrOffTimeline).
	Problems []error
	// Unreachable lists base snapshots from which the newest record
	// cannot be reached (VerifyPITR).
	Unreachable []snapshot.ID
	// Locks is what Object Lock protects (VerifyOptions.Locks), else nil.
	Locks *snapshot.LockReport
	// Duration is how long Verify took.
	Duration time.Duration
}

// OK reports whether nothing is wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 && len(r.Unreachable) == 0 }

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// Progress, if set, is called after each object read.
	Progress func(read, of int)
	// Reads is how many objects are read at once (default 4).
	Reads int
	// Decode also decodes every record and recomputes the chain over
	// them (a check of the writer; CPU-bound: lz4 and SHA-256 over every
	// record). Without it every byte is still read and authenticated,
	// and the chain is checked from the values each object seals.
	Decode bool
	// Locks also asks the Object Lock date of every WAL object the
	// history needs (one request each) and reports them in Report.Locks.
	Locks bool
	// Expect, if set, is an outside record of how far the archive
	// reached (the archiver's Status.HeadLSN, kept by the host or its
	// cluster): an archive that holds less, or whose newest head is
	// older, is a problem even when it proves itself (its newest
	// objects and heads were deleted together).
	Expect wal.LSN
}

// Verify checks the WAL archive at the given level and reports every
// problem it finds; the error is for failures to check (the bucket is
// unreachable, the timeline does not read).
func Verify(ctx context.Context, store Store, level VerifyLevel) (Report, error) {
	return VerifyWith(ctx, store, level, VerifyOptions{})
}

// VerifyWith is Verify with options.
func VerifyWith(ctx context.Context, store Store, level VerifyLevel, opts VerifyOptions) (Report, error) {
	began := time.Now()
	rep := Report{Level: level}
	if opts.Reads <= 0 {
		opts.Reads = 4
	}
	h, err := loadHistoryAll(ctx, store)
	if err != nil {
		return rep, err
	}
	v := h.v
	rep.Timeline = v.hist.String()
	problem := func(err error) { rep.Problems = append(rep.Problems, err) }
	for _, s := range v.offline {
		problem(&ObjectError{Object: s.String(), LSN: s.First, Err: ErrOffTimeline,
			Detail: fmt.Sprintf("epoch %d has no timeline object", s.Epoch)})
	}
	for _, e := range v.badTimelines {
		var oe *ObjectError
		if errors.As(e, &oe) {
			oe.Cost = "nothing: the newest timeline that authenticates is followed"
		}
		problem(e)
	}
	for _, d := range h.damaged {
		name := "snapshots/"
		var se *snapshot.ObjectError
		if errors.As(d, &se) {
			name = se.Object
		}
		problem(&ObjectError{Object: name, Err: ErrCorrupt, Detail: "a snapshot manifest does not authenticate; that snapshot cannot be restored or used as a base: " + d.Error(),
			Cost: "that snapshot: it cannot be restored or used as a base; the window reported is what restores without it"})
	}
	pn, hasPin, pins, err := readPin(ctx, store)
	if err != nil {
		return rep, err
	}
	for _, e := range append(pins.bad, h.heads.bad...) {
		var oe *ObjectError
		if errors.As(e, &oe) {
			oe.Cost = "nothing: readers skip it for the newest one that authenticates"
		}
		problem(e)
	}
	if hasPin {
		rep.PinLSN = pn.LSN
	}
	if h.hasHead {
		rep.HeadLSN, rep.HeadTime, rep.HeadWritten = h.head.LSN, h.head.Time, h.head.Written
	}
	valid := v.valid()
	rep.Objects = len(valid)
	cov := v.covered()
	if len(cov) > 0 {
		rep.First, rep.Last = cov[0][0], cov[len(cov)-1][1]
	}
	switch {
	case hasPin && len(cov) > 0 && !v.holds(pn.LSN):
		first := valid[0].seg
		for _, p := range valid {
			if p.lo > pn.LSN {
				first = p.seg
				break
			}
		}
		problem(&ObjectError{Object: first.String(), LSN: pn.LSN, Err: ErrGap,
			Detail: fmt.Sprintf("no object holds LSN %d, the first record the archive keeps (pin %d): the first objects are missing", pn.LSN, pn.Seq)})
	}
	for k := 1; k < len(cov); k++ {
		if hasPin && cov[k-1][1] < pn.LSN && cov[k][0] <= pn.LSN {
			continue // before the pin: retention's leftovers
		}
		p := v.planFrom(cov[k][0])
		problem(&ObjectError{Object: p.pieces[0].seg.String(), LSN: cov[k-1][1] + 1, Err: ErrGap,
			Detail: fmt.Sprintf("no object holds LSN %d to %d", cov[k-1][1]+1, cov[k][0]-1)})
	}
	if opts.Expect > 0 && (v.tip() < opts.Expect || h.head.LSN < opts.Expect) {
		problem(&ObjectError{Object: headPrefix, LSN: min(v.tip(), h.head.LSN) + 1, Err: ErrGap,
			Detail: fmt.Sprintf("the archiver recorded that it archived every record up to LSN %d, but the newest object ends at LSN %d and the newest head says LSN %d: the newest objects and heads were deleted", opts.Expect, v.tip(), h.head.LSN)})
	}
	if want := h.headWant(); want > v.tip() {
		problem(&ObjectError{Object: anchorName(headPrefix, h.head.Seq), LSN: v.tip() + 1, Err: ErrGap,
			Detail: fmt.Sprintf("the head written at %s says the archive holds every record up to LSN %d, but no object holds LSN %d to %d: the newest objects are missing",
				h.head.Written.UTC().Format(time.RFC3339), want, v.tip()+1, want)})
	}
	authentic := len(valid) // objects that may be history: all, until read
	if level >= VerifyValid {
		bad, err := verifyObjects(ctx, store, h, pn, hasPin, &rep, opts)
		if err != nil {
			return rep, err
		}
		v.exclude = bad
		authentic = len(v.valid())
	}
	if !hasPin && authentic > 0 {
		problem(&ObjectError{Object: pinPrefix, LSN: rep.First, Err: ErrGap,
			Detail: "no pin authenticates: where the history starts is not recorded, so objects deleted from its start would not show (the pin was deleted, or the archive predates pins)"})
	}
	if !h.hasHead && authentic > 0 {
		problem(&ObjectError{Object: headPrefix, LSN: rep.Last, Err: ErrGap,
			Detail: "no head authenticates: the newest objects cannot be vouched for, so deleted ones would not show (the heads were deleted, or the archiver stopped before its first head: starting it writes one)"})
	}
	w, err := h.restorable(ctx, store)
	if err != nil && !errors.Is(err, ErrNothingToRestore) {
		return rep, err
	}
	rep.Window = w
	if opts.Locks {
		rep.Locks = &snapshot.LockReport{}
		now := time.Now()
		for _, p := range v.valid() {
			if hasPin && p.seg.Last < pn.LSN {
				continue // before the pin: no longer needed
			}
			until, err := store.LockDate(ctx, p.seg.String())
			if errors.Is(err, snapshot.ErrMissing) {
				continue
			}
			if err != nil {
				return rep, err
			}
			rep.Locks.Add(p.seg.String(), until, now)
		}
	}
	if level >= VerifyPITR {
		tip := v.tip()
		for _, m := range h.bases {
			if p := v.planFrom(wal.LSN(m.LSN) + 1); p.end < tip {
				rep.Unreachable = append(rep.Unreachable, m.ID)
			}
		}
	}
	for _, p := range rep.Problems {
		var oe *ObjectError
		if errors.As(p, &oe) {
			if oe.Cost == "" { // set where the problem was found, or from the window
				oe.Cost = costOf(oe, w)
			}
		}
	}
	rep.Duration = time.Since(began)
	return rep, nil
}

// loadHistoryAll is loadHistory that keeps objects off the timeline in
// the view (Verify reports them) instead of failing.
func loadHistoryAll(ctx context.Context, store Store) (*history, error) {
	v, err := loadView(ctx, store)
	if err != nil {
		return nil, err
	}
	offline := v.offline
	v.offline = nil
	h, err := historyOf(ctx, store, v)
	if err != nil {
		return nil, err
	}
	h.v.offline = offline
	return h, nil
}

// verifyObjects reads every object of the history, in plan order where it
// can so that each piece's link to the one before is checked, and checks
// the pin's and head's chains. It returns the objects that failed.
func verifyObjects(ctx context.Context, store Store, h *history, pn pin, hasPin bool, rep *Report, opts VerifyOptions) (map[segName]bool, error) {
	v := h.v
	valid := v.valid()
	// The plan through the history, run by run, then every other object.
	var order []piece
	onPlan := map[segName]bool{}
	for _, c := range v.covered() {
		for _, pc := range v.planFrom(c[0]).pieces {
			order = append(order, pc)
			onPlan[pc.seg.segName] = true
		}
	}
	for _, pc := range valid {
		if !onPlan[pc.seg.segName] {
			pc.lo, pc.hi = pc.seg.First, pc.seg.Last
			order = append(order, pc)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bad := map[segName]bool{}
	want := h.headWant()
	l := newLinker()
	// Only objects whose records a check needs are decoded: a piece
	// that is part of its object, or an object holding the pin's or the
	// head's LSN inside it.
	decode := func(pc piece) bool {
		s := pc.seg
		return opts.Decode || !pc.whole() ||
			hasPin && pn.LSN > s.First && pn.LSN <= s.Last || want >= s.First && want < s.Last
	}
	results := readAhead(ctx, store, order, opts.Reads, decode)
	for i, pc := range order {
		r, ok := <-results
		if !ok {
			return nil, ctx.Err()
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(order))
		}
		if r.err != nil {
			if !isObjectErr(r.err) {
				return nil, r.err
			}
			rep.Problems = append(rep.Problems, r.err)
			bad[pc.seg.segName] = true
			l.known = false
			continue
		}
		if opts.Decode {
			if err := verifyChain(r.seg); err != nil {
				rep.Problems = append(rep.Problems, &ObjectError{Object: pc.seg.String(), LSN: pc.seg.First, Err: ErrCorrupt,
					Detail: "authentic, but its records do not chain as its prefix says (a writer's bug): " + err.Error()})
				bad[pc.seg.segName] = true
				l.known = false
				continue
			}
		}
		rep.Read++
		rep.Records += int64(pc.seg.Last-pc.seg.First) + 1
		rep.Bytes += r.size
		if !onPlan[pc.seg.segName] {
			continue // an overlapping leftover: read, not on the path
		}
		var err error
		if r.seg.recs != nil {
			_, err = l.take(pc, r.seg)
		} else {
			err = l.takeWhole(pc, segChain{r.seg.prev, r.seg.end})
		}
		if err != nil {
			rep.Problems = append(rep.Problems, err)
			bad[pc.seg.segName] = true
			l.known = false
			continue
		}
		s := pc.seg
		if hasPin && pc.lo <= pn.LSN && pn.LSN <= pc.hi {
			if c := r.seg.chainBefore(l.c, pn.LSN); c != pn.Prev {
				rep.Problems = append(rep.Problems, &ObjectError{Object: s.String(), LSN: pn.LSN, Err: ErrBrokenChain,
					Detail: fmt.Sprintf("its chain before LSN %d is %s, the pin's (%d) is %s: the history's start was replaced", pn.LSN, c, pn.Seq, pn.Prev)})
			}
		}
		if want > 0 && pc.lo <= want && want <= pc.hi {
			if c := r.seg.chainAfter(l.c, want); c != h.head.Chain {
				rep.Problems = append(rep.Problems, &ObjectError{Object: s.String(), LSN: want, Err: ErrBrokenChain,
					Detail: fmt.Sprintf("its chain after LSN %d is %s, the head's (%d) is %s: the newest records are another history's", want, c, h.head.Seq, h.head.Chain)})
			}
		}
	}
	return bad, nil
}

// fetchedSeg is one object read ahead.
type fetchedSeg struct {
	seg  segment
	size int64
	err  error
}

// readAhead reads the objects of order with up to n reads at once and
// delivers them in order: decoded where decode says so, else only
// authenticated (the segment's chain set, no records). The channel closes
// early if ctx ends.
func readAhead(ctx context.Context, store Store, order []piece, n int, decode func(piece) bool) <-chan fetchedSeg {
	out := make(chan fetchedSeg, n)
	slots := make(chan chan fetchedSeg, n)
	go func() {
		defer close(slots)
		for _, pc := range order {
			c := make(chan fetchedSeg, 1)
			select {
			case slots <- c:
			case <-ctx.Done():
				return
			}
			go func(pc piece) {
				if decode(pc) {
					seg, err := readSegment(ctx, store, pc.seg.segName)
					c <- fetchedSeg{seg: seg, size: seg.size, err: err}
					return
				}
				sc, size, err := authenticateSegment(ctx, store, pc.seg.segName)
				c <- fetchedSeg{seg: segment{name: pc.seg.segName, prev: sc.prev, end: sc.end}, size: size, err: err}
			}(pc)
		}
	}()
	go func() {
		defer close(out)
		for c := range slots {
			select {
			case out <- <-c:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// costOf says what problem e costs, given what restores without the
// objects that failed.
func costOf(e *ObjectError, w Window) string {
	if e.LSN == 0 {
		return ""
	}
	for _, r := range w.Ranges {
		if e.LSN >= r.FromLSN && e.LSN <= r.ToLSN {
			return "nothing: every target around it still restores"
		}
	}
	for _, r := range w.Ranges {
		if r.FromLSN > e.LSN {
			return fmt.Sprintf("targets from LSN %d to %d cannot be restored; restores resume at LSN %d (%s)", e.LSN, r.FromLSN-1, r.FromLSN, r.From.UTC().Format(time.RFC3339))
		}
	}
	if len(w.Ranges) == 0 {
		return "nothing can be restored"
	}
	return fmt.Sprintf("targets after LSN %d cannot be restored; the newest restorable state is LSN %d (%s)", e.LSN-1, w.LatestLSN, w.Latest.UTC().Format(time.RFC3339))
}
