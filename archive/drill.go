package archive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

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
	res.Target = pickInstant(w, opts.Rand)
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

// pickInstant picks a random whole second of the window's ranges (each
// second equally likely), or a range's first instant when the range is
// shorter than that.
func pickInstant(w Window, rnd *rand.Rand) time.Time {
	var total int64
	spans := make([]int64, len(w.Ranges))
	for i, r := range w.Ranges {
		spans[i] = int64(max(0, r.To.Truncate(time.Second).Sub(r.From.Truncate(time.Second))/time.Second)) + 1
		total += spans[i]
	}
	if total == 0 {
		return w.Earliest
	}
	k := rnd.Int64N(total)
	for i, r := range w.Ranges {
		if k >= spans[i] {
			k -= spans[i]
			continue
		}
		t := r.From.Truncate(time.Second).Add(time.Duration(k) * time.Second)
		if t.Before(r.From) {
			t = r.From
		}
		return t
	}
	return w.Earliest
}
