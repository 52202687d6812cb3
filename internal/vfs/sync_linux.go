package vfs

import (
	"os"
	"syscall"
)

// datasync is fdatasync(2): it skips the timestamp update that fsync(2)
// would commit, which on a preallocated file leaves no metadata to journal.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
