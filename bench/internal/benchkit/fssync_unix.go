//go:build unix

package benchkit

import "syscall"

// SyncFileSystems asks the kernel to write back every file system's
// dirty data (sync(2)) and returns once it has, so that what one timed
// run wrote is not written back during the next.
func SyncFileSystems() { syscall.Sync() }
