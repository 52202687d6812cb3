package main

import (
	"math"
	"runtime/metrics"
	"time"
)

// schedLatencyMetric is the Go runtime's histogram of the time goroutines
// spent runnable before they ran: how long a goroutine that could run
// (a writer whose Append returned, a standby's reader with a frame in its
// socket) waited for a CPU.
const schedLatencyMetric = "/sched/latencies:seconds"

// schedHist reads the histogram; nil if the runtime does not have it.
func schedHist() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: schedLatencyMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// schedQuantiles returns the p50 and p99 of the waits between two
// readings of the histogram (each bucket taken at its upper bound), or 0
// if there were none.
func schedQuantiles(h0, h1 *metrics.Float64Histogram) (p50, p99 time.Duration) {
	if h0 == nil || h1 == nil || len(h0.Counts) != len(h1.Counts) {
		return 0, 0
	}
	d := make([]uint64, len(h1.Counts))
	var n uint64
	for i := range d {
		d[i] = h1.Counts[i] - h0.Counts[i]
		n += d[i]
	}
	if n == 0 {
		return 0, 0
	}
	q := func(f float64) time.Duration {
		rank := max(1, uint64(math.Ceil(f*float64(n)))) // nearest rank
		var c uint64
		for i, k := range d {
			c += k
			if c >= rank {
				up := h1.Buckets[i+1]
				if math.IsInf(up, 1) {
					up = h1.Buckets[i]
				}
				return time.Duration(up * 1e9)
			}
		}
		return 0
	}
	return q(0.50), q(0.99)
}
