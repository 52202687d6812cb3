//go:build !unix

package benchkit

import "time"

// CPUTime returns 0: the process's CPU time is not measured here.
func CPUTime() time.Duration { return 0 }
