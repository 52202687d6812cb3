package main

import (
	"fmt"
	"math"
	"slices"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// drawCharts draws the appends' records/s by payload and writers, one bar
// per mode (repl-throughput.png); the distribution of the Append latency
// of each mode at the fewest writers and the first payload size
// (repl-latency.png); and the distribution of the asynchronous standby's
// lag per payload and writers (repl-lag.png). It returns the Markdown that
// shows them ("" without charts).
func drawCharts(cs *benchkit.Charts, s settings, res *results) (string, error) {
	p := chartPrefix(s)
	return cs.Draw(benchkit.Chart{Name: p + "throughput.png", Drawing: throughputBars(s, res)},
		benchkit.Chart{Name: p + "latency.png", Drawing: latencyCurves(s, res)},
		benchkit.Chart{Name: p + "lag.png", Drawing: lagCurves(s, res)})
}

// throughputBars is the median records/s appended on the primary, a group
// per payload size and writer count, a bar per mode.
func throughputBars(s settings, res *results) benchkit.Bars {
	c := benchkit.Bars{Title: "Replication: appends per second on the primary (median), by payload × writers", YLabel: "records/s"}
	for _, size := range s.sizes {
		for _, w := range s.writers {
			c.Groups = append(c.Groups, fmt.Sprintf("%s ×%d", sizeName(size), w))
		}
	}
	for _, m := range s.modes {
		bs := benchkit.BarSeries{Name: m.label()}
		for _, size := range s.sizes {
			for _, w := range s.writers {
				v := math.NaN()
				if j := res.find(m, w, size); j != nil && len(j.runs) > 0 {
					v = j.stat(opsPerSec).Med
				}
				bs.Values = append(bs.Values, v)
			}
		}
		c.Series = append(c.Series, bs)
	}
	return c
}

// latencyCurves is the distribution of the Append latency of each mode,
// every run's sample together, at the fewest writers measured and the
// first payload size: where the modes differ most plainly, one Append
// waiting for one commit.
func latencyCurves(s settings, res *results) benchkit.Curves {
	w, size := slices.Min(s.writers), s.sizes[0]
	c := benchkit.Curves{Title: fmt.Sprintf("Replication: Append latency, %s, %s", sizeName(size), writersName(w)), XLabel: "ms (log scale)", LogX: true}
	for _, m := range s.modes {
		j := res.find(m, w, size)
		if j == nil {
			continue
		}
		var v []float64
		for _, r := range j.runs {
			v = append(v, r.latSample...)
		}
		c.Series = append(c.Series, benchkit.Samples{Name: m.label(), Values: v})
	}
	return c
}

// lagCurves is the distribution of the asynchronous standby's lag (the
// primary's Append returning → the standby applying the record), every
// run's sample together, one curve per payload size and writer count
// (none without an async mode).
func lagCurves(s settings, res *results) benchkit.Curves {
	c := benchkit.Curves{Title: "Replication: asynchronous standby lag, by payload × writers", XLabel: "ms"}
	for _, size := range s.sizes {
		for _, w := range s.writers {
			j := res.find(modeAsync, w, size)
			if j == nil {
				continue
			}
			var v []float64
			for _, r := range j.runs {
				v = append(v, r.lagSample...)
			}
			c.Series = append(c.Series, benchkit.Samples{Name: fmt.Sprintf("%s ×%d", sizeName(size), w), Values: v})
		}
	}
	return c
}
