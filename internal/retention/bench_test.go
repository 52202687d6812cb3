package retention

import (
	"fmt"
	"testing"
	"time"
)

func BenchmarkApply(b *testing.B) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	p := Policy{Last: 3, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 10, WithinHourly: 48 * time.Hour, Location: newYork}
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("snapshots=%d", n), func(b *testing.B) {
			last := time.Date(2026, 12, 31, 18, 0, 0, 0, time.UTC)
			in := every(last.Add(-time.Duration(n-1)*6*time.Hour), last, 6*time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Apply(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
