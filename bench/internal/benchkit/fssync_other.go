//go:build !unix

package benchkit

// SyncFileSystems does nothing here: this system has no sync(2), and a
// run may pay for the write-back of the one before it.
func SyncFileSystems() {}
