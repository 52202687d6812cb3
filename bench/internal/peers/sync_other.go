//go:build !linux

package peers

import "os"

// fdatasync falls back to fsync where fdatasync(2) is not available; raw
// numbers from such a platform are not comparable with Linux ones.
func fdatasync(f *os.File) error { return f.Sync() }
