package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// outFile is a restore's output file: written to a temporary file beside
// path (mode 0600, created exclusively), and only once everything is in
// it synced and renamed onto path, then the directory synced. A failed
// restore removes the temporary file and leaves path as it was.
type outFile struct {
	*os.File
	path string
}

// errOutExists: the target exists and -force was not given.
var errOutExists = errors.New("exists")

// createOut starts an output file for path. An existing path is refused
// unless force, and a symlink always (the restore would replace the link,
// not what it points to).
func createOut(path string, force bool) (*outFile, error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		return nil, usage(fmt.Errorf("%s is a symbolic link: give the path of a regular file", path))
	case err == nil && fi.IsDir():
		return nil, usage(fmt.Errorf("%s is a directory: give a file path", path))
	case err == nil && !force:
		return nil, usage(fmt.Errorf("%s %w: give --force to replace it, or another --out", path, errOutExists))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".restoring-*")
	if err != nil {
		return nil, fmt.Errorf("cannot write beside %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &outFile{File: f, path: path}, nil
}

// commit syncs the file and renames it onto its path.
func (o *outFile) commit() error {
	if err := o.Sync(); err != nil {
		o.abort()
		return fmt.Errorf("sync %s: %w", o.Name(), err)
	}
	if err := o.Close(); err != nil {
		o.abort()
		return err
	}
	// A symlink swapped in at path after createOut's Lstat is safe:
	// rename(2) replaces the link itself, never its target (the new
	// name is not followed), so the restore lands in a new regular file
	// of mode 0600 and what the link pointed to is untouched
	// (TestOutFileSymlinkSwapped). The temporary file cannot be a
	// planted link either: CreateTemp opens a random name with O_EXCL.
	if err := os.Rename(o.Name(), o.path); err != nil {
		o.abort()
		return err
	}
	d, err := os.Open(filepath.Dir(o.path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// abort removes the temporary file.
func (o *outFile) abort() {
	o.Close()
	os.Remove(o.Name())
}
