package gen

import "math/bits"

// rng is splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom
// number generators", OOPSLA 2014). It is small, passes BigCrush, and,
// being written here, gives the same stream everywhere forever.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{s: seed} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n) for n > 0 by Lemire's multiply-shift;
// the tiny bias (below n/2^64) does not matter for test data.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// skewed returns a number in [0, n) where small numbers are much more
// likely than large ones (roughly 1/x), like the popularity of tenants,
// users or products.
func (r *rng) skewed(n int) int {
	return r.intn(r.intn(n) + 1)
}

// fill fills b with random bytes.
func (r *rng) fill(b []byte) {
	for len(b) >= 8 {
		v := r.next()
		b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		b[4], b[5], b[6], b[7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
		b = b[8:]
	}
	if len(b) > 0 {
		v := r.next()
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
	}
}
