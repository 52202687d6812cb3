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
	if cs == nil {
		return "", nil
	}
	type chart struct {
		name   string
		curves benchkit.Curves
	}
	var charts []chart
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
		charts = append(charts, chart{"fail-failover-" + strings.ToLower(p.name) + ".png", c})
	}
	pause := benchkit.Curves{Title: "Switchover: write pause, old primary's last write → new primary's first", XLabel: "ms"}
	for _, j := range res.switches {
		pause.Series = append(pause.Series, benchkit.Samples{
			Name:   j.prof.name + " profile",
			Values: msValues(j.durations(func(t switchTrial) time.Duration { return t.pause })),
		})
	}
	charts = append(charts, chart{"fail-switchover.png", pause})

	var md strings.Builder
	md.WriteString("\n#### Charts\n\n")
	drawn := 0
	for _, c := range charts {
		if !hasSamples(c.curves) {
			continue
		}
		if err := cs.Add(&md, c.name, c.curves); err != nil {
			return "", err
		}
		drawn++
	}
	if drawn == 0 {
		return "", nil
	}
	return md.String(), nil
}

// msValues converts durations to milliseconds.
func msValues(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v) / float64(time.Millisecond)
	}
	return out
}

// hasSamples says whether any curve of c has a value to draw.
func hasSamples(c benchkit.Curves) bool {
	for _, s := range c.Series {
		if len(s.Values) > 0 {
			return true
		}
	}
	return false
}
