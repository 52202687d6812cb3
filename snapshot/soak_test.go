//go:build soak

package snapshot

// Under -tags soak TestCrashSweep sweeps many seeded states (minutes).
// Run the rapid tests longer with -rapid.checks, e.g.
//
//	go test -tags soak -run 'CrashSweep|Model|Property' ./snapshot/ -rapid.checks=5000
const crashSweepRounds = 40
