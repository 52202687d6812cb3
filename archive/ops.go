package archive

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/continuity-go/continuity/internal/retention"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// VerifyLevel says how deeply Verify checks, after pgBackRest's
// levels. Each level includes the ones before it.
type VerifyLevel int

const (
	// VerifyConsistent checks the listing: the timeline reads, every
	// object is on it, and no LSN is missing between the first archived
	// record and the newest.
	VerifyConsistent VerifyLevel = iota
	// VerifyValid also reads every object of the history: it must
	// decrypt, authenticate and decode to the records its name promises.
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
	First, Last wal.LSN     // the first and newest archived LSNs of the history
	// Problems lists every problem, each an *ObjectError naming its
	// object: gaps (ErrGap), damage (ErrCorrupt), objects
	// outside the timeline (ErrOffTimeline).
	Problems []error
	// Unreachable lists base snapshots from which the newest record
	// cannot be reached (VerifyPITR).
	Unreachable []snapshot.ID
}

// OK reports whether nothing is wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 && len(r.Unreachable) == 0 }

// Verify checks the WAL archive at the given level and reports
// every problem it finds; the error is for failures to check (the bucket
// is unreachable, the timeline does not read).
func Verify(ctx context.Context, store Store, level VerifyLevel) (Report, error) {
	rep := Report{Level: level}
	v, err := loadView(ctx, store)
	if err != nil {
		return rep, err
	}
	rep.Timeline = v.hist.String()
	for _, s := range v.offline {
		rep.Problems = append(rep.Problems, &ObjectError{Object: s.String(), LSN: s.First, Err: ErrOffTimeline,
			Detail: fmt.Sprintf("epoch %d has no timeline object", s.Epoch)})
	}
	valid := v.valid()
	rep.Objects = len(valid)
	cov := v.covered()
	if len(cov) > 0 {
		rep.First, rep.Last = cov[0][0], cov[len(cov)-1][1]
	}
	for k := 1; k < len(cov); k++ {
		p := v.planFrom(cov[k][0])
		rep.Problems = append(rep.Problems, &ObjectError{Object: p.pieces[0].seg.String(), LSN: cov[k-1][1] + 1, Err: ErrGap,
			Detail: fmt.Sprintf("no object holds LSN %d to %d", cov[k-1][1]+1, cov[k][0]-1)})
	}
	if level >= VerifyValid {
		for _, pc := range valid {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			recs, err := readSegment(ctx, store, pc.seg.segName)
			if err != nil {
				var ae *ObjectError
				if !errors.As(err, &ae) || ae.Err != ErrCorrupt && ae.Err != ErrGap {
					return rep, err
				}
				rep.Problems = append(rep.Problems, err)
				continue
			}
			rep.Read++
			rep.Records += int64(len(recs))
		}
	}
	if level >= VerifyPITR {
		ms, err := store.List(ctx)
		if err != nil {
			return rep, err
		}
		for _, m := range ms {
			b, ok := v.hist.bound(m.Epoch)
			if !isBase(m) || !ok || wal.LSN(m.LSN) > b {
				continue
			}
			if p := v.planFrom(wal.LSN(m.LSN) + 1); p.end < rep.Last {
				rep.Unreachable = append(rep.Unreachable, m.ID)
			}
		}
	}
	return rep, nil
}

// RetentionPolicy says what ApplyRetention keeps.
type RetentionPolicy struct {
	// Window is the point-in-time window: every instant within Window of
	// now stays restorable (the base snapshot at or before its start,
	// every snapshot inside it, and the WAL from that base on).
	Window time.Duration
	// Keep chooses the snapshots kept beyond the window (daily, weekly,
	// monthly, yearly ...). Each is exact at its LSN, so it needs no WAL.
	Keep snapshot.Policy
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// RetentionResult reports what ApplyRetention did (or would do).
type RetentionResult struct {
	WindowStart    time.Time     // now minus the window
	Base           snapshot.ID   // the base snapshot of the window's start (zero if none)
	CutLSN         wal.LSN       // WAL objects ending at or before this LSN are not needed
	Kept           []snapshot.ID // snapshots kept
	Removed        []snapshot.ID // snapshots whose manifests were removed
	DeletedObjects []string      // WAL objects deleted
}

// ApplyRetention applies a retention that understands the log: inside
// the window it keeps every snapshot and all the WAL needed to restore
// every instant; beyond it, the snapshots p.Keep chooses, without WAL.
// It removes the other snapshots' manifests (snapshot.Repo.Prune then
// frees their data) and deletes the WAL objects nothing needs: those
// that end before the window's base snapshot, and objects off the
// timeline (a deposed primary's tail) that end before the window. With
// dryRun it only reports.
func ApplyRetention(ctx context.Context, store Store, p RetentionPolicy, dryRun bool) (RetentionResult, error) {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Window <= 0 {
		return RetentionResult{}, errors.New("archive: RetentionPolicy.Window must be positive")
	}
	res := RetentionResult{WindowStart: p.Now().Add(-p.Window)}
	h, err := loadHistory(ctx, store)
	if err != nil {
		return res, err
	}
	ms, err := store.List(ctx)
	if err != nil {
		return res, err
	}
	keep := map[snapshot.ID]bool{}
	for _, m := range h.bases { // newest first: the first at or before the start is the base
		if !m.Time.After(res.WindowStart) {
			res.Base, res.CutLSN = m.ID, wal.LSN(m.LSN)
			keep[m.ID] = true
			break
		}
	}
	var old []retention.Item
	for _, m := range ms {
		if m.Time.After(res.WindowStart) {
			keep[m.ID] = true
		} else {
			old = append(old, retention.Item{ID: m.ID.String(), Time: m.Time, Tags: m.Tags})
		}
	}
	ds, err := p.Keep.Apply(old)
	if err != nil {
		return res, fmt.Errorf("archive: retention: %w", err)
	}
	for _, d := range ds {
		if d.Keep {
			id, _ := snapshot.ParseID(d.Item.ID)
			keep[id] = true
		}
	}
	var remove []snapshot.ID
	for _, m := range ms {
		if keep[m.ID] {
			res.Kept = append(res.Kept, m.ID)
		} else {
			remove = append(remove, m.ID)
		}
	}
	res.Removed = remove
	if res.Base.IsZero() && h.v.firstLSN() == 1 {
		res.CutLSN = 0 // the window's start replays from LSN 1: keep it all
	}
	startNanos := res.WindowStart.UnixNano()
	for _, s := range h.v.segs {
		b, ok := h.v.hist.bound(s.Epoch)
		onHistory := ok && s.First <= b
		if onHistory && min(s.Last, b) <= res.CutLSN || !onHistory && s.LastNanos < startNanos {
			res.DeletedObjects = append(res.DeletedObjects, s.String())
		}
	}
	if dryRun {
		return res, nil
	}
	if len(remove) > 0 {
		if err := store.Remove(ctx, remove...); err != nil {
			return res, err
		}
	}
	for _, name := range res.DeletedObjects {
		if err := store.DeleteObject(ctx, name); err != nil {
			return res, fmt.Errorf("archive: retention: delete %s: %w", name, err)
		}
	}
	return res, nil
}

// DrillResult is the outcome of one restore drill.
type DrillResult struct {
	At       time.Time     // when the drill ran
	Target   time.Time     // the instant restored
	Restored Restored      // what the restore reached
	RTO      time.Duration // time to restore: restore plus check
	Err      error         // nil if the restore and the check passed
}

// DrillOptions configures Drill.
type DrillOptions struct {
	// Rand picks the target; default a random source.
	Rand *rand.Rand
	// Now is the clock for DrillResult.At. Default time.Now.
	Now func() time.Time
	// Progress is passed to RestoreTo.
	Progress func(RestoreProgress)
}

// Drill runs a restore drill: it picks a random second of the restorable
// window, restores it into the state machine newSM returns, runs check on
// the result and measures the time to restore. The returned result
// carries any failure in Err as well.
func Drill(ctx context.Context, store Store, newSM func() StateMachine, check func(ctx context.Context, sm StateMachine, r Restored) error, opts DrillOptions) (DrillResult, error) {
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	res := DrillResult{At: opts.Now()}
	fail := func(err error) (DrillResult, error) {
		res.Err = err
		return res, err
	}
	w, err := Restorable(ctx, store)
	if err != nil {
		return fail(err)
	}
	span := w.Latest.Truncate(time.Second).Sub(w.Earliest.Truncate(time.Second)) / time.Second
	res.Target = w.Earliest.Truncate(time.Second).Add(time.Duration(opts.Rand.Int64N(int64(span)+1)) * time.Second)
	if res.Target.Before(w.Earliest) {
		res.Target = w.Earliest
	}
	start := time.Now()
	sm := newSM()
	r, err := RestoreTo(ctx, store, AtTime(res.Target), sm, RestoreOptions{Progress: opts.Progress})
	res.Restored = r
	if err != nil {
		res.RTO = time.Since(start)
		return fail(fmt.Errorf("archive: drill: restore to %s: %w", res.Target.UTC().Format(time.RFC3339), err))
	}
	if check != nil {
		if err := check(ctx, sm, r); err != nil {
			res.RTO = time.Since(start)
			return fail(fmt.Errorf("archive: drill: check of the state at %s (LSN %d) failed: %w", res.Target.UTC().Format(time.RFC3339), r.LSN, err))
		}
	}
	res.RTO = time.Since(start)
	return res, nil
}

// Drills runs Drill on a schedule and keeps the last result for
// monitoring.
type Drills struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	last   DrillResult
	runs   int
	fails  int
}

// StartDrills runs a drill every interval (the first after one interval)
// until Stop.
func StartDrills(store Store, every time.Duration, newSM func() StateMachine, check func(context.Context, StateMachine, Restored) error, opts DrillOptions) *Drills {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Drills{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r, err := Drill(ctx, store, newSM, check, opts)
				if ctx.Err() != nil {
					return
				}
				d.mu.Lock()
				d.last = r
				d.runs++
				if err != nil {
					d.fails++
				}
				d.mu.Unlock()
			}
		}
	}()
	return d
}

// Last returns the last drill's result, and how many drills ran and
// failed so far; ok is false before the first drill.
func (d *Drills) Last() (r DrillResult, runs, fails int, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last, d.runs, d.fails, d.runs > 0
}

// Stop stops the schedule and waits for a running drill to end.
func (d *Drills) Stop() {
	d.cancel()
	<-d.done
}
