package cdc

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/continuity-go/continuity/internal/gen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// readAll returns copies of the chunks Next returns and the error that
// ended them.
func readAll(r *Reader) ([][]byte, error) {
	var chunks [][]byte
	for {
		ch, err := r.Next()
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, bytes.Clone(ch))
	}
}

// sizedReader returns reads of the given sizes in turn, cycling.
type sizedReader struct {
	r     io.Reader
	sizes []int
	i     int
}

func (s *sizedReader) Read(p []byte) (int, error) {
	n := s.sizes[s.i%len(s.sizes)]
	s.i++
	return s.r.Read(p[:min(n, len(p))])
}

// TestReaderMatchesCut checks that Reader gives the chunks repeated Cut
// gives, however the underlying reader splits its reads.
func TestReaderMatchesCut(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawParams(t)
		c := mustNew(t, p, rapid.Byte().Draw(t, "seed"))
		data := drawData(t)
		want := chunkAll(c, data)

		var src io.Reader = bytes.NewReader(data)
		switch rapid.IntRange(0, 4).Draw(t, "reader") {
		case 0:
			src = iotest.OneByteReader(src)
		case 1:
			src = iotest.HalfReader(src)
		case 2:
			src = iotest.DataErrReader(src)
		case 3:
			src = iotest.DataErrReader(iotest.HalfReader(src))
		default:
			// Zero-length reads are allowed and must be retried.
			sizes := rapid.SliceOfN(rapid.IntRange(0, 3*p.Max), 1, 10).Filter(func(s []int) bool {
				for _, n := range s {
					if n > 0 {
						return true
					}
				}
				return false
			}).Draw(t, "sizes")
			src = &sizedReader{r: src, sizes: sizes}
		}
		r := NewReaderSize(src, c, rapid.IntRange(0, 4*p.Max).Draw(t, "bufSize"))
		got, err := readAll(r)
		require.ErrorIs(t, err, io.EOF)
		if len(want) == 0 {
			assert.Empty(t, got)
		} else {
			assert.Equal(t, want, got)
		}
		_, err = r.Next()
		assert.ErrorIs(t, err, io.EOF, "EOF again")
	})
}

// TestReaderError checks that a failing reader's error reaches the caller
// after exactly the chunks the bytes read before it decide.
func TestReaderError(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawParams(t)
		c := mustNew(t, p, rapid.Byte().Draw(t, "seed"))
		data := drawData(t)
		// The reader fails after delivering a prefix of data.
		cut := rapid.IntRange(0, len(data)).Draw(t, "cut")
		boom := errors.New("boom")
		src := io.MultiReader(iotest.HalfReader(bytes.NewReader(data[:cut])), iotest.ErrReader(boom))
		got, err := readAll(NewReaderSize(src, c, 0))
		require.ErrorIs(t, err, boom)

		full := chunkAll(c, data)
		require.LessOrEqual(t, len(got), len(full))
		for i := range got {
			assert.Equal(t, full[i], got[i], "chunks before the error are those of the whole stream")
		}
		// Every byte that Cut could decide on was returned: what is left
		// holds no boundary and is shorter than Max.
		rest := data[len(bytes.Join(got, nil)):cut]
		assert.Less(t, len(rest), p.Max)
		if len(rest) > 0 {
			assert.Equal(t, len(rest), c.Cut(rest))
		}
	})
}

func TestReaderErrorSticks(t *testing.T) {
	c := mustNew(t, Params{Min: 64, Avg: 256, Max: 1024}, 1)
	r := NewReader(iotest.TimeoutReader(bytes.NewReader(gen.Random(1, 100))), c)
	_, err := r.Next()
	assert.ErrorIs(t, err, iotest.ErrTimeout)
	_, err = r.Next()
	assert.ErrorIs(t, err, iotest.ErrTimeout)
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

type badReader struct{}

func (badReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestReaderBrokenReaders(t *testing.T) {
	c := mustNew(t, Params{Min: 64, Avg: 256, Max: 1024}, 1)
	_, err := NewReader(emptyReader{}, c).Next()
	assert.ErrorIs(t, err, io.ErrNoProgress)
	_, err = NewReader(badReader{}, c).Next()
	assert.ErrorIs(t, err, ErrInvalidRead)
}

func TestReaderReset(t *testing.T) {
	c := mustNew(t, Params{Min: 256, Avg: 1024, Max: 4096}, 2)
	a, b := gen.Random(1, 100_000), gen.Events(2, 100_000)
	r := NewReader(bytes.NewReader(a), c)
	_, err := r.Next()
	require.NoError(t, err)
	r.Reset(bytes.NewReader(b))
	got, err := readAll(r)
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, chunkAll(c, b), got)
}

// TestReaderLarge chunks a few MiB with the default parameters, so that the
// buffer is refilled and compacted many times.
func TestReaderLarge(t *testing.T) {
	c := mustNew(t, DefaultParams(), 3)
	data := gen.Events(3, 12<<20)
	got, err := readAll(NewReader(iotest.HalfReader(bytes.NewReader(data)), c))
	require.ErrorIs(t, err, io.EOF)
	assert.Equal(t, lengths(chunkAll(c, data)), lengths(got))
	assert.Equal(t, data, bytes.Join(got, nil))
}

func TestReaderAllocs(t *testing.T) {
	c := mustNew(t, DefaultParams(), 5)
	data := gen.Random(5, 8<<20)
	src := bytes.NewReader(data)
	r := NewReader(src, c)
	allocs := testing.AllocsPerRun(5, func() {
		src.Reset(data)
		r.Reset(src)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	})
	assert.Zero(t, allocs)
}
