package main_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/continuity-go/continuity/bench/internal/peers"
)

// BenchmarkAppend appends one record per call to every log, each in its
// fully durable configuration, from 1, 8 and 64 goroutines, with 128 B and
// 4 KiB payloads. With more than one writer it runs under b.RunParallel
// with SetParallelism(writers/GOMAXPROCS), so the writer count in the name
// is the real number of goroutines (rounded up to a multiple of GOMAXPROCS
// when GOMAXPROCS does not divide it). Logs that count group commits
// report records/batch.
func BenchmarkAppend(b *testing.B) {
	for _, impl := range peers.Impls() {
		for _, writers := range []int{1, 8, 64} {
			if impl.Grouped() && writers == 1 {
				continue // only a goroutine hop more than the library's own row
			}
			par := (writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
			if writers > 1 {
				writers = par * runtime.GOMAXPROCS(0)
			}
			for _, size := range []int{128, 4096} {
				name := fmt.Sprintf("impl=%s/writers=%d/size=%s", impl, writers, sizeName(size))
				b.Run(name, func(b *testing.B) { benchAppend(b, impl, writers, par, size) })
			}
		}
	}
}

func benchAppend(b *testing.B, impl peers.Impl, writers, par, size int) {
	a, err := peers.Open(impl, filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := a.Close(); err != nil {
			b.Error(err)
		}
	}()
	// One append first, outside the timing: it waits for the log's first
	// segment (continuity fills 64 MiB with zeros in the background).
	if err := a.Append(peers.Payload(size, 0)); err != nil {
		b.Fatal(err)
	}
	bc, counts := a.(peers.BatchCounter)
	var c0 peers.Counters
	if counts {
		c0 = bc.Counters()
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	if writers == 1 {
		p := peers.Payload(size, 1)
		for b.Loop() {
			if err := a.Append(p); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		var seed atomic.Uint64
		b.SetParallelism(par)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			p := peers.Payload(size, seed.Add(1))
			for pb.Next() {
				if err := a.Append(p); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	if counts {
		c := bc.Counters()
		if n := c.Batches - c0.Batches; n > 0 {
			b.ReportMetric(float64(c.Records-c0.Records)/float64(n), "records/batch")
		}
	}
}

// BenchmarkRawSync is the physical limit: one write and one fdatasync per
// iteration from one goroutine, overwriting a zero-filled file (prealloc)
// or appending to an empty one (append).
func BenchmarkRawSync(b *testing.B) {
	for _, mode := range []peers.RawMode{peers.RawPrealloc, peers.RawAppend} {
		for _, size := range []int{128, 4 << 10, 64 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("mode=%s/size=%s", mode, sizeName(size)), func(b *testing.B) {
				r, err := peers.OpenRaw(filepath.Join(b.TempDir(), "raw"), mode)
				if err != nil {
					b.Fatal(err)
				}
				defer func() {
					if err := r.Close(); err != nil {
						b.Error(err)
					}
				}()
				p := peers.Payload(size, 1)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := r.Append(p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// sizeName formats a byte count as 128B, 4KiB or 1MiB, for benchmark
// names.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	default:
		return fmt.Sprintf("%dB", n)
	}
}
