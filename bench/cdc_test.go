package bench_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/jc"
	"github.com/continuity-go/continuity/internal/cdc"
	"github.com/continuity-go/continuity/internal/gen"
	fastcdc "github.com/jotfs/fastcdc-go"
	"github.com/restic/chunker"
)

// The content-defined chunkers compared here all split a stream read from
// an io.Reader, at about 64 KiB average. The peers run with the FastCDC
// paper's ratios (Min Avg/4, Max 4*Avg), which are also their defaults;
// continuity runs with its DefaultParams (Min Avg/2) and, for a like-for-like
// row, with Min Avg/4.
const (
	cdcMin = 16 << 10
	cdcAvg = 64 << 10
	cdcMax = 256 << 10
)

// nextFunc returns the next chunk of a stream or an error (io.EOF at the
// end). The chunk is valid until the next call.
type nextFunc func() ([]byte, error)

type chunkerImpl struct {
	name string
	open func(r io.Reader) (nextFunc, error)
}

// resticPol is the irreducible polynomial restic/chunker's own tests use; a
// restic repository draws a random one.
const resticPol = chunker.Pol(0x3DA3358B4DC173)

func ours(name string, p cdc.Params) chunkerImpl {
	c, err := cdc.New(p, cdc.NewTable([32]byte{1}))
	if err != nil {
		panic(err)
	}
	return chunkerImpl{name, func(r io.Reader) (nextFunc, error) {
		return cdc.NewReader(r, c).Next, nil
	}}
}

func plakar(algorithm string) chunkerImpl {
	return chunkerImpl{"plakar-" + algorithm, func(r io.Reader) (nextFunc, error) {
		c, err := chunkers.NewChunker(algorithm, r, &chunkers.ChunkerOpts{MinSize: cdcMin, NormalSize: cdcAvg, MaxSize: cdcMax})
		if err != nil {
			return nil, err
		}
		return c.Next, nil
	}}
}

var chunkerImpls = []chunkerImpl{
	ours("continuity", cdc.DefaultParams()),
	ours("continuity-min16KiB", cdc.Params{Min: cdcMin, Avg: cdcAvg, Max: cdcMax}),
	{"restic", func(r io.Reader) (nextFunc, error) {
		c := chunker.NewWithBoundaries(r, resticPol, cdcMin, cdcMax)
		c.SetAverageBits(16)
		buf := make([]byte, cdcMax)
		return func() ([]byte, error) {
			ch, err := c.Next(buf)
			return ch.Data, err
		}, nil
	}},
	{"jotfs", func(r io.Reader) (nextFunc, error) {
		c, err := fastcdc.NewChunker(r, fastcdc.Options{MinSize: cdcMin, AverageSize: cdcAvg, MaxSize: cdcMax})
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			ch, err := c.Next()
			return ch.Data, err
		}, nil
	}},
	plakar("fastcdc"),
	plakar("jc"),
}

// cdcData is 64 MiB of each kind of generated data.
var cdcData = sync.OnceValue(func() map[string][]byte {
	return map[string][]byte{
		"random": gen.Random(1, 64<<20),
		"events": gen.Events(1, 64<<20),
	}
})

// chunkStream runs each chunk of data through fn and returns the number of
// chunks. A chunker that loses or invents bytes fails the benchmark.
func chunkStream(tb testing.TB, impl chunkerImpl, data []byte, fn func([]byte)) int {
	next, err := impl.open(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	var chunks, total int
	for {
		ch, err := next()
		if len(ch) > 0 {
			chunks++
			total += len(ch)
			fn(ch)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if total != len(data) {
		tb.Fatalf("%s: chunks hold %d of %d bytes", impl.name, total, len(data))
	}
	return chunks
}

// BenchmarkChunk measures the throughput of each chunker over 64 MiB held
// in memory (single goroutine), and reports the mean chunk size.
func BenchmarkChunk(b *testing.B) {
	for _, impl := range chunkerImpls {
		for _, kind := range []string{"random", "events"} {
			b.Run(fmt.Sprintf("impl=%s/avg=64KiB/data=%s", impl.name, kind), func(b *testing.B) {
				data := cdcData()[kind]
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				var chunks int
				for b.Loop() {
					chunks = chunkStream(b, impl, data, func([]byte) {})
				}
				b.ReportMetric(float64(len(data))/float64(chunks), "B/chunk")
			})
		}
	}
}

// BenchmarkChunkReuse measures shift resistance: the percentage of bytes
// a deduplicating store reuses after 100 single-byte insertions into 64 MiB
// of random data, and after 100 small edits (1 to 64 bytes inserted,
// deleted or overwritten) of 64 MiB of event JSON. Run it once:
//
//	go test -run '^$' -bench ChunkReuse -benchtime 1x
func BenchmarkChunkReuse(b *testing.B) {
	cases := []struct {
		name, kind string
		edit       func([]byte) []byte
	}{
		{"random/insert=100x1B", "random", func(d []byte) []byte { return gen.InsertBytes(2, d, 100) }},
		{"events/edit=100x64B", "events", func(d []byte) []byte { return gen.Edit(2, d, 100, 64) }},
	}
	for _, impl := range chunkerImpls {
		for _, tc := range cases {
			b.Run(fmt.Sprintf("impl=%s/avg=64KiB/%s", impl.name, tc.name), func(b *testing.B) {
				old := cdcData()[tc.kind]
				new := tc.edit(old)
				var reused float64
				for b.Loop() {
					have := make(map[[32]byte]bool)
					chunkStream(b, impl, old, func(ch []byte) { have[sha256.Sum256(ch)] = true })
					var n int
					chunkStream(b, impl, new, func(ch []byte) {
						if have[sha256.Sum256(ch)] {
							n += len(ch)
						}
					})
					reused = float64(n) / float64(len(new))
				}
				b.ReportMetric(100*reused, "%reused")
			})
		}
	}
}
