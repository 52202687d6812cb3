//go:build soak

package failover

// faultSchedules under -tags soak.
const faultSchedules = 500
