package main

import (
	"context"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"slices"
	"time"

	"github.com/continuity-go/continuity/bench/internal/peers"
)

// runResult is what one timed run of one configuration measured.
type runResult struct {
	opsPerSec     float64       // completed Append calls per second
	mbPerSec      float64       // payload bytes per second, in 10^6 bytes
	p50, p99      time.Duration // latency of one Append call
	recPerBatch   float64       // records per group commit; 0 if the log does not count them
	bytesPerBatch float64       // bytes written per group commit; 0 if unknown
	segPerSec     float64       // new segment files per second; 0 if unknown
}

// measure drives a with one closed-loop goroutine per payload, each
// appending its payload over and over (a benchkit.Loop: calls that
// return during the warm-up are not counted; the window lasts dur and
// until one call returned in it). It returns the first error an Append
// returned, or ctx's error if ctx ends first.
func measure(ctx context.Context, a peers.Appender, payloads [][]byte, warmup, dur time.Duration) (runResult, error) {
	lats := make([][]time.Duration, len(payloads))
	bc, counts := a.(peers.BatchCounter)
	var c0, c1 peers.Counters
	w, err := benchkit.Loop{
		Writers: len(payloads), Warmup: warmup, Duration: dur,
		Call:    func(i int) error { return a.Append(payloads[i]) },
		Counted: func(i int, began, returned time.Time) { lats[i] = append(lats[i], returned.Sub(began)) },
		AtStart: func() {
			if counts {
				c0 = bc.Counters()
			}
		},
		AtEnd: func() {
			if counts {
				c1 = bc.Counters()
			}
		},
	}.Run(ctx)
	if err != nil {
		return runResult{}, err
	}
	elapsed := w.Elapsed

	var all []time.Duration
	var bytes int64
	for i, lat := range lats {
		all = append(all, lat...)
		bytes += int64(len(lat)) * int64(len(payloads[i]))
	}
	slices.Sort(all)
	sec := elapsed.Seconds()
	r := runResult{
		opsPerSec: float64(len(all)) / sec,
		mbPerSec:  float64(bytes) / sec / 1e6,
		p50:       benchkit.Percentile(all, 0.50),
		p99:       benchkit.Percentile(all, 0.99),
	}
	if b := c1.Batches - c0.Batches; b > 0 {
		r.recPerBatch = float64(c1.Records-c0.Records) / float64(b)
		r.bytesPerBatch = float64(c1.Bytes-c0.Bytes) / float64(b)
	}
	if c1.Segments > c0.Segments {
		r.segPerSec = float64(c1.Segments-c0.Segments) / sec
	}
	return r, nil
}
