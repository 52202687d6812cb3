package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// op is one call of a closed loop: an append (returning the last LSN it
// appended) or one step of a physical-limit loop (returning 0).
type op func() (wal.LSN, error)

// loop is what drive measured: the calls that completed during the timed
// window, per goroutine.
type loop struct {
	start   time.Time     // the window's start
	elapsed time.Duration // the window's length
	lats    [][]time.Duration
	// With tracking: the last LSN each call appended and when it
	// returned, as time since the base drive was given.
	lsns [][]wal.LSN
	ends [][]time.Duration
}

// sorted returns every latency of the window, sorted.
func (l *loop) sorted() []time.Duration {
	var all []time.Duration
	for _, lat := range l.lats {
		all = append(all, lat...)
	}
	slices.Sort(all)
	return all
}

// Phases of a run, as seen by its goroutines.
const (
	warming int32 = iota
	measuring
	stopping
)

// drive runs each op in a closed loop on a goroutine of its own: the next
// call starts when the previous returns. Calls that complete during the
// warm-up are not counted; then calls that complete during dur are
// counted and timed. atStart and atEnd (if not nil) run at the window's
// boundaries, to read counters. With track, each counted call's LSN and
// return time (since base) are kept. drive returns the first error an op
// returned, or ctx's error if ctx ends first.
func drive(ctx context.Context, ops []op, warmup, dur time.Duration, track bool, base time.Time, atStart, atEnd func()) (*loop, error) {
	var phase atomic.Int32
	res := &loop{lats: make([][]time.Duration, len(ops))}
	if track {
		res.lsns = make([][]wal.LSN, len(ops))
		res.ends = make([][]time.Duration, len(ops))
	}
	errc := make(chan error, len(ops))
	var wg sync.WaitGroup
	for i, f := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat, ends []time.Duration
			var lsns []wal.LSN
			for phase.Load() != stopping {
				t0 := time.Now()
				lsn, err := f()
				if err != nil {
					errc <- err
					break
				}
				t1 := time.Now()
				if phase.Load() == measuring {
					lat = append(lat, t1.Sub(t0))
					if track {
						lsns = append(lsns, lsn)
						ends = append(ends, t1.Sub(base))
					}
				}
			}
			res.lats[i] = lat
			if track {
				res.lsns[i], res.ends[i] = lsns, ends
			}
		}()
	}
	wait := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	err := wait(warmup)
	if atStart != nil {
		atStart()
	}
	res.start = time.Now()
	phase.Store(measuring)
	if err == nil {
		err = wait(dur)
	}
	phase.Store(stopping)
	res.elapsed = time.Since(res.start)
	if atEnd != nil {
		atEnd()
	}
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}
