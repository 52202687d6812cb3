package cdc

import "math/bits"

// window is the number of bytes the gear hash at a position depends on:
// h = h<<1 + gear[b] shifts each byte's contribution out after 64 steps.
// It is part of the on-disk format.
const window = 64

// Chunker finds content-defined chunk boundaries with FastCDC's gear hash
// and normalized chunking; the package documentation defines the boundary
// exactly. A Chunker is immutable and safe for concurrent use by many
// goroutines.
type Chunker struct {
	min, avg, normal, max int
	// thrSmall and thrLarge are the hash thresholds up to and past the
	// normal size: h < thr means the top bits of h selected by the mask
	// are all zero.
	thrSmall, thrLarge uint64
	gear               Table
}

// New returns a Chunker for p that uses a copy of the gear table t. It
// returns the error of p.Validate if p is invalid, and ErrNilTable if t is
// nil.
func New(p Params, t *Table) (*Chunker, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if t == nil {
		return nil, ErrNilTable
	}
	avgBits := bits.TrailingZeros(uint(p.Avg)) // log2(Avg)
	return &Chunker{
		min:      p.Min,
		avg:      p.Avg,
		normal:   normalSize(p),
		max:      p.Max,
		thrSmall: 1 << (64 - (avgBits + normalization)),
		thrLarge: 1 << (64 - (avgBits - normalization)),
		gear:     *t,
	}, nil
}

// normalization is FastCDC's normalization level: the mask up to the
// normal size has this many bits more than log2(Avg), the one past it this
// many fewer. It is part of the on-disk format.
const normalization = 2

// normalSize returns the chunk size at which the chunker switches from the
// strict to the loose mask. FastCDC switches at Avg, which makes the mean
// about 1.1 to 1.15 times Avg (the strict mask rarely fires, and the loose
// one adds Avg/4 on average); switching at Avg - Avg/8 - Min/4 instead
// brings the expected mean within 3% of Avg for any Min up to Avg/2. It is
// part of the on-disk format.
func normalSize(p Params) int {
	return max(p.Min, p.Avg-p.Avg/8-p.Min/4)
}

// Params returns the parameters c was made with.
func (c *Chunker) Params() Params {
	return Params{Min: c.min, Avg: c.avg, Max: c.max}
}

// Cut returns the length of the first chunk of data: the first length in
// [Min, Max) at which the boundary rule holds, or min(len(data), Max) when
// there is none. The caller must pass at least Max bytes unless the data ends
// within them (then the last chunk may be shorter than Min); Cut looks at
// no more than Max bytes. Cut does not allocate and does not retain data.
func (c *Chunker) Cut(data []byte) int {
	n := len(data)
	if n > c.max {
		n = c.max
	}
	if n <= c.min {
		return n
	}
	data = data[:n]
	g := &c.gear

	// Only the last window bytes before Min can affect the hash at Min,
	// so the bytes before them are skipped unhashed.
	var h uint64
	for _, b := range data[max(c.min-window, 0):c.min] {
		h = h<<1 + g[b]
	}
	if h < c.thrSmall {
		return c.min
	}
	pos := c.min
	norm := min(c.normal, n)
	k, h, found := roll(g, data[pos:norm], h, c.thrSmall)
	pos += k
	if found {
		return pos
	}
	// Found or not, the chunk ends where this roll stops: at the boundary
	// or at min(len(data), Max).
	k, _, _ = roll(g, data[pos:], h, c.thrLarge)
	return pos + k
}

// roll feeds the bytes of d into the gear hash h one at a time and checks
// h < thr after each. It returns the number of bytes fed up to and
// including the first one after which the check held (found is true), or
// len(d) with the final hash.
func roll(g *Table, d []byte, h, thr uint64) (n int, _ uint64, found bool) {
	gs := g[:]
	i := 0
	// Eight bytes per step, in two halves of four. Within a half, the
	// hashes after each byte are computed from h at the start of the half,
	// not from one another, so the loop-carried dependency is one shift
	// and one add per four bytes instead of per byte.
	for ; i <= len(d)-8; i += 8 {
		q := (*[8]byte)(d[i : i+8])
		g0, g1, g2, g3 := gs[q[0]], gs[q[1]], gs[q[2]], gs[q[3]]
		g4, g5, g6, g7 := gs[q[4]], gs[q[5]], gs[q[6]], gs[q[7]]
		// a, b, c and e, f, k are the contributions of the first two,
		// three and four bytes of each half, independent of h.
		a := g0<<1 + g1
		b := a<<1 + g2
		c := b<<1 + g3
		e := g4<<1 + g5
		f := e<<1 + g6
		k := f<<1 + g7
		if h<<1+g0 < thr {
			return i + 1, 0, true
		}
		if h<<2+a < thr {
			return i + 2, 0, true
		}
		if h<<3+b < thr {
			return i + 3, 0, true
		}
		h = h<<4 + c
		if h < thr {
			return i + 4, 0, true
		}
		if h<<1+g4 < thr {
			return i + 5, 0, true
		}
		if h<<2+e < thr {
			return i + 6, 0, true
		}
		if h<<3+f < thr {
			return i + 7, 0, true
		}
		h = h<<4 + k
		if h < thr {
			return i + 8, 0, true
		}
	}
	for j, b := range d[i:] {
		h = h<<1 + gs[b]
		if h < thr {
			return i + j + 1, 0, true
		}
	}
	return len(d), h, false
}
