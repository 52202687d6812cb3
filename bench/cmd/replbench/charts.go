package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// drawCharts draws the appends' records/s by payload and writers, one bar
// per mode (repl-throughput.png); the distribution of the Append latency
// of each mode at the fewest writers and the first payload size
// (repl-latency.png); and the distribution of the asynchronous standby's
// lag per payload and writers (repl-lag.png). It returns the Markdown that
// shows them ("" without charts).
func drawCharts(cs *benchkit.Charts, s settings, res *results) (string, error) {
	if cs == nil || len(res.repl) == 0 {
		return "", nil
	}
	var md strings.Builder
	md.WriteString("\n#### Charts\n\n")
	if err := cs.Add(&md, "repl-throughput.png", throughputBars(s, res)); err != nil {
		return "", err
	}
	if c, ok := latencyCurves(s, res); ok {
		if err := cs.Add(&md, "repl-latency.png", c); err != nil {
			return "", err
		}
	}
	if c, ok := lagCurves(s, res); ok {
		if err := cs.Add(&md, "repl-lag.png", c); err != nil {
			return "", err
		}
	}
	return md.String(), nil
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
// waiting for one commit. It says false without samples.
func latencyCurves(s settings, res *results) (benchkit.Curves, bool) {
	w, size := slices.Min(s.writers), s.sizes[0]
	c := benchkit.Curves{Title: fmt.Sprintf("Replication: Append latency, %s, %s", sizeName(size), writersName(w)), XLabel: "ms (log scale)", LogX: true}
	n := 0
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
		n += len(v)
	}
	return c, n > 0
}

// lagCurves is the distribution of the asynchronous standby's lag (the
// primary's Append returning → the standby applying the record), every
// run's sample together, one curve per payload size and writer count. It
// says false without samples (no async mode measured).
func lagCurves(s settings, res *results) (benchkit.Curves, bool) {
	c := benchkit.Curves{Title: "Replication: asynchronous standby lag, by payload × writers", XLabel: "ms"}
	n := 0
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
			n += len(v)
		}
	}
	return c, n > 0
}
