package peers

import "math/rand/v2"

// Payload returns size bytes from a PCG generator seeded with seed: the
// same bytes for the same arguments on every machine, and incompressible,
// so that no layer can shortcut zeros.
func Payload(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x636f6e74696e7569)) // "continui"
	p := make([]byte, size)
	for i := 0; i < len(p); i += 8 {
		v := rng.Uint64()
		for j := i; j < min(i+8, len(p)); j++ {
			p[j] = byte(v)
			v >>= 8
		}
	}
	return p
}
