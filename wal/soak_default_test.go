//go:build !soak

package wal

// Rounds of the randomized crash tests in a normal run. Build with
// -tags soak for long runs (see README, "Tests").
const (
	killRounds      = 20
	powerLossRounds = 30
)
