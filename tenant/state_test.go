package tenant

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

// frameOverhead is what sealing adds to a chunk in its frame: the GCM tag
// and the nonce, after the 4-byte length.
const frameOverhead = tagSize + 12

// sectionEndSize is the size of a section's end: the end marker and the
// MAC.
const sectionEndSize = 4 + sectionMACSize

// writeIn writes data to w in pieces of 0 to maxPiece bytes drawn from
// rng, and returns the first error.
func writeIn(w io.Writer, data []byte, rng *rand.Rand, maxPiece int) error {
	for len(data) > 0 {
		n := min(rng.IntN(maxPiece+1), len(data))
		m, err := w.Write(data[:n])
		if err != nil {
			return err
		}
		if m != n {
			return io.ErrShortWrite
		}
		data = data[n:]
	}
	return nil
}

// sealSection is k's section of state, written in one Write.
func sealSection(t testing.TB, k *Key, state []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewSectionWriter(&b, k)
	require.NoError(t, err)
	n, err := w.Write(state)
	require.NoError(t, err)
	require.Equal(t, len(state), n)
	require.NoError(t, w.Close())
	return b.Bytes()
}

// framePlain is the state framed by a PlainWriter in one Write.
func framePlain(t testing.TB, state []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewPlainWriter(&b)
	n, err := w.Write(state)
	require.NoError(t, err)
	require.Equal(t, len(state), n)
	require.NoError(t, w.Close())
	return b.Bytes()
}

// frameSpans returns the [start, end) offsets of the frames that start at
// b[off], length included, up to their end, and the offset just past the
// end: for a section's frames (sealed) the end marker and its MAC, for
// plain frames the frame of length 0. b must be well formed.
func frameSpans(t testing.TB, b []byte, off int, sealed bool) (spans [][2]int, end int) {
	t.Helper()
	for {
		require.LessOrEqual(t, off+4, len(b), "frames run past the end")
		n := binary.LittleEndian.Uint32(b[off:])
		switch {
		case sealed && n == sectionEnd:
			require.LessOrEqual(t, off+sectionEndSize, len(b), "the end's MAC runs past the end")
			return spans, off + sectionEndSize
		case !sealed && n == 0:
			return spans, off + 4
		}
		require.LessOrEqual(t, off+4+int(n), len(b), "a frame runs past the end")
		spans = append(spans, [2]int{off, off + 4 + int(n)})
		off += 4 + int(n)
	}
}

// sectionFrames returns the frames of the section that starts at b[0],
// lengths included, and the section's length; its end is
// b[end-sectionEndSize:end].
func sectionFrames(t testing.TB, b []byte) (frames [][]byte, end int) {
	t.Helper()
	spans, end := frameSpans(t, b, sectionHeaderSize, true)
	for _, s := range spans {
		frames = append(frames, b[s[0]:s[1]])
	}
	return frames, end
}

// sectionEndOf is the end of a section of k's with these frames (lengths
// included), computed as the format comment in state.go gives it: the
// end marker, then HMAC-SHA-256 under HKDF(data key,
// "continuity/tenant/v1/state-mac") of the tag, the key ID, each frame's
// nonce in order and the frame count (u64).
func sectionEndOf(t testing.TB, k *Key, frames [][]byte) []byte {
	t.Helper()
	k.mu.Lock()
	key, err := k.deriveLocked([]byte("continuity/tenant/v1/state-mac"))
	k.mu.Unlock()
	require.NoError(t, err)
	m := hmac.New(sha256.New, key)
	m.Write(k.Tag[:])
	m.Write(k.ID[:])
	for _, f := range frames {
		require.GreaterOrEqual(t, len(f), 4+12, "a frame without a nonce")
		m.Write(f[len(f)-12:])
	}
	m.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(frames))))
	return m.Sum(binary.LittleEndian.AppendUint32(nil, sectionEnd))
}

// sectionOf is a section of k's header, then frames (lengths included),
// then end.
func sectionOf(k *Key, frames [][]byte, end []byte) []byte {
	b := append([]byte{1}, k.Tag[:]...)
	b = append(b, k.ID[:]...)
	for _, f := range frames {
		b = append(b, f...)
	}
	return append(b, end...)
}

// requireSkips skips section, followed by other bytes, without a key:
// Skip succeeds and stops exactly at what follows, as a restore skipping
// a shredded tenant needs, whether or not the section is whole.
func requireSkips(t testing.TB, section []byte, msgAndArgs ...any) {
	t.Helper()
	r := bytes.NewReader(append(bytes.Clone(section), "next"...))
	tag, id, ok, err := ReadSectionHeader(r)
	require.NoError(t, err, msgAndArgs...)
	require.True(t, ok, msgAndArgs...)
	sr, err := NewSectionReader(r, tag, id, nil)
	require.NoError(t, err, msgAndArgs...)
	require.NoError(t, sr.Skip(), msgAndArgs...)
	require.Equal(t, "next", rest(r), msgAndArgs...)
}

// readSection reads the section at r under k.
func readSection(r io.Reader, k *Key) ([]byte, error) {
	tag, id, ok, err := ReadSectionHeader(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("the list of sections ends")
	}
	sr, err := NewSectionReader(r, tag, id, k)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(sr)
}

// readStream reads a list of sections to its end, each under the key
// keys holds for its tag (nil: skipped), as a restore does, but strictly:
// a section of a tag or key ID keys does not know, or a byte after the
// end of the list, is damage.
func readStream(b []byte, keys map[Tag]*Key) (map[Tag][]byte, error) {
	r := bytes.NewReader(b)
	states := map[Tag][]byte{}
	for {
		tag, id, ok, err := ReadSectionHeader(r)
		if err != nil {
			return states, err
		}
		if !ok {
			break
		}
		k, known := keys[tag]
		if !known || (k != nil && k.ID != id) {
			return states, fmt.Errorf("%w: a section of an unknown key %s/%s", ErrDamaged, tag, id)
		}
		sr, err := NewSectionReader(r, tag, id, k)
		if err != nil {
			return states, err
		}
		if k == nil {
			err = sr.Skip()
		} else {
			states[tag], err = io.ReadAll(sr)
		}
		if err != nil {
			return states, err
		}
	}
	if r.Len() > 0 {
		return states, fmt.Errorf("%w: %d bytes after the sections", ErrDamaged, r.Len())
	}
	return states, nil
}

// fixedKey is a key of the tenant id with fixed material, for tests
// whose chunk boundaries must not vary from run to run.
func fixedKey(id string) *Key {
	material := sha256.Sum256([]byte("continuity tenant state test key " + id))
	k, err := keyFrom(testTag(id), KeyID{0x5e, 1, 2, 3, 4, 5, 6, 7}, material[:])
	if err != nil {
		panic(err)
	}
	return k
}

func rest(r io.Reader) string {
	b, err := io.ReadAll(r)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// allocated returns the bytes the heap allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// stateSizes are the state sizes of the round trips, around the chunker's
// bounds.
var stateSizes = []int{0, 1, 100, stateChunkMin - 1, stateChunkMin, stateChunkMin + 1,
	stateChunkMax - 1, stateChunkMax, stateChunkMax + 1, 3*stateChunkMax + 17, 300 << 10}

func TestSectionRoundTrip(t *testing.T) {
	k := NewKey(testTag("acme"))
	type tcase struct {
		name  string
		state []byte
	}
	var cases []tcase
	for i, n := range stateSizes {
		cases = append(cases, tcase{fmt.Sprintf("random/size=%d", n), gen.Random(uint64(i), n)})
	}
	cases = append(cases, tcase{"events/size=300KiB", gen.Events(1, 300<<10)})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			one := sealSection(t, k, tc.state)
			// The chunks, and so the bytes, depend on the state only,
			// not on how it was written.
			for _, maxPiece := range []int{300, 70 << 10} {
				rng := rand.New(rand.NewPCG(uint64(len(tc.state)), uint64(maxPiece)))
				var b bytes.Buffer
				w, err := NewSectionWriter(&b, k)
				require.NoError(t, err)
				require.NoError(t, writeIn(w, tc.state, rng, maxPiece))
				require.NoError(t, w.Close())
				assert.Equal(t, one, b.Bytes(), "writes of up to %d bytes seal to other bytes than one Write", maxPiece)
			}

			assert.Equal(t, byte(1), one[0], "section marker")
			assert.Equal(t, k.Tag[:], one[1:17], "tag")
			assert.Equal(t, k.ID[:], one[17:25], "key ID")
			frames, end := sectionFrames(t, one)
			assert.Equal(t, len(one), end, "bytes after the end")
			assert.Equal(t, sectionEndOf(t, k, frames), one[end-sectionEndSize:], "the end")
			total := 0
			for i, f := range frames {
				n := len(f) - 4 - frameOverhead
				total += n
				assert.LessOrEqual(t, n, stateChunkMax, "chunk %d", i)
				if i < len(frames)-1 {
					assert.GreaterOrEqual(t, n, stateChunkMin, "chunk %d, not the last", i)
				} else {
					assert.Positive(t, n, "the last chunk")
				}
			}
			assert.Equal(t, len(tc.state), total, "chunk lengths")
			for off := 0; off+32 <= len(tc.state); off += 4 << 10 {
				assert.False(t, bytes.Contains(one, tc.state[off:off+32]), "state bytes at %d are in the clear", off)
			}

			r := bytes.NewReader(append(bytes.Clone(one), "next"...))
			got, err := readSection(r, k)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(tc.state, got), "the state read back differs")
			assert.Equal(t, "next", rest(r), "what follows the section")

			// Reads of every size, through a reader that returns one
			// byte at a time.
			r = bytes.NewReader(one)
			src := iotest.OneByteReader(r)
			tag, id, ok, err := ReadSectionHeader(src)
			require.NoError(t, err)
			require.True(t, ok)
			sr, err := NewSectionReader(src, tag, id, k)
			require.NoError(t, err)
			require.NoError(t, iotest.TestReader(sr, tc.state))
		})
	}
}

// TestSections writes several tenants' sections back to back and reads
// them, each read whole, skipped, or read in part and then skipped (as a
// restore does after the host's RestoreTenant): every way leaves the
// reader exactly at the next section, and at the end of the list at the
// bytes after it.
func TestSections(t *testing.T) {
	tenants := []struct {
		id    string
		state []byte
	}{
		{"acme", gen.Random(10, 300<<10)},
		{"globex", nil},
		{"initech", gen.Random(11, 70<<10)},
		{"umbrella", []byte("five!")},
		{"hooli", gen.Events(12, 40<<10)},
	}
	keys := make([]*Key, len(tenants))
	var stream bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	for i, tn := range tenants {
		keys[i] = NewKey(testTag(tn.id))
		w, err := NewSectionWriter(&stream, keys[i])
		require.NoError(t, err)
		require.NoError(t, writeIn(w, tn.state, rng, 20<<10))
		require.NoError(t, w.Close())
	}
	require.NoError(t, EndSections(&stream))
	stream.WriteString("after the sections")

	const (
		read = iota
		skip
		partial
	)
	for _, tc := range []struct {
		name string
		how  func(i int) int
	}{
		{"read all", func(int) int { return read }},
		{"skip all", func(int) int { return skip }},
		{"read some", func(i int) int { return i % 2 }},
		{"read in part", func(int) int { return partial }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(stream.Bytes())
			for i, tn := range tenants {
				tag, id, ok, err := ReadSectionHeader(r)
				require.NoError(t, err, "section %d", i)
				require.True(t, ok, "section %d: the list ends", i)
				require.Equal(t, keys[i].Tag, tag, "section %d", i)
				require.Equal(t, keys[i].ID, id, "section %d", i)
				switch tc.how(i) {
				case read:
					sr, err := NewSectionReader(r, tag, id, keys[i])
					require.NoError(t, err)
					got, err := io.ReadAll(sr)
					require.NoError(t, err)
					assert.True(t, bytes.Equal(tn.state, got), "section %d: the state read back differs", i)
					assert.NoError(t, sr.Skip(), "Skip at the end")
				case skip:
					sr, err := NewSectionReader(r, tag, id, nil)
					require.NoError(t, err)
					require.NoError(t, sr.Skip())
					n, err := sr.Read(make([]byte, 8))
					assert.Zero(t, n)
					assert.Equal(t, io.EOF, err, "Read after Skip")
				case partial:
					sr, err := NewSectionReader(r, tag, id, keys[i])
					require.NoError(t, err)
					head := make([]byte, min(10, len(tn.state)))
					_, err = io.ReadFull(sr, head)
					require.NoError(t, err)
					assert.True(t, bytes.Equal(tn.state[:len(head)], head), "section %d: the head read differs", i)
					require.NoError(t, sr.Skip())
				}
			}
			_, _, ok, err := ReadSectionHeader(r)
			require.NoError(t, err)
			assert.False(t, ok, "a section after the last")
			assert.Equal(t, "after the sections", rest(r))
		})
	}

	t.Run("no sections", func(t *testing.T) {
		var b bytes.Buffer
		require.NoError(t, EndSections(&b))
		_, _, ok, err := ReadSectionHeader(&b)
		require.NoError(t, err)
		assert.False(t, ok)
	})
}

func TestSectionReaderWrongKey(t *testing.T) {
	acme := NewKey(testTag("acme"))
	section := sealSection(t, acme, gen.Random(1, 10<<10))
	for name, k := range map[string]*Key{
		"another tenant's key":    NewKey(testTag("globex")),
		"the tenant's other key":  NewKey(acme.Tag),
		"the same names, forged":  sameNames(t, acme),
		"the right key, for once": acme,
	} {
		t.Run(name, func(t *testing.T) {
			r := bytes.NewReader(section)
			tag, id, _, err := ReadSectionHeader(r)
			require.NoError(t, err)
			sr, err := NewSectionReader(r, tag, id, k)
			switch {
			case k == acme:
				require.NoError(t, err)
				_, err = io.ReadAll(sr)
				assert.NoError(t, err)
			case k.Tag != tag || k.ID != id:
				assert.Error(t, err, "NewSectionReader with a key of other names")
			default:
				require.NoError(t, err)
				got, err := io.ReadAll(sr)
				assert.ErrorIs(t, err, ErrDamaged)
				assert.Empty(t, got)
			}
		})
	}
}

func TestPlainRoundTrip(t *testing.T) {
	sizes := []int{0, 1, maxFrame - 1, maxFrame, maxFrame + 1, 2*maxFrame + 7, 300 << 10}
	for i, n := range sizes {
		state := gen.Random(uint64(100+i), n)
		t.Run(fmt.Sprintf("size=%d", n), func(t *testing.T) {
			one := framePlain(t, state)
			spans, end := frameSpans(t, one, 0, false)
			assert.Equal(t, len(one), end, "bytes after the end frame")
			assert.Len(t, spans, (n+maxFrame-1)/maxFrame, "frames of one Write")
			for j, s := range spans {
				if j < len(spans)-1 {
					assert.Equal(t, maxFrame, s[1]-s[0]-4, "frame %d", j)
				}
			}

			rng := rand.New(rand.NewPCG(uint64(n), 7))
			var b bytes.Buffer
			w := NewPlainWriter(&b)
			require.NoError(t, writeIn(w, state, rng, 100<<10))
			require.NoError(t, w.Close())
			pieces := b.Bytes()
			spans, _ = frameSpans(t, pieces, 0, false)
			for j, s := range spans {
				assert.LessOrEqual(t, s[1]-s[0]-4, maxFrame, "frame %d", j)
			}

			for name, framed := range map[string][]byte{"one write": one, "random writes": pieces} {
				r := bytes.NewReader(append(bytes.Clone(framed), "next"...))
				// HalfReader: frames arrive in short reads.
				pr := NewPlainReader(iotest.HalfReader(r))
				got, err := io.ReadAll(pr)
				require.NoError(t, err, name)
				assert.True(t, bytes.Equal(state, got), "%s: the state read back differs", name)
				m, err := pr.Read(make([]byte, 8))
				assert.Zero(t, m, name)
				assert.Equal(t, io.EOF, err, "%s: Read after the end", name)
				assert.Equal(t, "next", rest(r), "%s: what follows the frames", name)

				require.NoError(t, iotest.TestReader(NewPlainReader(bytes.NewReader(framed)), state), name)
			}
		})
	}
}

// TestSectionDeterministic seals one state twice, and with a Key made
// afresh from the same material: the bytes are equal, so an unchanged
// state stores nothing new.
func TestSectionDeterministic(t *testing.T) {
	state := gen.Random(20, 1<<20)
	k := NewKey(testTag("acme"))
	a := sealSection(t, k, state)
	assert.Equal(t, a, sealSection(t, k, state), "the same key, twice")
	material, err := k.material()
	require.NoError(t, err)
	again, err := keyFrom(k.Tag, k.ID, material)
	require.NoError(t, err)
	assert.Equal(t, a, sealSection(t, again, state), "the same key, unwrapped again")
}

// TestSectionEditDedup edits 1 MiB of state in the middle: only the
// frames around the edit change, so a snapshot store deduplicates the
// rest.
func TestSectionEditDedup(t *testing.T) {
	base := gen.Random(30, 1<<20)
	mid := len(base) / 2
	k := fixedKey("acme")
	before, _ := sectionFrames(t, sealSection(t, k, base))
	require.GreaterOrEqual(t, len(before), 32, "chunks of 1 MiB")
	had := map[string]bool{}
	for _, f := range before {
		had[string(f)] = true
	}
	edits := map[string][]byte{
		"overwrite 8 bytes": append(append(bytes.Clone(base[:mid]), "8 bytes!"...), base[mid+8:]...),
		"insert 100 bytes":  append(append(bytes.Clone(base[:mid]), gen.Random(31, 100)...), base[mid:]...),
		"delete 1000 bytes": append(bytes.Clone(base[:mid]), base[mid+1000:]...),
		"insert 1 byte":     append(append(bytes.Clone(base[:mid]), 'x'), base[mid:]...),
	}
	for name, state := range edits {
		t.Run(name, func(t *testing.T) {
			after, _ := sectionFrames(t, sealSection(t, k, state))
			has := map[string]bool{}
			for _, f := range after {
				has[string(f)] = true
			}
			gone := 0
			for _, f := range before {
				if !has[string(f)] {
					gone++
				}
			}
			// The new frames are next to each other, and their chunks
			// hold the edit.
			first, last, off, from, to := -1, -1, 0, 0, 0
			for i, f := range after {
				n := len(f) - 4 - frameOverhead
				if !had[string(f)] {
					if first < 0 {
						first, from = i, off
					}
					last, to = i, off+n
				}
				off += n
			}
			require.NotEqual(t, -1, first, "no frame changed")
			added := last - first + 1
			for i := first; i <= last; i++ {
				assert.False(t, had[string(after[i])], "frame %d, among the new ones, is old", i)
			}
			assert.LessOrEqual(t, added, 3, "new frames")
			assert.LessOrEqual(t, gone, 3, "frames gone")
			assert.LessOrEqual(t, from, mid, "the new chunks start after the edit")
			assert.Greater(t, to, mid, "the new chunks end before the edit")
			t.Logf("%d of %d frames new, %d gone", added, len(after), gone)
		})
	}
}

// TestSectionNothingShared seals the same state for two tenants, and for
// one tenant under its next key: no frame, nor any 16 bytes of one, is in
// the other, so the snapshot store's deduplication tells nothing across
// tenants or keys.
func TestSectionNothingShared(t *testing.T) {
	state := gen.Random(21, 256<<10)
	acme := NewKey(testTag("acme"))
	a := sealSection(t, acme, state)
	aFrames, _ := sectionFrames(t, a)
	windows := map[[16]byte]bool{}
	for off := sectionHeaderSize; off+16 <= len(a); off++ {
		windows[[16]byte(a[off:])] = true
	}
	for name, k := range map[string]*Key{
		"another tenant":        NewKey(testTag("globex")),
		"the tenant's next key": NewKey(acme.Tag),
		"the same key":          acme, // the check can fail
	} {
		t.Run(name, func(t *testing.T) {
			b := sealSection(t, k, state)
			bFrames, _ := sectionFrames(t, b)
			shared := 0
			for _, f := range bFrames {
				for _, g := range aFrames {
					if bytes.Equal(f, g) {
						shared++
					}
				}
			}
			common := 0
			for off := sectionHeaderSize; off+16 <= len(b); off++ {
				if windows[[16]byte(b[off:])] {
					common++
				}
			}
			if k == acme {
				assert.Equal(t, len(aFrames), shared)
				assert.Equal(t, len(a)-sectionHeaderSize-15, common)
				return
			}
			assert.Zero(t, shared, "frames in both")
			assert.Zero(t, common, "16-byte windows in both")
		})
	}
}

// TestSectionBitFlip flips bits in a section's frames and in its end,
// the end's MAC included (every bit of small sections; of a large one,
// every bit near a frame's edges, every bit of the end and a sample of
// the rest): reading fails with ErrDamaged, after giving at most the
// chunks before the damage, and a reader of the whole list of sections
// fails too.
//
// A flip that makes a frame's length 0 ("a frame of 128 bytes" has one)
// once ended the section early, and it read as a prefix of the state:
// a frame of length 0 is now a frame too short to open.
func TestSectionBitFlip(t *testing.T) {
	k := fixedKey("acme") // so that the chunks, and their lengths, are fixed
	for _, tc := range []struct {
		name   string
		state  []byte
		every  bool
		zeroes bool // a flip makes a frame's length 0
	}{
		{"empty", nil, true, false},
		{"5 bytes", []byte("state"), true, false},
		{"a frame of 128 bytes", gen.Random(40, 128-frameOverhead), true, true},
		{"100KiB", gen.Random(41, 100<<10), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			section := sealSection(t, k, tc.state)
			stream := append(bytes.Clone(section), 0) // EndSections
			spans, end := frameSpans(t, section, sectionHeaderSize, true)
			require.Equal(t, len(section), end)
			if !tc.every {
				require.GreaterOrEqual(t, len(spans), 2, "chunks")
			}
			// Chunk boundaries in the state: a damaged section gives
			// whole chunks before the damage.
			bounds := map[int]bool{0: true}
			lengths := map[int]bool{} // offsets of frame lengths
			var edges []int
			off := 0
			for _, s := range spans {
				off += s[1] - s[0] - 4 - frameOverhead
				bounds[off] = true
				lengths[s[0]] = true
				edges = append(edges, s[0], s[1])
			}
			near := func(byteOff int) bool {
				for _, e := range edges {
					if byteOff >= e-32 && byteOff < e+32 {
						return true
					}
				}
				return byteOff >= end-sectionEndSize
			}
			flips, zeroed, inMAC := 0, 0, 0
			for bit := 8 * sectionHeaderSize; bit < 8*len(section); bit++ {
				byteOff := bit / 8
				if !tc.every && !near(byteOff) && bit%1009 != 0 {
					continue
				}
				flips++
				bad := flipBit(stream, bit)
				got, err := readSection(bytes.NewReader(bad), k)
				require.ErrorIs(t, err, ErrDamaged, "bit %d (byte %d) flipped", bit, byteOff)
				require.True(t, bytes.HasPrefix(tc.state, got), "bit %d (byte %d) flipped: the section reads as other bytes", bit, byteOff)
				require.True(t, bounds[len(got)], "bit %d (byte %d) flipped: the section gives part of a chunk", bit, byteOff)
				if byteOff >= end-sectionMACSize {
					// Every chunk opens; the end does not.
					require.Equal(t, len(tc.state), len(got), "bit %d (byte %d) of the MAC flipped", bit, byteOff)
					inMAC++
				}
				for s := range lengths {
					if byteOff >= s && byteOff < s+4 && binary.LittleEndian.Uint32(bad[s:]) == 0 {
						zeroed++
					}
				}
				_, err = readStream(bad, map[Tag]*Key{k.Tag: k})
				require.ErrorIs(t, err, ErrDamaged, "bit %d (byte %d) flipped: the list of sections reads", bit, byteOff)
			}
			assert.Equal(t, 8*sectionMACSize, inMAC, "bits of the MAC flipped")
			if tc.zeroes {
				assert.Positive(t, zeroed, "no flip made a frame's length 0")
			}
			t.Logf("%d bits flipped, %d of them made a frame's length 0", flips, zeroed)
		})
	}
}

// TestSectionWhole rebuilds a tenant's section from its own frames and
// from those of another section of the same key (another state): cut
// short at every frame boundary, cut by a frame of length 0 (the old
// end), each frame dropped, each repeated, each swapped with the next,
// the first and the last swapped, the other section's frames put in
// place of, before or after the section's; each ended by the section's
// own end or by the other's. Every frame opens where it is, as the
// chunks are sealed alone (so that an unchanged one deduplicates), but
// the section does not end as written: read under the key it fails with
// ErrDamaged, having opened every frame but one of length 0. Skipped
// without the key, it still ends exactly at the next section. So whoever
// holds the archive's key but not the tenant's can no longer cut a
// tenant's state short or reorder it.
func TestSectionWhole(t *testing.T) {
	k := fixedKey("acme") // so that the number of chunks is fixed
	stateA, stateB := gen.Random(55, 100<<10), gen.Random(56, 60<<10)
	a, b := sealSection(t, k, stateA), sealSection(t, k, stateB)
	fa, endA := sectionFrames(t, a)
	fb, endB := sectionFrames(t, b)
	require.GreaterOrEqual(t, len(fa), 4, "chunks of A")
	require.GreaterOrEqual(t, len(fb), 2, "chunks of B")
	// The chunk each frame opens to.
	plain := map[string][]byte{}
	for _, s := range []struct {
		frames [][]byte
		state  []byte
	}{{fa, stateA}, {fb, stateB}} {
		off := 0
		for _, f := range s.frames {
			n := len(f) - 4 - frameOverhead
			plain[string(f)] = s.state[off : off+n]
			off += n
		}
		require.Equal(t, len(s.state), off)
	}
	zero := []byte{0, 0, 0, 0}

	t.Run("as written", func(t *testing.T) {
		for _, s := range []struct {
			section []byte
			state   []byte
		}{{a, stateA}, {b, stateB}} {
			got, err := readSection(bytes.NewReader(s.section), k)
			require.NoError(t, err)
			require.True(t, bytes.Equal(s.state, got))
			frames, end := sectionFrames(t, s.section)
			require.Equal(t, s.section, sectionOf(k, frames, s.section[end-sectionEndSize:end]), "sectionOf")
			requireSkips(t, s.section)
		}
	})

	type tcase struct {
		name   string
		frames [][]byte
	}
	var cases []tcase
	add := func(frames [][]byte, format string, args ...any) {
		cases = append(cases, tcase{fmt.Sprintf(format, args...), frames})
	}
	for i := range len(fa) {
		add(slices.Concat(fa[:i]), "cut after %d frames", i)
	}
	for i := range len(fa) + 1 {
		add(slices.Concat(fa[:i], [][]byte{zero}, fa[i:]), "a frame of length 0 after %d frames", i)
	}
	for i := range len(fa) {
		add(slices.Concat(fa[:i], fa[i+1:]), "frame %d dropped", i)
		add(slices.Concat(fa[:i+1], fa[i:]), "frame %d repeated", i)
	}
	for i := range len(fa) - 1 {
		add(slices.Concat(fa[:i], [][]byte{fa[i+1], fa[i]}, fa[i+2:]), "frames %d and %d swapped", i, i+1)
	}
	last := len(fa) - 1
	add(slices.Concat([][]byte{fa[last]}, fa[1:last], [][]byte{fa[0]}), "the first and the last swapped")
	for i := range min(len(fa), len(fb)) {
		add(slices.Concat(fa[:i], fb[i:i+1], fa[i+1:]), "the other's frame %d in place of frame %d", i, i)
	}
	add(slices.Concat(fb, fa), "the other's frames in front")
	add(slices.Concat(fa, fb), "the other's frames after")
	add(slices.Concat(fa[:2], fb, fa[2:]), "the other's frames in the middle")

	for _, tc := range cases {
		for endName, end := range map[string][]byte{"its end": a[endA-sectionEndSize:], "the other's end": b[endB-sectionEndSize:]} {
			t.Run(tc.name+", "+endName, func(t *testing.T) {
				section := sectionOf(k, tc.frames, end)
				require.False(t, bytes.Equal(section, a) || bytes.Equal(section, b), "the case rebuilds a section as written")
				got, err := readSection(bytes.NewReader(append(bytes.Clone(section), "next"...)), k)
				require.ErrorIs(t, err, ErrDamaged)
				var opened []byte
				for _, f := range tc.frames {
					if len(f) == 4 {
						break // a frame of length 0 does not open
					}
					opened = append(opened, plain[string(f)]...)
				}
				assert.True(t, bytes.Equal(opened, got), "read %d bytes, not the %d of the frames before the end", len(got), len(opened))
				requireSkips(t, section)
			})
		}
	}
}

// TestSectionFrameMoved puts frames of other sections, of another tenant
// or of the tenant's other key, into a tenant's section, which keeps its
// end: they do not open there, and skipping the section without a key
// still ends at the next one. (Frames of another section of the same
// key do open: TestSectionWhole.)
func TestSectionFrameMoved(t *testing.T) {
	state := gen.Random(50, 100<<10)
	acme := NewKey(testTag("acme"))
	section := sealSection(t, acme, state)
	frames, end := sectionFrames(t, section)
	require.GreaterOrEqual(t, len(frames), 2)
	rebuild := func(frames [][]byte) []byte {
		return sectionOf(acme, frames, section[end-sectionEndSize:end])
	}
	got, err := readSection(bytes.NewReader(rebuild(frames)), acme)
	require.NoError(t, err, "the section rebuilt from its frames")
	require.True(t, bytes.Equal(state, got))

	for name, k := range map[string]*Key{
		"another tenant's": NewKey(testTag("globex")),
		"an older key's":   NewKey(acme.Tag),
	} {
		other := sealSection(t, k, state)
		theirs, _ := sectionFrames(t, other)
		for what, moved := range map[string][][]byte{
			"replacing the first": append([][]byte{theirs[0]}, frames[1:]...),
			"replacing the last":  append(append([][]byte{}, frames[:len(frames)-1]...), theirs[len(theirs)-1]),
			"added in front":      append([][]byte{theirs[0]}, frames...),
			"added at the end":    append(append([][]byte{}, frames...), theirs[0]),
		} {
			t.Run(name+" frame "+what, func(t *testing.T) {
				got, err := readSection(bytes.NewReader(rebuild(moved)), acme)
				assert.ErrorIs(t, err, ErrDamaged)
				assert.True(t, bytes.HasPrefix(state, got), "the section reads as other bytes")
				requireSkips(t, rebuild(moved))
			})
		}
		t.Run(name+" section relabelled", func(t *testing.T) {
			relabelled := append(bytes.Clone(section[:sectionHeaderSize]), other[sectionHeaderSize:]...)
			got, err := readSection(bytes.NewReader(relabelled), acme)
			assert.ErrorIs(t, err, ErrDamaged)
			assert.Empty(t, got)
			requireSkips(t, relabelled)
		})
	}
}

// TestSectionNonceChecked seals a chunk under the tenant's state key with
// a nonce that is not the chunk's synthetic one, and ends the section
// with the MAC of that nonce, as only the key's holder could: it does not
// open, so what opens seals again to the same bytes.
func TestSectionNonceChecked(t *testing.T) {
	k := NewKey(testTag("acme"))
	sk, err := k.state()
	require.NoError(t, err)
	chunk := []byte("a chunk of the state")
	m := hmac.New(sha256.New, sk.nonce)
	m.Write(chunk)
	own := m.Sum(nil)[:12]
	for name, nonce := range map[string][]byte{
		"its own nonce":        own,
		"another nonce":        bytes.Repeat([]byte{7}, 12),
		"one bit from its own": flipBit(own, 3),
	} {
		t.Run(name, func(t *testing.T) {
			section := bytes.Clone(sealSection(t, k, nil)[:sectionHeaderSize])
			frame := sk.aead.Seal(nil, nonce, chunk, section[1:sectionHeaderSize])
			frame = append(frame, nonce...)
			frame = append(binary.LittleEndian.AppendUint32(nil, uint32(len(frame))), frame...)
			section = append(section, frame...)
			section = append(section, sectionEndOf(t, k, [][]byte{frame})...)
			got, err := readSection(bytes.NewReader(section), k)
			if bytes.Equal(nonce, own) {
				require.NoError(t, err)
				assert.Equal(t, chunk, got)
				assert.Equal(t, sealSection(t, k, chunk), section, "the chunk sealed by hand")
				return
			}
			assert.ErrorIs(t, err, ErrDamaged)
			assert.Empty(t, got)
		})
	}
}

// TestFrameBound gives the readers frame lengths past the bound: they
// fail with ErrDamaged before allocating the frame (in a section, the
// length 0xFFFFFFFF is its end: TestSectionWhole, TestTruncated).
// Lengths up to the bound read; sealed frames too short to hold a tag
// and a nonce, of length 0 too, do not open.
func TestFrameBound(t *testing.T) {
	k := NewKey(testTag("acme"))
	header := sealSection(t, k, nil)[:sectionHeaderSize]
	withLength := func(prefix []byte, n uint32, body int) []byte {
		b := binary.LittleEndian.AppendUint32(bytes.Clone(prefix), n)
		return append(b, make([]byte, body)...)
	}
	for _, n := range []uint32{maxFrame + 13, 1 << 20, 1 << 31, sectionEnd - 1, sectionEnd} {
		for name, open := range map[string]func(b []byte) ([]byte, error){
			"sealed": func(b []byte) ([]byte, error) { return readSection(bytes.NewReader(b), k) },
			"skipped": func(b []byte) ([]byte, error) {
				r := bytes.NewReader(b)
				tag, id, _, err := ReadSectionHeader(r)
				if err != nil {
					return nil, err
				}
				sr, err := NewSectionReader(r, tag, id, nil)
				if err != nil {
					return nil, err
				}
				return nil, sr.Skip()
			},
			"plain": func(b []byte) ([]byte, error) {
				return io.ReadAll(NewPlainReader(bytes.NewReader(b[sectionHeaderSize:])))
			},
		} {
			if n == sectionEnd && name != "plain" {
				continue // a section's end
			}
			t.Run(fmt.Sprintf("%s/length=%d", name, n), func(t *testing.T) {
				b := withLength(header, n, maxFrame+100)
				var err error
				alloc := allocated(func() { _, err = open(b) })
				assert.ErrorIs(t, err, ErrDamaged)
				assert.Less(t, alloc, uint64(16<<10), "bytes allocated for a frame of %d bytes", n)
			})
		}
	}

	t.Run("at the bound", func(t *testing.T) {
		body := gen.Random(60, maxFrame+12)
		frame := append(withLength(nil, maxFrame+12, 0), body...)
		// The end is right for the frame's last 12 bytes as a nonce:
		// the frame is what does not open.
		b := sectionOf(k, [][]byte{frame}, sectionEndOf(t, k, [][]byte{frame}))
		requireSkips(t, b, "a frame at the bound, skipped")

		got, err := io.ReadAll(NewPlainReader(bytes.NewReader(append(bytes.Clone(frame), 0, 0, 0, 0))))
		require.NoError(t, err, "a plain frame at the bound")
		assert.Equal(t, body, got)

		_, err = readSection(bytes.NewReader(b), k)
		assert.ErrorIs(t, err, ErrDamaged, "a sealed frame of random bytes")
	})

	for _, n := range []uint32{0, 1, frameOverhead - 1, frameOverhead} {
		t.Run(fmt.Sprintf("sealed/short=%d", n), func(t *testing.T) {
			b := sectionOf(k, [][]byte{withLength(nil, n, int(n))}, sectionEndOf(t, k, nil))
			got, err := readSection(bytes.NewReader(b), k)
			assert.ErrorIs(t, err, ErrDamaged)
			assert.Empty(t, got)
			requireSkips(t, b)
		})
	}
}

// TestTruncated cuts lists of sections and plain frames short (at every
// byte near a frame's edges, every byte of a section's end, the end
// marker followed by part of the MAC, and at a sample of the rest):
// reading fails with ErrDamaged, under the keys or skipping without
// them, never with a clean end, after giving at most a prefix of the
// state.
func TestTruncated(t *testing.T) {
	acme, globex, initech := NewKey(testTag("acme")), NewKey(testTag("globex")), NewKey(testTag("initech"))
	states := map[Tag][]byte{acme.Tag: gen.Random(70, 100<<10), globex.Tag: []byte("hello"), initech.Tag: {}}
	keys := map[Tag]*Key{acme.Tag: acme, globex.Tag: globex, initech.Tag: initech}
	skip := map[Tag]*Key{acme.Tag: nil, globex.Tag: nil, initech.Tag: nil}
	var stream []byte
	var edges []int
	for _, k := range []*Key{acme, globex, initech} {
		section := sealSection(t, k, states[k.Tag])
		spans, end := frameSpans(t, section, sectionHeaderSize, true)
		edges = append(edges, len(stream), len(stream)+sectionHeaderSize, len(stream)+end)
		for _, s := range spans {
			edges = append(edges, len(stream)+s[1])
		}
		// Every 8th byte of the end: cuts within 8 bytes of an edge
		// cover all of it.
		for e := end - sectionEndSize; e < end; e += 8 {
			edges = append(edges, len(stream)+e)
		}
		stream = append(stream, section...)
	}
	stream = append(stream, 0)
	got, err := readStream(stream, keys)
	require.NoError(t, err, "the whole list")
	require.Equal(t, states, got)
	_, err = readStream(stream, skip)
	require.NoError(t, err, "the whole list, skipped")
	acmeEnd := edges[2]

	cutAt := func(edges []int, n int) []int {
		var cuts []int
		for c := range n {
			for _, e := range edges {
				if c >= e-8 && c <= e+8 || c%509 == 0 {
					cuts = append(cuts, c)
					break
				}
			}
		}
		return cuts
	}
	for _, c := range cutAt(edges, len(stream)) {
		_, err := readStream(stream[:c], keys)
		require.ErrorIs(t, err, ErrDamaged, "cut at %d of %d", c, len(stream))
		_, err = readStream(stream[:c], skip)
		require.ErrorIs(t, err, ErrDamaged, "cut at %d of %d, skipped", c, len(stream))
		if c < acmeEnd {
			got, err := readSection(bytes.NewReader(stream[:c]), acme)
			require.ErrorIs(t, err, ErrDamaged, "the first section cut at %d", c)
			require.True(t, bytes.HasPrefix(states[acme.Tag], got), "the first section cut at %d reads as other bytes", c)
			_, err = readSection(bytes.NewReader(stream[:c]), nil)
			require.ErrorIs(t, err, ErrDamaged, "the first section cut at %d, skipped", c)
		}
	}

	var b bytes.Buffer
	pw := NewPlainWriter(&b)
	var plain []byte
	for i, n := range []int{100, 3000, 1, maxFrame + 5} {
		p := gen.Random(uint64(80+i), n)
		plain = append(plain, p...)
		_, err := pw.Write(p)
		require.NoError(t, err)
	}
	require.NoError(t, pw.Close())
	framed := b.Bytes()
	spans, _ := frameSpans(t, framed, 0, false)
	edges = []int{len(framed) - 4}
	for _, s := range spans {
		edges = append(edges, s[0])
	}
	for _, c := range cutAt(edges, len(framed)) {
		got, err := io.ReadAll(NewPlainReader(bytes.NewReader(framed[:c])))
		require.ErrorIs(t, err, ErrDamaged, "plain frames cut at %d of %d", c, len(framed))
		require.True(t, bytes.HasPrefix(plain, got), "plain frames cut at %d read as other bytes", c)
	}
}

// TestReaderErrorsStick reads damaged frames: after the first error,
// every Read and Skip returns it again, and no chunk after the damage is
// given, since a caller that reads on (a bufio.Reader reports a read
// error once, then reads on) would get a state with a hole, and a
// restore's Skip after the host's read would report the section whole.
func TestReaderErrorsStick(t *testing.T) {
	t.Run("section", func(t *testing.T) {
		k := NewKey(testTag("acme"))
		state := gen.Random(90, 200<<10)
		section := sealSection(t, k, state)
		spans, _ := frameSpans(t, section, sectionHeaderSize, true)
		require.GreaterOrEqual(t, len(spans), 3)
		bad := flipBit(section, 8*(spans[0][0]+10)) // in the first chunk
		r := bytes.NewReader(bad)
		tag, id, _, err := ReadSectionHeader(r)
		require.NoError(t, err)
		sr, err := NewSectionReader(r, tag, id, k)
		require.NoError(t, err)
		buf := make([]byte, 1<<20)
		_, err = sr.Read(buf)
		require.ErrorIs(t, err, ErrDamaged)
		n, err := sr.Read(buf)
		assert.ErrorIs(t, err, ErrDamaged, "Read after an error")
		assert.Zero(t, n, "Read after an error")
		assert.ErrorIs(t, sr.Skip(), ErrDamaged, "Skip after an error")
	})
	t.Run("section end", func(t *testing.T) {
		// Every chunk opens; the MAC does not match: not io.EOF, then
		// or later.
		k := NewKey(testTag("acme"))
		state := gen.Random(91, 100<<10)
		section := sealSection(t, k, state)
		bad := flipBit(section, 8*len(section)-1)
		r := bytes.NewReader(bad)
		tag, id, _, err := ReadSectionHeader(r)
		require.NoError(t, err)
		sr, err := NewSectionReader(r, tag, id, k)
		require.NoError(t, err)
		got, err := io.ReadAll(sr)
		require.ErrorIs(t, err, ErrDamaged)
		require.True(t, bytes.Equal(state, got), "the chunks before the end")
		n, err := sr.Read(make([]byte, 8))
		assert.ErrorIs(t, err, ErrDamaged, "Read after an error")
		assert.Zero(t, n, "Read after an error")
		assert.ErrorIs(t, sr.Skip(), ErrDamaged, "Skip after an error")
	})
	t.Run("plain", func(t *testing.T) {
		// A frame over the bound, then bytes that read as frames.
		b := binary.LittleEndian.AppendUint32(nil, 3)
		b = append(b, "abc"...)
		b = binary.LittleEndian.AppendUint32(b, maxFrame+13)
		b = append(b, framePlain(t, []byte("not the state"))...)
		pr := NewPlainReader(bytes.NewReader(b))
		got, err := io.ReadAll(pr)
		require.ErrorIs(t, err, ErrDamaged)
		require.Equal(t, "abc", string(got))
		got, err = io.ReadAll(pr)
		assert.ErrorIs(t, err, ErrDamaged, "Read after an error")
		assert.Empty(t, got, "Read after an error")
	})
}

// TestSectionShredded destroys a key, fresh or after it sealed: neither
// a SectionWriter nor a SectionReader is made with it, and the section
// it sealed can still be skipped.
func TestSectionShredded(t *testing.T) {
	for _, used := range []bool{false, true} {
		t.Run(fmt.Sprintf("used=%v", used), func(t *testing.T) {
			k := NewKey(testTag("acme"))
			var section []byte
			if used {
				section = sealSection(t, k, gen.Random(95, 80<<10))
			} else {
				// A section naming k that another key sealed: it is
				// only skipped.
				section = sealSection(t, NewKey(k.Tag), gen.Random(95, 80<<10))
				copy(section[17:25], k.ID[:])
			}
			k.Destroy()

			var b bytes.Buffer
			w, err := NewSectionWriter(&b, k)
			var shredded *ShreddedError
			require.ErrorAs(t, err, &shredded, "NewSectionWriter")
			assert.Nil(t, w)
			assert.Equal(t, k.Tag, shredded.Tag)
			assert.Equal(t, k.ID, shredded.Key)
			assert.Zero(t, b.Len(), "NewSectionWriter wrote with a destroyed key")

			r := bytes.NewReader(append(bytes.Clone(section), "next"...))
			tag, id, _, err := ReadSectionHeader(r)
			require.NoError(t, err)
			sr, err := NewSectionReader(r, tag, id, k)
			require.ErrorAs(t, err, &shredded, "NewSectionReader")
			assert.Nil(t, sr)
			assert.Equal(t, k.ID, shredded.Key)

			sr, err = NewSectionReader(r, tag, id, nil)
			require.NoError(t, err)
			require.NoError(t, sr.Skip(), "skipping the shredded tenant's section")
			assert.Equal(t, "next", rest(r))
		})
	}
}

var errInjected = errors.New("injected write error")

// failWriter fails its Write number fail (from 0) and writes the others
// to w.
type failWriter struct {
	w       io.Writer
	n, fail int
}

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	if f.n-1 == f.fail {
		return 0, errInjected
	}
	return f.w.Write(p)
}

// TestWriterErrors fails the writers' underlying Write at call 0, 1, 2…
// until the workload succeeds: every error reaches the caller, and once
// the workload succeeds it reads back.
func TestWriterErrors(t *testing.T) {
	k := NewKey(testTag("acme"))
	state := gen.Random(99, 200<<10)
	for name, write := range map[string]func(w io.Writer) error{
		"section": func(w io.Writer) error {
			sw, err := NewSectionWriter(w, k)
			if err != nil {
				return err
			}
			if err := writeIn(sw, state, rand.New(rand.NewPCG(1, 1)), 50<<10); err != nil {
				return err
			}
			return sw.Close()
		},
		"plain": func(w io.Writer) error {
			pw := NewPlainWriter(w)
			if err := writeIn(pw, state, rand.New(rand.NewPCG(1, 1)), 150<<10); err != nil {
				return err
			}
			return pw.Close()
		},
	} {
		t.Run(name, func(t *testing.T) {
			for fail := 0; ; fail++ {
				require.Less(t, fail, 1000, "the workload never succeeds")
				var b bytes.Buffer
				fw := &failWriter{w: &b, fail: fail}
				err := write(fw)
				if fw.n <= fail {
					require.NoError(t, err, "no write failed")
					var got []byte
					if name == "section" {
						got, err = readSection(bytes.NewReader(b.Bytes()), k)
					} else {
						got, err = io.ReadAll(NewPlainReader(bytes.NewReader(b.Bytes())))
					}
					require.NoError(t, err)
					require.True(t, bytes.Equal(state, got))
					t.Logf("%d writes", fail)
					return
				}
				require.ErrorIs(t, err, errInjected, "write %d failed", fail)
			}
		})
	}
}

// TestSectionWriterClosed closes a SectionWriter twice and writes to it
// after: the section ends once, as one Close ends it, and reads back.
// (The end's MAC is summed once; a second end would follow the first.)
func TestSectionWriterClosed(t *testing.T) {
	k := NewKey(testTag("acme"))
	state := gen.Random(98, 20<<10)
	var b bytes.Buffer
	w, err := NewSectionWriter(&b, k)
	require.NoError(t, err)
	_, err = w.Write(state)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "a second Close")
	n, err := w.Write([]byte("more"))
	assert.Error(t, err, "Write after Close")
	assert.Zero(t, n, "Write after Close")
	require.NoError(t, w.Close(), "Close after a Write after Close")
	assert.Equal(t, sealSection(t, k, state), b.Bytes())

	// A Close that failed fails again, and writes nothing.
	fw := &failWriter{w: &bytes.Buffer{}, fail: 2} // header, frame, end
	w, err = NewSectionWriter(fw, k)
	require.NoError(t, err)
	_, err = w.Write([]byte("small"))
	require.NoError(t, err)
	require.ErrorIs(t, w.Close(), errInjected)
	require.ErrorIs(t, w.Close(), errInjected, "a second Close")
	assert.Equal(t, 3, fw.n, "writes")
}

// BenchmarkSectionWriter seals a state in writes of one size; a single
// Write of the whole state costs what small ones do.
func BenchmarkSectionWriter(b *testing.B) {
	k := NewKey(testTag("acme"))
	for _, size := range []int{1 << 20, 16 << 20} {
		state := gen.Random(1, size)
		for _, write := range []int{4 << 10, size} {
			b.Run(fmt.Sprintf("size=%dMiB/write=%dKiB", size>>20, write>>10), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					w, err := NewSectionWriter(io.Discard, k)
					if err != nil {
						b.Fatal(err)
					}
					for d := state; len(d) > 0; d = d[min(write, len(d)):] {
						if _, err := w.Write(d[:min(write, len(d))]); err != nil {
							b.Fatal(err)
						}
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkSectionReader(b *testing.B) {
	k := NewKey(testTag("acme"))
	for _, size := range []int{1 << 20, 16 << 20} {
		section := sealSection(b, k, gen.Random(1, size))
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readSection(bytes.NewReader(section), k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
