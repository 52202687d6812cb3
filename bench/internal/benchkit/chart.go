package benchkit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Chart size in the PNG files.
const (
	chartWidth  = 18 * vg.Centimeter
	chartHeight = 10 * vg.Centimeter
)

// Bars is a grouped bar chart: one group of bars per Groups entry (the x
// axis), one bar per Series in each group.
type Bars struct {
	Title, YLabel string
	Groups        []string
	Series        []BarSeries
}

// BarSeries is one bar in each group; NaN leaves a group without it.
type BarSeries struct {
	Name   string
	Values []float64 // one per group
}

// Curves is a line chart of empirical distributions: for each series, the
// fraction of its samples at or below x.
type Curves struct {
	Title, XLabel string
	Series        []Samples
	// LogX draws the x axis on a log scale.
	LogX bool
}

// Samples are the measurements of one series of a Curves chart.
type Samples struct {
	Name   string
	Values []float64
}

// Charts writes a report's PNG charts into a directory and hands out the
// Markdown that shows them in a README.
type Charts struct {
	Dir string // where the PNG files go
	// Link is Dir as seen from the Markdown file (a relative path), the
	// prefix of the images' paths in the Markdown.
	Link string
}

// NewCharts returns Charts writing into dir for a Markdown file at
// readme ("" for a report that is only printed: the links then name dir).
// An empty dir gives nil: no charts.
func NewCharts(dir, readme string) (*Charts, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("charts directory: %w", err)
	}
	link := dir
	if readme != "" {
		absDir, err1 := filepath.Abs(dir)
		absMd, err2 := filepath.Abs(filepath.Dir(readme))
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if rel, err := filepath.Rel(absMd, absDir); err == nil {
			link = rel
		}
	}
	return &Charts{Dir: dir, Link: filepath.ToSlash(link)}, nil
}

// Drawing is a chart's content: a Bars or a Curves.
type Drawing interface{ plot() (*plot.Plot, error) }

// Chart is one chart of a report: its file name (".png") and content.
type Chart struct {
	Name string
	Drawing
}

// errNothing is a chart with nothing to draw (no series, no samples, no
// positive value): Draw leaves it out.
var errNothing = errors.New("nothing to draw")

// Draw draws the charts into the directory and returns the Markdown that
// shows them: a "#### Charts" heading and an image line each. A chart
// with nothing to draw (a suite that did not run, trials without times)
// is left out; with none left, or a nil Charts (charts are optional), it
// returns "".
func (cs *Charts) Draw(charts ...Chart) (string, error) {
	if cs == nil {
		return "", nil
	}
	var md strings.Builder
	for _, c := range charts {
		p, err := c.plot()
		if errors.Is(err, errNothing) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("chart %s: %w", c.Name, err)
		}
		if err := p.Save(chartWidth, chartHeight, filepath.Join(cs.Dir, c.Name)); err != nil {
			return "", fmt.Errorf("chart %s: %w", c.Name, err)
		}
		fmt.Fprintf(&md, "![%s](%s/%s)\n\n", p.Title.Text, cs.Link, c.Name)
	}
	if md.Len() == 0 {
		return "", nil
	}
	return "\n#### Charts\n\n" + md.String(), nil
}

func (b Bars) plot() (*plot.Plot, error) {
	if len(b.Series) == 0 || len(b.Groups) == 0 {
		return nil, errNothing
	}
	p := plot.New()
	p.Title.Text = b.Title
	p.Y.Label.Text = b.YLabel
	p.Legend.Top = true
	top := 0.0
	// The plot area is about 440 points wide: each group gets its share,
	// four fifths of it filled with its bars.
	width := vg.Points(0.8 * 440 / float64(len(b.Groups)*len(b.Series)))
	for i, s := range b.Series {
		if len(s.Values) != len(b.Groups) {
			return nil, fmt.Errorf("series %s has %d values for %d groups", s.Name, len(s.Values), len(b.Groups))
		}
		vals := make(plotter.Values, len(s.Values))
		for j, v := range s.Values {
			if v > 0 { // NaN too is left at 0
				vals[j], top = v, max(top, v)
			}
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = width * vg.Length(float64(i)-float64(len(b.Series)-1)/2)
		p.Add(bars)
		p.Legend.Add(s.Name, bars)
	}
	if top == 0 {
		return nil, errNothing
	}
	p.NominalX(b.Groups...)
	p.X.Min, p.X.Max = -0.5, float64(len(b.Groups))-0.5
	p.Y.Min, p.Y.Max = 0, top*(1.1+0.07*float64(len(b.Series))) // room for the legend
	p.Add(plotter.NewGrid())
	return p, nil
}

func (c Curves) plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = "fraction at or below"
	p.Y.Min, p.Y.Max = 0, 1
	// Bottom right: distribution curves rise from the left and reach 1
	// on the right, so that corner stays empty.
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)
	if c.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	drawn := 0
	for i, s := range c.Series {
		v := slices.Clone(s.Values)
		if c.LogX {
			v = slices.DeleteFunc(v, func(x float64) bool { return x <= 0 })
		}
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		pts := cdfPoints(v, 400)
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(s.Name, line)
		drawn++
	}
	if drawn == 0 {
		return nil, errNothing
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// cdfPoints returns the step function of the empirical distribution of
// sorted, with at most about max points (evenly spaced in rank).
func cdfPoints(sorted []float64, max int) plotter.XYs {
	n := len(sorted)
	step := 1
	if n > max {
		step = n / max
	}
	pts := plotter.XYs{{X: sorted[0], Y: 0}}
	for i := 0; i < n; i += step {
		pts = append(pts, plotter.XY{X: sorted[i], Y: float64(i+1) / float64(n)})
	}
	if last := pts[len(pts)-1]; last.Y < 1 {
		pts = append(pts, plotter.XY{X: sorted[n-1], Y: 1})
	}
	return pts
}

// ChartSamples bounds the raw values (latencies, lags) a configuration
// keeps for a distribution chart: each of its runs keeps an even share
// (SamplesPerRun), so that a long run costs no more memory than a short
// one.
const ChartSamples = 5000

// SamplesPerRun is how many raw values each of runs keeps for a chart.
func SamplesPerRun(runs int) int { return max(1, ChartSamples/max(1, runs)) }

// SampleMs returns at most n of the ascending durations, in milliseconds,
// taken evenly by rank from the first to the last: a smaller set with the
// same distribution, for a chart of it.
func SampleMs(sorted []time.Duration, n int) []float64 {
	n = min(n, len(sorted))
	out := make([]float64, n)
	for i := range out {
		k := 0
		if n > 1 {
			k = i * (len(sorted) - 1) / (n - 1)
		}
		out[i] = float64(sorted[k]) / float64(time.Millisecond)
	}
	return out
}
