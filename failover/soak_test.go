//go:build soak

package failover

// faultSchedules under -tags soak.
const faultSchedules = 500

// historySchedules under -tags soak.
const historySchedules = 100
