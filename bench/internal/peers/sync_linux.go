package peers

import (
	"os"
	"syscall"
)

// fdatasync is fdatasync(2), as continuity's WAL and etcd's use it.
func fdatasync(f *os.File) error {
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
