package main

import (
	"context"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"slices"
	"sync"
	"sync/atomic"
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

// Phases of a run, as seen by its writer goroutines.
const (
	warming int32 = iota
	measuring
	stopping
)

// measure drives a with one closed-loop goroutine per payload, each
// appending its payload over and over. Calls that complete during the
// warm-up are not counted; then calls that complete during dur are
// counted and timed. It returns the first error an Append returned, or
// ctx's error if ctx ends first.
func measure(ctx context.Context, a peers.Appender, payloads [][]byte, warmup, dur time.Duration) (runResult, error) {
	var phase atomic.Int32
	lats := make([][]time.Duration, len(payloads))
	errc := make(chan error, len(payloads))
	var wg sync.WaitGroup
	for i, p := range payloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for phase.Load() != stopping {
				t0 := time.Now()
				if err := a.Append(p); err != nil {
					errc <- err
					return
				}
				d := time.Since(t0)
				if phase.Load() == measuring {
					lat = append(lat, d)
				}
			}
			lats[i] = lat
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
	bc, counts := a.(peers.BatchCounter)
	var c0, c1 peers.Counters
	if counts {
		c0 = bc.Counters()
	}
	start := time.Now()
	phase.Store(measuring)
	if err == nil {
		err = wait(dur)
	}
	phase.Store(stopping)
	elapsed := time.Since(start)
	if counts {
		c1 = bc.Counters()
	}
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err != nil {
		return runResult{}, err
	}

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
