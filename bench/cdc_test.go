package main_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/continuity-go/continuity/bench/internal/chunkers"
	"github.com/continuity-go/continuity/internal/cdc"
	"github.com/continuity-go/continuity/internal/gen"
)

// chunkerImpls are the chunkers snapbench compares (internal/chunkers),
// and continuity with the peers' Min of Avg/4 for a like-for-like row.
var chunkerImpls = append(chunkers.Compared(),
	chunkers.Ours("continuity-min16KiB", cdc.Params{Min: chunkers.Min, Avg: chunkers.Avg, Max: chunkers.Max}))

// cdcData is 64 MiB of each kind of generated data.
var cdcData = sync.OnceValue(func() map[string][]byte {
	return map[string][]byte{
		"random": gen.Random(1, chunkers.ShiftBytes),
		"events": gen.Events(1, chunkers.ShiftBytes),
	}
})

// BenchmarkChunk measures the throughput of each chunker over 64 MiB held
// in memory (single goroutine), and reports the mean chunk size. cmd/snapbench
// measures the same on its 256 MiB states.
func BenchmarkChunk(b *testing.B) {
	for _, impl := range chunkerImpls {
		for _, kind := range []string{"random", "events"} {
			b.Run(fmt.Sprintf("impl=%s/avg=64KiB/data=%s", impl.Name, kind), func(b *testing.B) {
				data := cdcData()[kind]
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				var chunks int
				for b.Loop() {
					var err error
					if chunks, err = chunkers.Stream(impl, data, func([]byte) {}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(data))/float64(chunks), "B/chunk")
			})
		}
	}
}

// BenchmarkChunkReuse measures shift resistance (chunkers.ShiftCases): the
// percentage of bytes a deduplicating store reuses after 100 single-byte
// insertions into 64 MiB of random data, and after 100 small edits (1 to
// 64 bytes inserted, deleted or overwritten) of 64 MiB of event JSON. Run
// it once:
//
//	go test -run '^$' -bench ChunkReuse -benchtime 1x
func BenchmarkChunkReuse(b *testing.B) {
	for _, impl := range chunkerImpls {
		for _, tc := range chunkers.ShiftCases {
			b.Run(fmt.Sprintf("impl=%s/avg=64KiB/%s", impl.Name, tc.Name), func(b *testing.B) {
				old := cdcData()[tc.Kind]
				edited := tc.Edit(old)
				var reused float64
				for b.Loop() {
					var err error
					if reused, err = chunkers.Reuse(impl, old, edited); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(100*reused, "%reused")
			})
		}
	}
}
