//go:build linux && (amd64 || arm64)

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// canEvict says whether evictTree works on this platform.
const canEvict = true

// posixFadvDontneed is POSIX_FADV_DONTNEED on Linux.
const posixFadvDontneed = 4

// evictTree writes back and drops from the page cache every file under
// dir (fdatasync, then posix_fadvise DONTNEED), so that the next read
// comes from the disk. Only this program's files are touched, and not
// localblob's temporary area (localblobTmp): it holds an open bucket's
// lock file and, between writes, nothing that is ever read.
func evictTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && d.Name() == localblobTmp {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a temporary file renamed meanwhile
			}
			return err
		}
		defer f.Close()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("fdatasync %s: %w", p, err)
		}
		if _, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, posixFadvDontneed, 0, 0); e != 0 {
			return fmt.Errorf("fadvise %s: %w", p, e)
		}
		return nil
	})
}
