//go:build soak

package replication

// Under -tags soak, TestStreamUnderFaults runs 200 seeded schedules:
//
//	go test -tags soak -run StreamUnderFaults ./replication/
const faultSeeds = 200
