//go:build soak

package continuity

// Tenants of TestTenantsAtScale under -tags soak.
const scaleTenants = 10000
