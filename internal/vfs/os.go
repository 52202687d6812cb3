package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// FileMode is the mode of every file this package creates: data written
// through it (WAL segments, archive objects) is plaintext, so only its
// owner may read it. The umask can only remove bits from it.
const FileMode os.FileMode = 0o600

// DirMode is the mode callers give MkdirAll for the directories that hold
// such files, for the same reason.
const DirMode os.FileMode = 0o700

// Default returns the operating system's file system.
func Default() FS { return osFS{} }

type osFS struct{}

var _ FS = osFS{}

type osFile struct{ *os.File }

var _ File = osFile{}

func (f osFile) Sync() error { return datasync(f.File) }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) Link(oldname, newname string) error          { return os.Link(oldname, newname) }
func (osFS) Stat(name string) (fs.FileInfo, error)       { return os.Stat(name) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	// A directory is synced with fsync, not fdatasync: the entries are
	// its data, but some file systems only commit them with the inode.
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// processLocks tracks the lock files this process holds: flock(2) locks
// belong to open file descriptions, so a second open in the same process
// would otherwise be granted a second, independent lock.
var processLocks sync.Map

func (osFS) Lock(name string) (io.Closer, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, err
	}
	if _, held := processLocks.LoadOrStore(abs, struct{}{}); held {
		return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, FileMode)
	if err != nil {
		processLocks.Delete(abs)
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		processLocks.Delete(abs)
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return &osLock{f: f, abs: abs}, nil
}

type osLock struct {
	once sync.Once
	f    *os.File
	abs  string
	err  error
}

func (l *osLock) Close() error {
	l.once.Do(func() {
		l.err = l.f.Close() // closing the descriptor releases the flock
		processLocks.Delete(l.abs)
	})
	return l.err
}
