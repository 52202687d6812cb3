package main

import (
	"fmt"
	"math"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// drawCharts draws the distribution of the per-record archive lag per
// store (arch-lag.png) if the lag suite ran, the restores' MB/s by part
// per store (arch-restore.png) if the restore suite ran, and the verify
// suite's MB/s per store (arch-verify.png) if it ran, and returns the
// Markdown that shows them ("" without charts).
func drawCharts(cs *benchkit.Charts, s settings, res *results) (string, error) {
	return cs.Draw(benchkit.Chart{Name: "arch-lag.png", Drawing: lagCurves(s, res)},
		benchkit.Chart{Name: "arch-restore.png", Drawing: restoreBars(s, res)},
		benchkit.Chart{Name: "arch-verify.png", Drawing: verifyBars(s, res)})
}

// verifyBars is the median MB/s of the plain read and of Verify, from
// the disk and cached, a bar per store.
func verifyBars(s settings, res *results) benchkit.Bars {
	c := benchkit.Bars{
		Title:  fmt.Sprintf("Verify (VerifyPITR, %d reads at once) beside a plain read of wal/: MB/s (median)", verifyReads),
		YLabel: "MB/s of the objects as stored",
		Groups: []string{"plain read, from disk", "Verify, from disk", "plain read, cached", "Verify, cached"},
	}
	for _, j := range res.verifies {
		mbps := func(d func(verifyRun) time.Duration) float64 {
			return finite(j.stat(func(r verifyRun) float64 { return float64(r.bytes) / 1e6 / secs(d(r)) }).Med)
		}
		c.Series = append(c.Series, benchkit.BarSeries{Name: j.store.label, Values: []float64{
			mbps(func(r verifyRun) time.Duration { return r.read }),
			mbps(func(r verifyRun) time.Duration { return r.verify }),
			mbps(func(r verifyRun) time.Duration { return r.readWarm }),
			mbps(func(r verifyRun) time.Duration { return r.verifyWarm }),
		}})
	}
	return c
}

// lagCurves is the distribution of the per-record archive lag (Append
// returned → archived) of each store, every run's sample together.
func lagCurves(s settings, res *results) benchkit.Curves {
	c := benchkit.Curves{
		Title:  fmt.Sprintf("Archive lag per record: %s events/s of %s", benchkit.Thousands(int64(s.rate)), sizeName(s.payload)),
		XLabel: "ms from Append returned to archived",
	}
	for _, j := range res.lag {
		var v []float64
		for _, r := range j.runs {
			v = append(v, r.lagSample...)
		}
		c.Series = append(c.Series, benchkit.Samples{Name: j.store.label, Values: v})
	}
	return c
}

// restoreBars is the median MB/s of the restore's parts, a bar per store:
// the snapshot part of RestoreTo beside Repo.Restore alone (state bytes),
// and the replay part (the events' payload bytes).
func restoreBars(s settings, res *results) benchkit.Bars {
	c := benchkit.Bars{
		Title:  fmt.Sprintf("Restore of %s state + %s events: MB/s (median) by part", sizeName(s.state), benchkit.Thousands(int64(s.events))),
		YLabel: "MB/s",
		Groups: []string{"snapshot part (state)", "Repo.Restore alone (state)", "replay part (event payloads)"},
	}
	for _, j := range res.restores {
		state := float64(s.state) / 1e6
		c.Series = append(c.Series, benchkit.BarSeries{Name: j.store.label, Values: []float64{
			finite(j.stat(func(r restoreRun) float64 { return state / secs(r.base) }).Med),
			finite(j.stat(func(r restoreRun) float64 { return state / secs(r.snapOnly) }).Med),
			finite(j.stat(func(r restoreRun) float64 { return float64(r.bytes) / 1e6 / secs(r.replay()) }).Med),
		}})
	}
	return c
}

// finite returns v, or NaN (no bar) if v is infinite: a part that took no
// measurable time has no rate to draw, and the plot rejects infinities.
func finite(v float64) float64 {
	if math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}
