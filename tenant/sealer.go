package tenant

import "sync"

// Sealer numbers one process's seals within its current generation.
// The root package gives it a generation (Start) once the generation's
// record is durable, and takes a new one when its epoch changes or the
// process restarts (a new Sealer). Safe for concurrent use.
type Sealer struct {
	mu      sync.Mutex
	gen     Generation
	started bool
	counter uint64
}

// Start makes g the generation of later seals, numbered from 0. g must
// name a KindGeneration record that is durable, which no writer has
// used before: see the package doc.
func (s *Sealer) Start(g Generation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen, s.started = g, true
	s.counter = 0
}

// Next returns the generation and counter of the next seal in epoch, or
// false when the sealer has no generation of that epoch (Start one).
func (s *Sealer) Next(epoch uint64) (Generation, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.gen.Epoch != epoch {
		return Generation{}, 0, false
	}
	c := s.counter
	s.counter++
	if c == ^uint64(0) {
		s.started = false // never wraps: the next seal takes a new generation
		return Generation{}, 0, false
	}
	return s.gen, c, true
}
