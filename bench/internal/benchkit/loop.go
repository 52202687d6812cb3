package benchkit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Loop is one timed run of a closed-loop benchmark: Writers goroutines,
// each calling Call over and over, the next call starting when the
// previous returns.
//
// Calls that return during the Warmup are not counted. Then the window
// opens: every call that returns while it is open is counted, and
// Counted runs for it on the caller's goroutine (so Counted may append to
// per-writer state indexed by i without a lock). The window lasts
// Duration, and past it until at least one call has been counted: a
// window with no call in it measures nothing, and on a busy machine one
// fdatasync can outlast a short window.
type Loop struct {
	Writers          int
	Warmup, Duration time.Duration
	// Call is writer i's operation; an error ends the run.
	Call func(i int) error
	// Counted, if not nil, is told of each counted call of writer i:
	// when it began and when it returned.
	Counted func(i int, began, returned time.Time)
	// AtStart and AtEnd, if not nil, run as the window opens and as it
	// closes, to read counters.
	AtStart, AtEnd func()
}

// Window is when a Loop's window opened and how long it stayed open.
type Window struct {
	Start   time.Time
	Elapsed time.Duration
}

// Loop phases, as the writers see them.
const (
	loopWarming int32 = iota
	loopMeasuring
	loopStopping
)

// Run runs l and returns its window, after every writer has returned. It
// returns the first error a call returned, or ctx's error if ctx ends
// first.
func (l Loop) Run(ctx context.Context) (Window, error) {
	var phase atomic.Int32
	errc := make(chan error, l.Writers)
	counted, countOnce := make(chan struct{}), sync.Once{}
	var wg sync.WaitGroup
	for i := range l.Writers {
		wg.Go(func() {
			for phase.Load() != loopStopping {
				t0 := time.Now()
				if err := l.Call(i); err != nil {
					errc <- err
					return
				}
				t1 := time.Now()
				if phase.Load() != loopMeasuring {
					continue
				}
				countOnce.Do(func() { close(counted) })
				if l.Counted != nil {
					l.Counted(i, t0, t1)
				}
			}
		})
	}
	wait := func(until <-chan time.Time, cond <-chan struct{}) error {
		select {
		case <-until:
		case <-cond:
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	timer := func(d time.Duration) <-chan time.Time {
		t := time.NewTimer(d)
		return t.C
	}

	err := wait(timer(l.Warmup), nil)
	if l.AtStart != nil {
		l.AtStart()
	}
	w := Window{Start: time.Now()}
	phase.Store(loopMeasuring)
	if err == nil {
		err = wait(timer(l.Duration), nil)
	}
	if err == nil {
		err = wait(nil, counted)
	}
	phase.Store(loopStopping)
	w.Elapsed = time.Since(w.Start)
	if l.AtEnd != nil {
		l.AtEnd()
	}
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return w, err
}
