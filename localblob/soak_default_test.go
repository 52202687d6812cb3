//go:build !soak

package localblob

// killRounds is how many times TestKilledProcess kills its child; -tags
// soak raises it.
const killRounds = 20

// crashRounds is how many workloads TestPowerLoss crashes; -tags soak
// raises it.
const crashRounds = 3
