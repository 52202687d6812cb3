package cdc

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

// FuzzCut chunks arbitrary data with arbitrary valid params and checks that
// Cut does not panic, agrees with the reference rule, and keeps the chunk
// invariants.
func FuzzCut(f *testing.F) {
	f.Add([]byte{}, uint16(0), uint8(0), uint16(0), byte(0))
	f.Add(make([]byte, 3000), uint16(10), uint8(1), uint16(500), byte(1))
	f.Add(gen.Random(1, 4096), uint16(100), uint8(2), uint16(1000), byte(2))
	f.Add(gen.Events(1, 4096), uint16(300), uint8(3), uint16(2000), byte(3))
	f.Add(bytes.Repeat([]byte("ab"), 2000), uint16(63), uint8(0), uint16(64), byte(4))
	f.Fuzz(func(t *testing.T, data []byte, minRaw uint16, avgShift uint8, maxRaw uint16, seed byte) {
		avg := MinAvg << (avgShift % 6)
		p := Params{
			Min: 1 + int(minRaw)%(avg-1),
			Avg: avg,
			Max: avg + 1 + int(maxRaw)%(4*avg),
		}
		tab := NewTable([32]byte{seed})
		c, err := New(p, tab)
		require.NoError(t, err, "params %+v", p)
		var total int
		for d := data; len(d) > 0; {
			n := c.Cut(d)
			require.Equal(t, cutRef(p, tab, d), n, "params %+v, offset %d: Cut against the reference", p, total)
			require.True(t, n >= 1 && n <= p.Max && (n >= p.Min || n == len(d)), "params %+v, offset %d: chunk of %d bytes (%d left)", p, total, n, len(d))
			total += n
			d = d[n:]
		}
		require.Equal(t, len(data), total, "bytes the chunks cover")
	})
}
