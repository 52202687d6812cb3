//go:build soak

package wal

// Rounds of the randomized crash tests under -tags soak: minutes, not
// seconds. Not part of CI.
const (
	killRounds      = 500
	powerLossRounds = 2000
)
