//go:build !soak

package continuity

// Tenants of TestTenantsAtScale in a normal run; -tags soak runs the
// issue's 10,000 (see README, "Tests").
const scaleTenants = 1000
