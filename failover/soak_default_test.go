//go:build !soak

package failover

// faultSchedules is how many seeded fault schedules
// TestFailoverUnderFaults runs; -tags soak raises it.
const faultSchedules = 50

// historySchedules is how many seeded schedules TestHistory runs.
const historySchedules = 8
