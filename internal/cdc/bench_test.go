package cdc

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/continuity-go/continuity/internal/gen"
)

var benchData = sync.OnceValue(func() map[string][]byte {
	return map[string][]byte{
		"random": gen.Random(1, 64<<20),
		"events": gen.Events(1, 64<<20),
	}
})

// benchAvgs are the average chunk sizes the benchmarks compare, each with
// Min Avg/2 and Max 4*Avg as in DefaultParams.
var benchAvgs = []int{16 << 10, 32 << 10, 64 << 10, 128 << 10}

func benchParams(avg int) Params { return Params{Min: avg / 2, Avg: avg, Max: 4 * avg} }

func BenchmarkCut(b *testing.B) {
	t := NewTable([32]byte{7})
	for _, avg := range benchAvgs {
		c, err := New(benchParams(avg), t)
		if err != nil {
			b.Fatal(err)
		}
		for _, kind := range []string{"random", "events"} {
			b.Run(fmt.Sprintf("avg=%dKiB/data=%s", avg>>10, kind), func(b *testing.B) {
				data := benchData()[kind]
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				var chunks int
				for b.Loop() {
					chunks = 0
					for d := data; len(d) > 0; chunks++ {
						d = d[c.Cut(d):]
					}
				}
				b.ReportMetric(float64(len(data))/float64(chunks), "B/chunk")
			})
		}
	}
}

// BenchmarkReader measures the Reader over an in-memory stream: Cut plus
// the copies into and within its buffer.
func BenchmarkReader(b *testing.B) {
	for _, kind := range []string{"random", "events"} {
		b.Run(fmt.Sprintf("avg=64KiB/data=%s", kind), func(b *testing.B) {
			data := benchData()[kind]
			c := mustNew(b, DefaultParams(), 7)
			src := bytes.NewReader(data)
			r := NewReader(src, c)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(data)
				r.Reset(src)
				for {
					if _, err := r.Next(); err != nil {
						break
					}
				}
			}
		})
	}
}
