package gen

// Random returns n incompressible bytes determined by seed. It panics if n
// is negative.
func Random(seed uint64, n int) []byte {
	b := make([]byte, n)
	newRNG(seed).fill(b)
	return b
}
