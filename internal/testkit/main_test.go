package testkit_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the buckets Open hands out, the s3 one included,
// leave no goroutines behind, so that packages using goleak can use them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
