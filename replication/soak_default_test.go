//go:build !soak

package replication

// faultSeeds is how many seeded fault schedules TestStreamUnderFaults
// runs; -tags soak raises it.
const faultSeeds = 3
