package tenant

import "sync/atomic"

// Sealer numbers one process's seals within its current generation.
// The root package gives it a generation (Start) once the generation's
// record is durable, and takes a new one when its epoch changes or the
// process restarts (a new Sealer). Safe for concurrent use, and
// lock-free: every AppendTenant of every writer takes a number.
type Sealer struct {
	cur atomic.Pointer[sealGeneration]
}

// sealGeneration is a generation and the next seal's number in it.
type sealGeneration struct {
	gen  Generation
	next atomic.Uint64
}

// maxSeals bounds a generation's numbers, far below where the counter
// could wrap: past it, Next wants a new generation.
const maxSeals = 1 << 63

// Start makes g the generation of later seals, numbered from 0. g must
// name a KindGeneration record that is durable, which no writer has
// used before: see the package doc.
func (s *Sealer) Start(g Generation) { s.cur.Store(&sealGeneration{gen: g}) }

// Ready reports whether the sealer has a generation in epoch.
func (s *Sealer) Ready(epoch uint64) bool {
	cur := s.cur.Load()
	return cur != nil && cur.gen.Epoch == epoch
}

// Next returns the generation and counter of the next seal in epoch, or
// false when the sealer has no generation of that epoch (Start one).
func (s *Sealer) Next(epoch uint64) (Generation, uint64, bool) {
	cur := s.cur.Load()
	if cur == nil || cur.gen.Epoch != epoch {
		return Generation{}, 0, false
	}
	c := cur.next.Add(1) - 1
	if c >= maxSeals {
		s.cur.CompareAndSwap(cur, nil) // the next seal takes a new generation
		return Generation{}, 0, false
	}
	return cur.gen, c, true
}
