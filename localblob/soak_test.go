//go:build soak

package localblob

// Under -tags soak the crash tests run for minutes:
//
//	go test -tags soak -run 'KilledProcess|PowerLoss|Model' ./localblob/ -rapid.checks=2000
const (
	killRounds  = 200
	crashRounds = 100
)
