package cdc

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/continuity-go/continuity/internal/gen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// drawParams draws small valid Params, so that inputs of a few KiB hold
// many chunks.
func drawParams(t *rapid.T) Params {
	avg := 64 << rapid.IntRange(0, 4).Draw(t, "avgShift")
	return Params{
		Min: rapid.IntRange(1, avg-1).Draw(t, "min"),
		Avg: avg,
		Max: rapid.IntRange(avg+1, 8*avg).Draw(t, "max"),
	}
}

// drawData draws inputs of several kinds: random bytes, mostly zeros with
// a few random bytes (long runs of one byte give one hash value over and
// over), event JSON, and short byte strings that rapid can shrink.
func drawData(t *rapid.T) []byte {
	// rapid favors small numbers; pick a size class first so that most
	// inputs hold many chunks.
	n := rapid.SampledFrom([]int{0, 100, 2000, 10_000, 20_000}).Draw(t, "size") + rapid.IntRange(0, 100).Draw(t, "n")
	seed := rapid.Uint64().Draw(t, "dataSeed")
	switch rapid.IntRange(0, 3).Draw(t, "kind") {
	case 0:
		return gen.Random(seed, n)
	case 1:
		d := gen.Random(seed, n)
		for i, b := range d {
			if b < 250 {
				d[i] = 0
			}
		}
		return d
	case 2:
		return gen.Events(seed, n)
	default:
		return rapid.SliceOfN(rapid.ByteRange(0, 3), 0, 4096).Draw(t, "bytes")
	}
}

// TestCutMatchesReference checks Cut against the literal boundary rule at
// every chunk start of random inputs.
func TestCutMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawParams(t)
		tab := NewTable([32]byte{rapid.Byte().Draw(t, "seed")})
		c, err := New(p, tab)
		require.NoError(t, err)
		data := drawData(t)
		for len(data) > 0 {
			n := c.Cut(data)
			require.Equal(t, cutRef(p, tab, data), n, "params %+v", p)
			data = data[n:]
		}
	})
}

func TestChunkInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawParams(t)
		seed := rapid.Byte().Draw(t, "seed")
		c := mustNew(t, p, seed)
		data := drawData(t)
		chunks := chunkAll(c, data)
		assert.Equal(t, data, bytes.Join(chunks, nil), "chunks concatenate to the input")
		for i, ch := range chunks {
			assert.LessOrEqual(t, len(ch), p.Max, "chunk %d", i)
			if i < len(chunks)-1 {
				assert.GreaterOrEqual(t, len(ch), p.Min, "chunk %d", i)
			} else {
				assert.Positive(t, len(ch))
			}
		}
		assert.Equal(t, lengths(chunks), lengths(chunkAll(mustNew(t, p, seed), data)),
			"deterministic")
	})
}

// TestCutShortInput checks that Cut never looks past Max and treats data
// shorter than Max as the end of the stream.
func TestCutShortInput(t *testing.T) {
	p := Params{Min: 100, Avg: 256, Max: 1000}
	c := mustNew(t, p, 1)
	assert.Equal(t, 0, c.Cut(nil))
	assert.Equal(t, 1, c.Cut([]byte{7}))
	assert.Equal(t, 100, c.Cut(make([]byte, 100)))
	zeros := make([]byte, 5000)
	n := c.Cut(zeros)
	assert.True(t, n == 100 || n == 1000, "a run of zeros has one hash: cut at Min or Max, got %d", n)
	data := gen.Random(1, 5000)
	n = c.Cut(data)
	assert.Equal(t, n, c.Cut(data[:1000]), "bytes past Max do not matter")
}

// TestSeedsDiffer checks that the gear table, and so the secret seed,
// decides the boundaries.
func TestSeedsDiffer(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s1 := rapid.Byte().Draw(t, "seed1")
		s2 := rapid.Byte().Filter(func(b byte) bool { return b != s1 }).Draw(t, "seed2")
		p := Params{Min: 64, Avg: 256, Max: 2048}
		data := gen.Random(rapid.Uint64().Draw(t, "data"), 64<<10)
		assert.NotEqual(t, lengths(chunkAll(mustNew(t, p, s1), data)), lengths(chunkAll(mustNew(t, p, s2), data)))
	})
}

func TestNewTable(t *testing.T) {
	a, b := NewTable([32]byte{1}), NewTable([32]byte{1})
	assert.Equal(t, a, b, "deterministic")
	assert.NotEqual(t, a, NewTable([32]byte{2}))
	seen := make(map[uint64]bool)
	for _, v := range a {
		seen[v] = true
	}
	assert.Len(t, seen, 256, "entries are distinct")
}

func TestNewNilTable(t *testing.T) {
	_, err := New(DefaultParams(), nil)
	assert.ErrorIs(t, err, ErrNilTable)
}

// TestChunkerCopiesTable checks that a Chunker is immune to later changes
// of the table it was made with.
func TestChunkerCopiesTable(t *testing.T) {
	tab := NewTable([32]byte{3})
	p := Params{Min: 64, Avg: 256, Max: 2048}
	c, err := New(p, tab)
	require.NoError(t, err)
	data := gen.Random(3, 64<<10)
	want := lengths(chunkAll(c, data))
	*tab = Table{}
	assert.Equal(t, want, lengths(chunkAll(c, data)))
}

func TestChunkerParams(t *testing.T) {
	for _, p := range []Params{DefaultParams(), {Min: 1, Avg: 64, Max: 65}, {Min: 1000, Avg: 1 << 20, Max: MaxMax}} {
		c := mustNew(t, p, 0)
		assert.Equal(t, p, c.Params())
	}
}

// TestCutConcurrent runs one Chunker from several goroutines; run it with
// -race.
func TestCutConcurrent(t *testing.T) {
	c := mustNew(t, Params{Min: 256, Avg: 1024, Max: 4096}, 4)
	data := gen.Events(4, 1<<20)
	want := lengths(chunkAll(c, data))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			assert.Equal(t, want, lengths(chunkAll(c, data)))
		})
	}
	wg.Wait()
}

func TestCutAllocs(t *testing.T) {
	c := mustNew(t, DefaultParams(), 5)
	data := gen.Random(5, 1<<20)
	allocs := testing.AllocsPerRun(10, func() {
		for d := data; len(d) > 0; {
			d = d[c.Cut(d):]
		}
	})
	assert.Zero(t, allocs)
}

// TestCutMatchesReferenceLarge compares Cut with the reference rule over
// inputs with hundreds of chunks, for parameters like the real ones scaled
// down, including the edge cases of Min below the window and N = Min.
func TestCutMatchesReferenceLarge(t *testing.T) {
	sprinkled := gen.Random(3, 128<<10)
	for i, b := range sprinkled {
		if b < 250 {
			sprinkled[i] = 0
		}
	}
	data := map[string][]byte{
		"random":    gen.Random(1, 128<<10),
		"events":    gen.Events(2, 128<<10),
		"sprinkled": sprinkled,
	}
	params := []Params{
		{Min: 1, Avg: 64, Max: 65},
		{Min: 16, Avg: 64, Max: 256},
		{Min: 512, Avg: 1024, Max: 4096},
		{Min: 1000, Avg: 1024, Max: 1500}, // N = Min: the loose mask from the start
		{Min: 256, Avg: 1024, Max: 8192},
	}
	for _, p := range params {
		for _, kind := range []string{"random", "events", "sprinkled"} {
			t.Run(fmt.Sprintf("params=%d/%d/%d/data=%s", p.Min, p.Avg, p.Max, kind), func(t *testing.T) {
				tab := NewTable([32]byte{9})
				c, err := New(p, tab)
				require.NoError(t, err)
				var want []int
				for d := data[kind]; len(d) > 0; {
					n := cutRef(p, tab, d)
					want = append(want, n)
					d = d[n:]
				}
				assert.Equal(t, want, lengths(chunkAll(c, data[kind])))
			})
		}
	}
}
