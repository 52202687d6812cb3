package benchkit

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stat summarizes a metric over repeated runs.
type Stat struct{ Med, Lo, Hi float64 }

// StatOf returns the median (the mean of the middle two for an even
// count), minimum and maximum of v; zero for no values.
func StatOf(v []float64) Stat {
	if len(v) == 0 {
		return Stat{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Stat{Med: med, Lo: v[0], Hi: v[len(v)-1]}
}

// StatBy is StatOf of metric over runs: a configuration's statistic of
// one measurement across its runs.
func StatBy[R any](runs []R, metric func(R) float64) Stat {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = metric(r)
	}
	return StatOf(v)
}

// Table writes a Markdown table.
func Table(b *strings.Builder, head []string, rows [][]string) {
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
		}
		b.WriteString("\n")
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}

// RangeOf formats s as "median (min–max)", or the median alone if the
// runs agree to the precision f shows.
func RangeOf(s Stat, f func(float64) string) string {
	med, lo, hi := f(s.Med), f(s.Lo), f(s.Hi)
	if lo == hi {
		return med
	}
	return fmt.Sprintf("%s (%s–%s)", med, lo, hi)
}

// Sig3 formats v with three significant digits, and numbers of 1000 and
// more as whole numbers with thousands separators.
func Sig3(v float64) string {
	if v >= 1000 {
		return Thousands(int64(math.Round(v)))
	}
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	dec := max(0, 2-int(math.Floor(math.Log10(v))))
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// Thousands formats n with commas between groups of three digits.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// OneDecimal formats v with one decimal.
func OneDecimal(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// Ratio formats a ratio with two decimals, or "—" when it is undefined
// (a zero or missing denominator).
func Ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// Percent formats v (already ×100) as a whole percentage.
func Percent(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + "%" }

// Percentile returns the nearest-rank q-quantile of sorted, or 0 if it is
// empty.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ParseInts parses a comma-separated list of integers, each in [lo, hi].
func ParseInts(list string, lo, hi int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if n < lo || n > hi {
			return nil, fmt.Errorf("%d is outside [%d, %d]", n, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseList parses a comma-separated list of names out of known, and
// returns them in known's order.
func ParseList(list string, known []string) ([]string, error) {
	seen := map[string]bool{}
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(known, f) {
			return nil, fmt.Errorf("unknown %q; known: %s", f, strings.Join(known, ","))
		}
		seen[f] = true
	}
	var out []string
	for _, k := range known {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out, nil
}
