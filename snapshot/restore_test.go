package snapshot

import (
	"bytes"
	"testing"
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
