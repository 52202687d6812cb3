package wal

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// BenchmarkAppend measures synced appends from concurrent writers. The
// side-by-side comparison with a raw write+fdatasync loop and peer WALs is
// in bench/ (cmd/walbench).
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		for _, size := range []int{128, 4096} {
			b.Run(fmt.Sprintf("writers=%d/size=%s", writers, sizeName(size)), func(b *testing.B) {
				l, err := Open(b.TempDir(), Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				data := payload(1, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				if writers == 1 {
					for b.Loop() {
						if _, _, err := l.Append(b.Context(), data); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if _, _, err := l.Append(b.Context(), data); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				st := l.Stats()
				b.ReportMetric(float64(st.Records)/float64(st.Batches), "records/batch")
				b.ReportMetric(float64(st.SyncTime.Microseconds())/float64(st.Syncs), "µs/sync")
			})
		}
	}
}

// BenchmarkEncodeFrame measures framing and checksumming alone.
func BenchmarkEncodeFrame(b *testing.B) {
	for _, size := range []int{128, 4096, 1 << 20} {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			data := payload(1, size)
			d := xxhash.New()
			buf := make([]byte, 0, frameSize(size))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf = appendFrame(buf[:0], d, 42, frameHeader{LSN: 1, Epoch: 1, Nanos: 1}, data)
			}
		})
	}
}

// BenchmarkDecodeFrame measures verifying and decoding a frame.
func BenchmarkDecodeFrame(b *testing.B) {
	for _, size := range []int{128, 4096, 1 << 20} {
		b.Run("size="+sizeName(size), func(b *testing.B) {
			d := xxhash.New()
			buf := appendFrame(nil, d, 42, frameHeader{LSN: 1, Epoch: 1, Nanos: 1}, payload(1, size))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := decodeFrame(buf, d, 42); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
