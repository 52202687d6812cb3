package localblob

import (
	"os"
	"syscall"

	"github.com/continuity-go/continuity/internal/vfs"
)

// mapRange maps n bytes of f from off read-only, and returns them and the
// whole mapping (to unmap), or ok false where f is no file of the
// operating system or the map fails: the caller then reads as usual.
func mapRange(f vfs.File, off, n int64) (view, region []byte, ok bool) {
	fd, isOS := f.(interface{ Fd() uintptr })
	if !isOS {
		return nil, nil, false
	}
	page := int64(os.Getpagesize())
	start := off / page * page
	region, err := syscall.Mmap(int(fd.Fd()), start, int(off-start+n), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, false
	}
	return region[off-start:], region, true
}

func unmap(region []byte) error { return syscall.Munmap(region) }
