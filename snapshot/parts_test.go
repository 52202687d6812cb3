package snapshot

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// saveParts saves parts through Pipe, one EndPart after each.
func saveParts(t *testing.T, r *Repo, parts [][]byte) (Manifest, Stats) {
	t.Helper()
	pr, pw := Pipe()
	go func() {
		for _, p := range parts {
			for len(p) > 0 { // in uneven writes, as a state machine writes
				n := min(len(p), 1000+len(p)%7777)
				if _, err := pw.Write(p[:n]); err != nil {
					pw.CloseWithError(err)
					return
				}
				p = p[n:]
			}
			if err := pw.EndPart(); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(nil)
	}()
	m, st, err := r.Save(t.Context(), pr, Meta{})
	pr.CloseWithError(errors.New("save ended"))
	require.NoError(t, err)
	return m, st
}

// TestSaveParts: each part is chunked as a stream of its own, so changing
// one part of many stores about that part's bytes, and the snapshot
// restores as the parts concatenated.
func TestSaveParts(t *testing.T) {
	r := initRepo(t, memBucket(t), testFormat)
	rng := rand.New(rand.NewPCG(3, 4))
	parts := make([][]byte, 40)
	for i := range parts {
		parts[i] = make([]byte, 500+rng.IntN(20<<10)) // some below ChunkMin
		for j := range parts[i] {
			parts[i][j] = byte(rng.Uint32())
		}
	}
	parts[7] = nil // an empty part
	m1, _ := saveParts(t, r, parts)
	assert.Equal(t, bytes.Join(parts, nil), restore(t, r, m1.ID))

	changed := bytes.Clone(parts[20])
	changed[len(changed)/2] ^= 1
	parts[20] = changed
	m2, st := saveParts(t, r, parts)
	assert.Equal(t, bytes.Join(parts, nil), restore(t, r, m2.ID))
	assert.LessOrEqual(t, st.NewBytes, int64(len(changed)), "a change in one part stored %d new bytes; the part has %d", st.NewBytes, len(changed))
	assert.Positive(t, st.NewBytes)

}

// TestPipe: ErrPartEnd where each part ends, then the writer's close.
func TestPipe(t *testing.T) {
	pr, pw := Pipe()
	go func() {
		pw.Write([]byte("ab"))
		pw.EndPart()
		pw.EndPart()
		pw.Write([]byte("c"))
		pw.CloseWithError(nil)
	}()
	var got []string
	buf := make([]byte, 1)
	for {
		n, err := pr.Read(buf)
		if errors.Is(err, ErrPartEnd) {
			got = append(got, "|")
			continue
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, string(buf[:n]))
	}
	assert.Equal(t, []string{"a", "b", "|", "|", "c"}, got)

	pr, pw = Pipe()
	pr.CloseWithError(errors.New("stop"))
	_, err := pw.Write([]byte("x"))
	assert.ErrorContains(t, err, "stop")
}
