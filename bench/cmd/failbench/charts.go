package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// drawCharts draws the distribution of the fail-over times, one chart
// per profile with a curve per kind of trial (fail-failover-lan.png,
// fail-failover-wan.png: the WAN profile's times are about ten times the
// LAN's, and would squeeze them against the axis in one chart), and of the
// switchover write pauses (fail-switchover.png), each if some trial has a
// time; it returns the Markdown that shows them ("" without charts).
func drawCharts(cs *benchkit.Charts, res *results) (string, error) {
	var charts []benchkit.Chart
	for _, p := range []profile{lanProfile, wanProfile} {
		c := benchkit.Curves{Title: fmt.Sprintf("Fail-over, %s profile: primary killed → first write acknowledged on the new one", p.name), XLabel: "ms"}
		for _, j := range res.fail {
			if j.prof.name == p.name {
				c.Series = append(c.Series, benchkit.Samples{
					Name:   "killed primary: " + j.kind.label(),
					Values: msValues(j.durations(func(t failTrial) time.Duration { return t.took })),
				})
			}
		}
		charts = append(charts, benchkit.Chart{Name: "fail-failover-" + strings.ToLower(p.name) + ".png", Drawing: c})
	}
	pause := benchkit.Curves{Title: "Switchover: write pause, old primary's last write → new primary's first", XLabel: "ms"}
	for _, j := range res.switches {
		pause.Series = append(pause.Series, benchkit.Samples{
			Name:   j.prof.name + " profile",
			Values: msValues(j.durations(func(t switchTrial) time.Duration { return t.pause })),
		})
	}
	return cs.Draw(append(charts, benchkit.Chart{Name: "fail-switchover.png", Drawing: pause})...)
}

// msValues converts durations to milliseconds.
func msValues(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v) / float64(time.Millisecond)
	}
	return out
}
