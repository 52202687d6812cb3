// Package gen generates deterministic data for tests and benchmarks.
//
// Every function takes a seed and returns the same bytes for the same
// arguments on every machine, operating system and Go version: the
// generator is splitmix64, written here, and never math/rand, whose streams
// may change between releases. Golden files in other packages (chunk
// boundaries, for one) depend on these bytes, so changing what a function
// returns for a given seed is a format change for them; gen_test.go pins
// the outputs with digests for that reason.
//
// Two kinds of data cover the cases that matter for a snapshot store:
//
//   - Random: incompressible bytes, the worst case for compression and the
//     textbook case for content-defined chunking.
//   - Events: JSON lines that look like the state of an event-sourced
//     application (orders, carts, payments), repetitive enough that lz4
//     compresses them 3.5 to 3.8 times and zstd about 5.4 times.
//
// Edit and InsertBytes derive a modified copy of some data, to measure how
// much of a previous snapshot a new one can reuse.
//
// All functions are safe for concurrent use; they never modify their input.
//
// Usage:
//
//	state := gen.Events(1, 64<<20)           // 64 MiB of event JSON lines
//	next := gen.Edit(2, state, 100, 64)       // 100 small edits of 1..64 bytes
//	shifted := gen.InsertBytes(3, state, 100) // 100 single-byte insertions
package gen
