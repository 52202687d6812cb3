package main

import (
	"fmt"
	"math"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// drawCharts draws the charts of the suites that ran and returns the
// Markdown that shows them ("" without charts): per kind of data, the
// snapshots' MB/s by step, one bar per tool and configuration
// (snap-<data>.png); the chunkers' GB/s by kind of data
// (snap-chunkers.png); and the crypto suite's GB/s by operation
// (snap-crypto.png).
func drawCharts(cs *benchkit.Charts, s settings, res *results) (string, error) {
	var charts []benchkit.Chart
	for _, kind := range s.data {
		charts = append(charts, benchkit.Chart{Name: "snap-" + kind + ".png", Drawing: snapshotBars(s, res, kind)})
	}
	charts = append(charts, benchkit.Chart{Name: "snap-chunkers.png", Drawing: chunkerBars(res)})
	if res.crypto != nil {
		charts = append(charts, benchkit.Chart{Name: "snap-crypto.png", Drawing: cryptoBars(res.crypto)})
	}
	return cs.Draw(charts...)
}

// chartSteps are the steps the snapshot charts show: restic's open is a
// fixed cost, not a rate.
var chartSteps = []step{stepFirst, stepEdited, stepUnchanged, stepRestore}

// snapshotBars is the chart of the snapshots suite on one kind of data:
// the median MB/s of each step, one bar per job (a step a job does not
// do, such as zstd's after the first snapshot, is left out; no bars if
// no job ran on that kind).
func snapshotBars(s settings, res *results, kind string) benchkit.Bars {
	c := benchkit.Bars{Title: fmt.Sprintf("Snapshots of the %s %s state: MB/s (median), by step", sizeName(res.size), kind), YLabel: "MB/s"}
	for _, st := range chartSteps {
		c.Groups = append(c.Groups, stepName(st, s))
	}
	for _, j := range res.jobs {
		if j.data != kind || len(j.runs) == 0 {
			continue
		}
		bs := benchkit.BarSeries{Name: j.name()}
		for _, st := range chartSteps {
			v := math.NaN()
			if j.has(st) {
				v = res.mbps(j, st)
			}
			bs.Values = append(bs.Values, v)
		}
		c.Series = append(c.Series, bs)
	}
	return c
}

// chunkerBars is the chart of the chunkers suite: the median GB/s of each
// chunker (one bar each) on each kind of data (the groups), as in the
// report's table.
func chunkerBars(res *results) benchkit.Bars {
	c := benchkit.Bars{Title: "Chunkers: GB/s (median), one goroutine, about 64 KiB average", YLabel: "GB/s"}
	for _, j := range res.chunkers {
		c.Groups = append(c.Groups, j.data)
	}
	for _, impl := range res.impls {
		bs := benchkit.BarSeries{Name: chunkerName(impl)}
		for _, j := range res.chunkers {
			bs.Values = append(bs.Values, j.stat(impl.Name).Med)
		}
		c.Series = append(c.Series, bs)
	}
	return c
}

// cryptoShort are the crypto operations' names on the chart's x axis,
// short enough for seven of them side by side.
var cryptoShort = map[string]string{
	cryBLAKE3:  "BLAKE3",
	cryHMAC:    "HMAC-SHA256",
	cryXXH:     "xxhash64",
	cryGCM:     "AES-GCM",
	cryXChaCha: "XChaCha20",
	cryLZ4:     "lz4",
	cryZstd:    "zstd",
}

// cryptoBars is the chart of the crypto suite: the median GB/s of each
// operation on the data it ran on.
func cryptoBars(c *opJob) benchkit.Bars {
	ch := benchkit.Bars{Title: fmt.Sprintf("Hashes, AEAD seals and codecs: GB/s (median), one goroutine, %d KiB pieces", cryptoPiece>>10), YLabel: "GB/s"}
	bs := benchkit.BarSeries{Name: c.data + " state"}
	for _, op := range cryptoOps {
		ch.Groups = append(ch.Groups, cryptoShort[op])
		bs.Values = append(bs.Values, c.stat(op).Med)
	}
	ch.Series = []benchkit.BarSeries{bs}
	return ch
}
