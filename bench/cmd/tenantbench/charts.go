package main

import (
	"fmt"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// drawCharts draws the append suite's events/s, Append beside
// AppendTenant per configuration (tenant-append.png), if it ran, and
// returns the Markdown that shows it ("" without charts).
func drawCharts(cs *benchkit.Charts, res *results) (string, error) {
	return cs.Draw(benchkit.Chart{Name: "tenant-append.png", Drawing: appendBars(res)})
}

// appendBars is the median events/s of Append and AppendTenant, a group
// per event size and number of writers.
func appendBars(res *results) benchkit.Bars {
	c := benchkit.Bars{Title: "Append and AppendTenant on one node: events/s (median)", YLabel: "events/s"}
	if len(res.appends) == 0 {
		return c
	}
	plain := benchkit.BarSeries{Name: "Append"}
	sealed := benchkit.BarSeries{Name: "AppendTenant"}
	for _, j := range res.appends {
		c.Groups = append(c.Groups, fmt.Sprintf("%s × %d", sizeName(j.size), j.writers))
		plain.Values = append(plain.Values, stat(j.plain, func(r appendRun) float64 { return r.eps }).Med)
		sealed.Values = append(sealed.Values, stat(j.sealed, func(r appendRun) float64 { return r.eps }).Med)
	}
	c.Series = []benchkit.BarSeries{plain, sealed}
	return c
}
