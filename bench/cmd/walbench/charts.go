package main

import (
	"fmt"
	"math"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/bench/internal/peers"
)

// drawCharts draws the logs' throughput and p99 latency by payload size
// and writers, one bar per log, and returns the Markdown that shows them
// ("" without charts).
func drawCharts(cs *benchkit.Charts, s settings, res *results) (string, error) {
	var groups []string
	type key struct{ size, writers int }
	var keys []key
	for _, size := range s.sizes {
		for _, w := range s.writers {
			groups = append(groups, fmt.Sprintf("%s ×%d", sizeName(size), w))
			keys = append(keys, key{size, w})
		}
	}
	var impls []peers.Impl
	seen := map[peers.Impl]bool{}
	for _, j := range res.logs {
		if !seen[j.impl] {
			seen[j.impl] = true
			impls = append(impls, j.impl)
		}
	}
	tput := benchkit.Bars{Title: "WAL: durable appends per second (median), by payload × writers", YLabel: "records/s", Groups: groups}
	p99 := benchkit.Bars{Title: "WAL: Append latency p99 (median of runs), by payload × writers", YLabel: "ms", Groups: groups}
	for _, impl := range impls {
		t := benchkit.BarSeries{Name: string(impl)}
		l := benchkit.BarSeries{Name: string(impl)}
		for _, k := range keys {
			j := res.log(impl, k.writers, k.size)
			if j == nil {
				t.Values, l.Values = append(t.Values, math.NaN()), append(l.Values, math.NaN())
				continue
			}
			t.Values = append(t.Values, j.stat(opsPerSec).Med)
			l.Values = append(l.Values, j.stat(p99ms).Med)
		}
		tput.Series, p99.Series = append(tput.Series, t), append(p99.Series, l)
	}
	return cs.Draw(benchkit.Chart{Name: "wal-throughput.png", Drawing: tput}, benchkit.Chart{Name: "wal-p99.png", Drawing: p99})
}
