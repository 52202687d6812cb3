package testkit

import (
	"io/fs"
	"path/filepath"
	"runtime"
	"testing"
)

// AssertPrivate walks the tree under root, root included, and fails t for
// every file or directory whose mode lets its group or others in (any bit
// of 0077): what continuity writes locally is plaintext. Symbolic links
// are not followed (their own mode means nothing). It returns how many
// entries it checked, so a test can tell that the tree was not empty. On
// Windows, which has no such bits, it checks nothing.
func AssertPrivate(t testing.TB, root string) int {
	t.Helper()
	if runtime.GOOS == "windows" {
		return 0
	}
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s: mode %04o, want no group or other bits", path, uint32(perm))
		}
		return nil
	})
	if err != nil {
		t.Errorf("walk %s: %v", root, err)
	}
	return n
}
