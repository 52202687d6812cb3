package main

import (
	"context"
	"slices"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
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

// drive runs each op in a closed loop on a goroutine of its own (a
// benchkit.Loop: its window lasts dur and until one call returned in it).
// With track, each counted call's LSN and return time (since base) are
// kept. atStart and atEnd (if not nil) run at the window's boundaries, to
// read counters. drive returns the first error an op returned, or ctx's
// error if ctx ends first.
func drive(ctx context.Context, ops []op, warmup, dur time.Duration, track bool, base time.Time, atStart, atEnd func()) (*loop, error) {
	res := &loop{lats: make([][]time.Duration, len(ops))}
	if track {
		res.lsns = make([][]wal.LSN, len(ops))
		res.ends = make([][]time.Duration, len(ops))
	}
	last := make([]wal.LSN, len(ops))
	w, err := benchkit.Loop{
		Writers: len(ops), Warmup: warmup, Duration: dur,
		Call: func(i int) (err error) {
			last[i], err = ops[i]()
			return err
		},
		Counted: func(i int, began, returned time.Time) {
			res.lats[i] = append(res.lats[i], returned.Sub(began))
			if track {
				res.lsns[i] = append(res.lsns[i], last[i])
				res.ends[i] = append(res.ends[i], returned.Sub(base))
			}
		},
		AtStart: atStart, AtEnd: atEnd,
	}.Run(ctx)
	if err != nil {
		return nil, err
	}
	res.start, res.elapsed = w.Start, w.Elapsed
	return res, nil
}
