//go:build !unix

package vfs

import "os"

// lockFile is a no-op where flock(2) does not exist; the in-process lock
// table in Lock still prevents two opens within one process.
func lockFile(*os.File) error { return nil }

func datasync(f *os.File) error { return f.Sync() }
