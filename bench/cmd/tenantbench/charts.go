package main

import (
	"fmt"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// drawCharts draws the append suite's events/s, Append beside
// AppendTenant and Append of the sealed size per configuration
// (tenant-append.png), if it ran, and returns the Markdown that shows it
// ("" without charts).
func drawCharts(cs *benchkit.Charts, res *results) (string, error) {
	return cs.Draw(benchkit.Chart{Name: "tenant-append.png", Drawing: appendBars(res)})
}

// appendBars is the median events/s of every way of appending, a group
// per event size and number of writers.
func appendBars(res *results) benchkit.Bars {
	c := benchkit.Bars{Title: "Ways of appending on one node: events/s (median)", YLabel: "events/s"}
	if len(res.appends) == 0 {
		return c
	}
	for _, w := range ways {
		c.Series = append(c.Series, benchkit.BarSeries{Name: w.String()})
	}
	for _, j := range res.appends {
		c.Groups = append(c.Groups, fmt.Sprintf("%s × %d", sizeName(j.size), j.writers))
		for i, w := range ways {
			c.Series[i].Values = append(c.Series[i].Values, benchkit.StatBy(*j.runs(w), func(r appendRun) float64 { return r.eps }).Med)
		}
	}
	return c
}
