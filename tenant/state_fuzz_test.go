package tenant

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

// fuzzSectionOf is k's section of state, for seeds.
func fuzzSectionOf(k *Key, state []byte) []byte {
	var b bytes.Buffer
	w := must(NewSectionWriter(&b, k))
	must(w.Write(state))
	if err := w.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// twoChunkState is the first state of 4.5 KiB that fuzzKey(0) cuts in
// two chunks: a seed with two frames, small enough to fuzz fast.
func twoChunkState() []byte {
	sw := must(NewSectionWriter(io.Discard, fuzzKey(0)))
	for seed := uint64(0); ; seed++ {
		s := gen.Random(seed, stateChunkMin+512)
		if sw.chunker.Cut(s) < len(s) {
			return s
		}
	}
}

func seedSections() [][]byte {
	k0, k1, k2 := fuzzKey(0), fuzzKey(1), fuzzKey(2)
	list := func(sections ...[]byte) []byte { return append(bytes.Join(sections, nil), 0) }
	return [][]byte{
		list(),
		list(fuzzSectionOf(k0, nil)),
		list(fuzzSectionOf(k0, []byte("the state of tenant 0"))),
		list(fuzzSectionOf(k0, twoChunkState())),
		list(fuzzSectionOf(k1, []byte("tenant 1")), fuzzSectionOf(k0, gen.Events(1, 600)), fuzzSectionOf(k2, nil),
			fuzzSectionOf(k0, []byte("again"))),
	}
}

func seedPlainFrames() [][]byte {
	frame := func(writes ...[]byte) []byte {
		var b bytes.Buffer
		w := NewPlainWriter(&b)
		for _, p := range writes {
			must(w.Write(p))
		}
		if err := w.Close(); err != nil {
			panic(err)
		}
		return b.Bytes()
	}
	return [][]byte{
		frame(),
		frame([]byte("the shared state")),
		frame([]byte("abc"), nil, []byte("0123456789"), []byte{0}),
		frame(bytes.Repeat([]byte("s"), maxFrame+1)),
	}
}

// TestWriteStateFuzzCorpus writes the seeds of FuzzSection and
// FuzzPlainFrames, as TestWriteFuzzCorpus does the others'.
func TestWriteStateFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{"FuzzSection": seedSections(), "FuzzPlainFrames": seedPlainFrames()} {
		dir := filepath.Join("testdata", "fuzz", name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, s := range seeds {
			err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s), 0o644)
			require.NoError(t, err)
		}
	}
}

// TestStateFuzzSeedsAreValid checks that the seeds reach the fuzz
// targets' round trips: the sections read, the fixed key's open, and
// one has two chunks.
func TestStateFuzzSeedsAreValid(t *testing.T) {
	k0, k1 := fuzzKey(0), fuzzKey(1)
	keys := map[Tag]*Key{k0.Tag: k0, k1.Tag: k1, fuzzKey(2).Tag: nil}
	frames := 0
	for i, b := range seedSections() {
		_, err := readStream(b, keys)
		require.NoError(t, err, "section seed %d", i)
		sections, err := readFuzzSections(b, k0, make([]byte, 2*maxFrame))
		require.NoError(t, err, "section seed %d", i)
		for _, s := range sections {
			frames = max(frames, len(s.chunks))
		}
	}
	assert.GreaterOrEqual(t, frames, 2, "no seed has a section of two chunks")
	for i, b := range seedPlainFrames() {
		_, err := io.ReadAll(NewPlainReader(bytes.NewReader(b)))
		require.NoError(t, err, "plain seed %d", i)
	}
	// The committed seeds are these: a format change that does not
	// rewrite them leaves seeds that only fail to read.
	for name, seeds := range map[string][][]byte{"FuzzSection": seedSections(), "FuzzPlainFrames": seedPlainFrames()} {
		for i, s := range seeds {
			file, err := os.ReadFile(filepath.Join("testdata", "fuzz", name, fmt.Sprintf("seed-%d", i)))
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s), string(file), "%s seed %d is stale: run with -update-corpus", name, i)
		}
	}
}

// fuzzSection is a section FuzzSection read: b[start:end], opened under
// the fixed key, or skipped.
type fuzzSection struct {
	start, end int
	opened     bool
	chunks     [][]byte
}

// readFuzzSections reads b as a list of sections, opening k's and
// skipping the others, up to the end of the list or the first error.
// buf, larger than any chunk, takes one chunk per Read.
func readFuzzSections(b []byte, k *Key, buf []byte) ([]fuzzSection, error) {
	r := bytes.NewReader(b)
	var sections []fuzzSection
	for {
		s := fuzzSection{start: len(b) - r.Len()}
		tag, id, ok, err := ReadSectionHeader(r)
		if err != nil || !ok {
			return sections, err
		}
		var key *Key
		if tag == k.Tag && id == k.ID {
			key, s.opened = k, true
		}
		sr, err := NewSectionReader(r, tag, id, key)
		if err != nil {
			return sections, err
		}
		if key == nil {
			err = sr.Skip()
		}
		for err == nil && key != nil {
			var n int
			n, err = sr.Read(buf)
			if n > 0 {
				s.chunks = append(s.chunks, bytes.Clone(buf[:n]))
			}
			if err == io.EOF {
				break
			}
		}
		if err != nil && err != io.EOF {
			return sections, err
		}
		s.end = len(b) - r.Len()
		sections = append(sections, s)
	}
}

// FuzzSection reads arbitrary bytes as a list of sections, opening those
// of a fixed key and skipping the others: never a panic, an error only
// wrapping ErrDamaged, allocation bounded by the frame bound and the
// input's size, skipping a section ends where reading it does, and what
// opens seals again under the key, chunk by chunk, to the same bytes,
// its end and MAC included; its state seals to a section that reads back
// to it, the same bytes when its chunks are where the chunker cuts.
func FuzzSection(f *testing.F) {
	for _, s := range seedSections() {
		f.Add(s)
	}
	k := fuzzKey(0)
	_, err := k.state() // derived once, not in the measured reads
	require.NoError(f, err)
	buf := make([]byte, 2*maxFrame)
	f.Fuzz(func(t *testing.T, b []byte) {
		var sections []fuzzSection
		var err error
		alloc := allocated(func() { sections, err = readFuzzSections(b, k, buf) })
		// One frame's buffer, at most the bound, before its bytes are
		// read; beyond it, what the input's bytes pay for.
		limit := uint64(2*(maxFrame+12)+256<<10) + 64*uint64(len(b))
		require.LessOrEqual(t, alloc, limit, "reading %d bytes allocated beyond the bound", len(b))
		if err != nil {
			require.ErrorIs(t, err, ErrDamaged)
		}
		for _, s := range sections {
			raw := b[s.start:s.end]
			skipped := bytes.NewReader(raw)
			tag, id, _, err := ReadSectionHeader(skipped)
			require.NoError(t, err)
			sr, err := NewSectionReader(skipped, tag, id, nil)
			require.NoError(t, err)
			require.NoError(t, sr.Skip(), "a section read but not skipped")
			require.Zero(t, skipped.Len(), "skipping a section ends elsewhere than reading it")
			if !s.opened {
				continue
			}

			var frames [][]byte
			var cuts []int
			for _, c := range s.chunks {
				alone, _ := sectionFrames(t, sealSection(t, k, c))
				require.Len(t, alone, 1, "an opened chunk of %d bytes seals alone to other frames", len(c))
				frames = append(frames, alone[0])
				cuts = append(cuts, len(c))
			}
			want := sectionOf(k, frames, sectionEndOf(t, k, frames))
			require.Equal(t, raw, want, "an opened section seals again, chunk by chunk, to other bytes")

			state := bytes.Join(s.chunks, nil)
			again := sealSection(t, k, state)
			got, err := readSection(bytes.NewReader(again), k)
			require.NoError(t, err, "a sealed state does not read")
			require.True(t, bytes.Equal(state, got), "a sealed state reads back to other bytes")
			var canon []int
			cutter := must(NewSectionWriter(io.Discard, k)).chunker
			for d := state; len(d) > 0; {
				n := cutter.Cut(d)
				canon = append(canon, n)
				d = d[n:]
			}
			if slices.Equal(cuts, canon) {
				require.Equal(t, raw, again, "an opened section seals again to other bytes")
			}
		}
	})
}

// FuzzPlainFrames reads arbitrary bytes through a PlainReader: never a
// panic, an error only wrapping ErrDamaged, allocation bounded by the
// frame bound and the input's size, and what reads frames again, frame
// by frame, into the bytes read; the state, framed by one Write, reads
// back the same.
func FuzzPlainFrames(f *testing.F) {
	for _, s := range seedPlainFrames() {
		f.Add(s)
	}
	buf := make([]byte, 2*maxFrame)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		var frames [][]byte
		var err error
		alloc := allocated(func() {
			pr := NewPlainReader(r)
			for {
				n, e := pr.Read(buf) // one frame per Read
				if n > 0 {
					frames = append(frames, bytes.Clone(buf[:n]))
				}
				if e != nil {
					if e != io.EOF {
						err = e
					}
					return
				}
			}
		})
		limit := uint64(2*(maxFrame+12)+256<<10) + 64*uint64(len(b))
		require.LessOrEqual(t, alloc, limit, "reading %d bytes allocated beyond the bound", len(b))
		if err != nil {
			require.ErrorIs(t, err, ErrDamaged)
			return
		}
		read := b[:len(b)-r.Len()]

		var w bytes.Buffer
		pw := NewPlainWriter(&w)
		fit := true // a frame past maxFrame reads, and is written as two
		for _, fr := range frames {
			_, err := pw.Write(fr)
			require.NoError(t, err)
			fit = fit && len(fr) <= maxFrame
		}
		require.NoError(t, pw.Close())
		if fit {
			require.Equal(t, read, w.Bytes(), "frames write again to other bytes")
		}

		state := bytes.Join(frames, nil)
		for _, framed := range [][]byte{w.Bytes(), framePlain(t, state)} {
			r := bytes.NewReader(framed)
			got, err := io.ReadAll(NewPlainReader(r))
			require.NoError(t, err, "written frames do not read")
			require.True(t, bytes.Equal(state, got), "written frames read back to other bytes")
			require.Zero(t, r.Len(), "written frames read to before their end")
		}
	})
}
