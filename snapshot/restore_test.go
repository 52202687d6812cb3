package snapshot

import (
	"bytes"
	"context"
	"crypto/cipher"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

// TestAppendPiece: a piece that follows the last in memory extends it,
// any other is a piece of its own, and the pieces always spell the
// plaintext in order.
func TestAppendPiece(t *testing.T) {
	buf := []byte("0123456789abcdefghij")
	other := []byte("XYZ")
	cases := []struct {
		name   string
		add    [][]byte
		pieces int
	}{
		{"adjacent in one buffer", [][]byte{buf[0:4], buf[4:9], buf[9:20]}, 1},
		{"a gap between them (a tag)", [][]byte{buf[0:4], buf[6:9], buf[9:12]}, 2},
		{"another buffer between", [][]byte{buf[0:4], other, buf[4:8]}, 3},
		{"an empty chunk", [][]byte{buf[0:4], buf[4:4], buf[4:8]}, 1},
		{"only empty chunks", [][]byte{buf[3:3], other[:0]}, 0},
		{"the same bytes again", [][]byte{buf[0:4], buf[0:4]}, 2},
	}
	for _, c := range cases {
		var pieces [][]byte
		var want []byte
		for _, p := range c.add {
			pieces = appendPiece(pieces, p)
			want = append(want, p...)
		}
		if got := bytes.Join(pieces, nil); !bytes.Equal(got, want) || len(pieces) != c.pieces {
			t.Errorf("%s: %d pieces spelling %q, want %d spelling %q", c.name, len(pieces), got, c.pieces, want)
		}
	}
}

// alteringAEAD opens as the AEAD it wraps, then flips a bit of the
// plaintext and reports success: what a change of a mapped pack between
// AES-GCM's tag check and its decryption pass would give.
type alteringAEAD struct{ cipher.AEAD }

func (a alteringAEAD) Open(dst, nonce, sealed, ad []byte) ([]byte, error) {
	out, err := a.AEAD.Open(dst, nonce, sealed, ad)
	if err == nil && len(out) > len(dst) {
		out[len(dst)] ^= 1
	}
	return out, err
}

// TestOpenLentChunkChecksWhatItKeeps: a lent chunk whose decryption gives
// other bytes than were authenticated, raw or compressed, fails as
// corrupt (the keyed ID over the plaintext); opened as it is, it gives
// the chunk.
func TestOpenLentChunkChecksWhatItKeeps(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"events", "random"} {
		t.Run(kind, func(t *testing.T) {
			r := initRepo(t, memBucket(t), testFormat)
			data := gen.Random(7, 256<<10)
			if kind == "events" {
				data = gen.Events(7, 256<<10)
			}
			m, _ := save(t, r, data)
			var first blobID
			stop := errors.New("first chunk")
			err := r.newTreeReader(m).walk(ctx, func(id blobID) error { first = id; return stop }, func() error { return nil })
			require.ErrorIs(t, err, stop)
			loc, p, ok := r.locate(first)
			require.True(t, ok)
			wantCodec := codecLZ4
			if kind == "random" {
				wantCodec = codecRaw
			}
			require.Equal(t, wantCodec, loc.codec, "the chunk's codec")
			sealed, err := readRange(ctx, r.bucket, p.name(), int64(loc.off), int64(loc.length), nil)
			require.NoError(t, err)
			var dec decompressor
			defer dec.close()
			h := r.kr().newHasher()
			pr, err := r.kr().newPackReader(p)
			require.NoError(t, err)

			plain, _, _, err := r.openLentChunk(pr, &dec, h, loc.blobEntry, sealed, sealed, nil, nil)
			require.NoError(t, err)
			require.Equal(t, data[:len(plain)], plain)

			pr.aead = alteringAEAD{pr.aead}
			_, _, _, err = r.openLentChunk(pr, &dec, h, loc.blobEntry, sealed, sealed, nil, nil)
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}
}
