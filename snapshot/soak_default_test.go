//go:build !soak

package snapshot

// crashSweepRounds is how many differently seeded states TestCrashSweep
// sweeps; -tags soak raises it.
const crashSweepRounds = 1
