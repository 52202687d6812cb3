package vfs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MemFS is an in-memory FS for tests that can simulate a power loss. It is
// safe for concurrent use; File methods are safe to call concurrently too.
//
// Paths are cleaned with filepath.Clean and are relative to the root "/";
// directories are real, so a file can only be created in a directory made
// with MkdirAll. Modification times come from the wall clock. Errors are
// *os.PathError and *os.LinkError values carrying the same errno the os
// package would report (syscall.ENOENT, EEXIST, …), so
// errors.Is(err, fs.ErrNotExist) and friends work as they do on disk.
//
// # Crash model
//
// Every file keeps its current bytes and its durable bytes, copied by
// File.Sync, plus the writes made since that Sync. Every directory keeps its
// current entries and its durable entries, copied by SyncDir on that
// directory; directories made by MkdirAll are durable entries of their parent
// at once. A name made by Link is an entry like any other: durable after
// SyncDir. CrashClone and CrashCloneTorn build the file system a power loss
// would leave behind; the original stays usable.
type MemFS struct {
	mu    sync.Mutex
	root  *memNode
	locks map[string]bool // cleaned paths held by Lock
}

var _ FS = (*MemFS)(nil)

// memNode is a file or a directory. All fields are guarded by MemFS.mu.
type memNode struct {
	dir   bool
	mtime time.Time // last change of the contents

	// Directories: current and durable entries.
	children, durable map[string]*memNode

	// Files: current bytes, durable bytes, and writes since the last Sync.
	data, synced []byte
	pending      []memWrite
}

type memWrite struct {
	off  int64
	data []byte
}

// NewMem returns an empty MemFS holding only the root directory "/".
func NewMem() *MemFS {
	return &MemFS{root: newMemDir(), locks: map[string]bool{}}
}

func newMemDir() *memNode {
	return &memNode{dir: true, mtime: time.Now(), children: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// memClean returns name as a cleaned, slash-separated path rooted at "/".
func memClean(name string) string {
	return filepath.ToSlash(filepath.Clean(string(filepath.Separator) + name))
}

// lookup resolves name. It returns the parent directory (nil for the root),
// the base name, and the node, which is nil if the parent exists but has no
// such entry. err is ENOENT or ENOTDIR when the parent cannot be resolved.
func (m *MemFS) lookup(name string) (dir *memNode, base string, n *memNode, err error) {
	p := memClean(name)
	if p == "/" {
		return nil, "", m.root, nil
	}
	parts := strings.Split(p[1:], "/")
	dir = m.root
	for _, part := range parts[:len(parts)-1] {
		c, ok := dir.children[part]
		if !ok {
			return nil, "", nil, syscall.ENOENT
		}
		if !c.dir {
			return nil, "", nil, syscall.ENOTDIR
		}
		dir = c
	}
	base = parts[len(parts)-1]
	return dir, base, dir.children[base], nil
}

// lookupFile resolves name to an existing file.
func (m *MemFS) lookupFile(name string) (*memNode, error) {
	_, _, n, err := m.lookup(name)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		return nil, syscall.ENOENT
	case n.dir:
		return nil, syscall.EISDIR
	}
	return n, nil
}

func pathErr(op, name string, err error) error {
	return &os.PathError{Op: op, Path: name, Err: err}
}

// Create creates the named file for reading and writing; it fails with
// fs.ErrExist if the name exists and fs.ErrNotExist if its directory does not.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, n, err := m.lookup(name)
	if err == nil && n != nil {
		err = syscall.EEXIST
	}
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	n = &memNode{mtime: time.Now()}
	dir.children[base] = n
	return &memFile{m: m, n: n, name: name, writable: true}, nil
}

// Open opens the named file for reading only. Unlike the os package it
// refuses to open a directory (syscall.EISDIR).
func (m *MemFS) Open(name string) (File, error) { return m.open(name, false) }

// OpenReadWrite opens an existing file for reading and writing.
func (m *MemFS) OpenReadWrite(name string) (File, error) { return m.open(name, true) }

func (m *MemFS) open(name string, writable bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupFile(name)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return &memFile{m: m, n: n, name: name, writable: writable}, nil
}

// Remove removes the named file or empty directory. Open handles to a
// removed file stay readable and writable.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, n, err := m.lookup(name)
	switch {
	case err != nil:
	case n == nil:
		err = syscall.ENOENT
	case dir == nil:
		err = syscall.EBUSY
	case n.dir && len(n.children) > 0:
		err = syscall.ENOTEMPTY
	}
	if err != nil {
		return pathErr("remove", name, err)
	}
	delete(dir.children, base)
	return nil
}

// Rename atomically renames oldname to newname, replacing newname if it
// exists, with the rules of rename(2) for directories.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	odir, obase, on, err := m.lookup(oldname)
	if err == nil && on == nil {
		err = syscall.ENOENT
	}
	var ndir, nn *memNode
	var nbase string
	if err == nil {
		ndir, nbase, nn, err = m.lookup(newname)
	}
	switch {
	case err != nil:
	case odir == nil || ndir == nil:
		err = syscall.EBUSY
	case on.dir && strings.HasPrefix(memClean(newname), memClean(oldname)+"/"):
		err = syscall.EINVAL
	case nn == nil || nn == on:
	case nn.dir && !on.dir:
		err = syscall.EISDIR
	case !nn.dir && on.dir:
		err = syscall.ENOTDIR
	case nn.dir && len(nn.children) > 0:
		err = syscall.ENOTEMPTY
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	if nn == on {
		return nil // two links to one file (possible after a crash): rename(2) does nothing
	}
	delete(odir.children, obase)
	ndir.children[nbase] = on
	return nil
}

// Link makes newname a second name of the file oldname, with the rules of
// link(2): newname must not exist, and oldname must not be a directory
// (syscall.EPERM). The new entry is durable after SyncDir of its directory.
func (m *MemFS) Link(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, on, err := m.lookup(oldname)
	if err == nil && on == nil {
		err = syscall.ENOENT
	}
	var ndir, nn *memNode
	var nbase string
	if err == nil {
		ndir, nbase, nn, err = m.lookup(newname)
	}
	switch {
	case err != nil:
	case ndir == nil || nn != nil:
		err = syscall.EEXIST
	case on.dir:
		err = syscall.EPERM
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	ndir.children[nbase] = on
	return nil
}

// Stat describes the named file or directory.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, n, err := m.lookup(name)
	if err == nil && n == nil {
		err = syscall.ENOENT
	}
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return memInfo{name: path.Base(memClean(name)), size: int64(len(n.data)), dir: n.dir, mtime: n.mtime}, nil
}

// memInfo is the fs.FileInfo of a MemFS file or directory.
type memInfo struct {
	name  string
	size  int64
	dir   bool
	mtime time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mtime }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | DirMode
	}
	return FileMode
}

// MkdirAll creates a directory and any missing parents; perm is ignored:
// Stat reports every directory as DirMode and every file as FileMode.
// New directories are at once durable entries of their parents.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.root
	if p := memClean(dir); p != "/" {
		for _, part := range strings.Split(p[1:], "/") {
			c, ok := d.children[part]
			if !ok {
				c = newMemDir()
				d.children[part] = c
				d.durable[part] = c
			} else if !c.dir {
				return pathErr("mkdir", dir, syscall.ENOTDIR)
			}
			d = c
		}
	}
	return nil
}

func (m *MemFS) lookupDir(dir string) (*memNode, error) {
	_, _, n, err := m.lookup(dir)
	switch {
	case err != nil:
		return nil, err
	case n == nil:
		return nil, syscall.ENOENT
	case !n.dir:
		return nil, syscall.ENOTDIR
	}
	return n, nil
}

// List returns the sorted names of the files and directories in dir.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupDir(dir)
	if err != nil {
		return nil, pathErr("open", dir, err)
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// SyncDir makes the current entries of dir its durable entries.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupDir(dir)
	if err != nil {
		return pathErr("open", dir, err)
	}
	n.durable = maps.Clone(n.children)
	return nil
}

// Lock takes an in-memory exclusive lock on the cleaned path name, creating
// the file if it does not exist. A second Lock while it is held returns an
// error wrapping ErrLocked. Closing the returned io.Closer releases the lock;
// closing it again is a no-op.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := memClean(name)
	if m.locks[key] {
		return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
	}
	dir, base, n, err := m.lookup(name)
	if err == nil && n != nil && n.dir {
		err = syscall.EISDIR
	}
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if n == nil {
		dir.children[base] = &memNode{}
	}
	m.locks[key] = true
	return &memLock{m: m, key: key}, nil
}

type memLock struct {
	once sync.Once
	m    *MemFS
	key  string
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.m.mu.Lock()
		delete(l.m.locks, l.key)
		l.m.mu.Unlock()
	})
	return nil
}

// ReadFile returns a copy of the current contents of the named file.
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookupFile(name)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return bytes.Clone(n.data), nil
}

// WriteFile creates the named file or replaces its contents with a copy of
// data, and marks both the contents and the directory entry durable, as if
// the file had been synced and its directory too. Handles already open on
// the file see the new contents. The directory must exist.
func (m *MemFS) WriteFile(name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, n, err := m.lookup(name)
	if err == nil && (dir == nil || n != nil && n.dir) {
		err = syscall.EISDIR
	}
	if err != nil {
		return pathErr("open", name, err)
	}
	if n == nil {
		n = &memNode{}
		dir.children[base] = n
	}
	n.data, n.synced, n.pending = bytes.Clone(data), bytes.Clone(data), nil
	n.mtime = time.Now()
	dir.durable[base] = n
	return nil
}

// CrashClone returns a new, independent MemFS holding what a power loss at
// this moment would keep: each directory's entries as of its last SyncDir
// and each surviving file's bytes as of its last Sync (a file never synced
// is empty). Open handles and locks are not carried over. A file reachable
// under two durable names (a rename whose old directory was never synced)
// becomes one file with two names, like a hard link.
func (m *MemFS) CrashClone() *MemFS {
	return m.CrashCloneTorn(func(string, int64, int) bool { return false })
}

// CrashCloneTorn is like CrashClone, but models a crash that persisted some
// unsynced writes and not others: each write made to a file since its last
// Sync is re-applied, in order, on top of its durable bytes if keep returns
// true for it. keep gets the file's path in the clone, the write's offset and
// its length in bytes; it is called with the MemFS locked and must not use
// it. Unsynced Truncate calls are always lost.
func (m *MemFS) CrashCloneTorn(keep func(name string, off int64, n int) bool) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := crashCloner{keep: keep, seen: map[*memNode]*memNode{}}
	return &MemFS{root: c.clone("/", m.root), locks: map[string]bool{}}
}

type crashCloner struct {
	keep func(name string, off int64, n int) bool
	seen map[*memNode]*memNode // shared nodes stay shared; cycles end
}

func (c *crashCloner) clone(name string, n *memNode) *memNode {
	if cn, ok := c.seen[n]; ok {
		return cn
	}
	// The clone keeps the modification time, although a power loss may
	// lose its update (fdatasync does not commit it).
	cn := &memNode{dir: n.dir, mtime: n.mtime}
	c.seen[n] = cn
	if n.dir {
		cn.children = make(map[string]*memNode, len(n.durable))
		// Sorted, so that keep sees the files in a deterministic order.
		for _, base := range slices.Sorted(maps.Keys(n.durable)) {
			cn.children[base] = c.clone(path.Join(name, base), n.durable[base])
		}
		cn.durable = maps.Clone(cn.children)
		return cn
	}
	cn.data = bytes.Clone(n.synced)
	for _, w := range n.pending {
		if c.keep(name, w.off, len(w.data)) {
			cn.data = resize(cn.data, max(len(cn.data), int(w.off)+len(w.data)))
			copy(cn.data[w.off:], w.data)
		}
	}
	cn.synced = bytes.Clone(cn.data)
	return cn
}

// resize returns b with length n, zero-filling any growth.
func resize(b []byte, n int) []byte {
	if n <= len(b) {
		return b[:n]
	}
	old := len(b)
	b = slices.Grow(b, n-old)[:n]
	clear(b[old:])
	return b
}

// memFile is an open MemFS file. closed is guarded by m.mu.
type memFile struct {
	m        *MemFS
	n        *memNode
	name     string
	writable bool
	closed   bool
}

var _ File = (*memFile)(nil)

// check reports whether op may proceed. The caller holds m.mu.
func (f *memFile) check(op string, write bool) error {
	if f.closed {
		return pathErr(op, f.name, fs.ErrClosed)
	}
	if write && !f.writable {
		return pathErr(op, f.name, syscall.EBADF)
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("readat", f.name, syscall.EINVAL)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, pathErr("writeat", f.name, syscall.EINVAL)
	}
	if len(p) == 0 {
		return 0, nil // pwrite(2) of nothing does not extend the file
	}
	end := int(off) + len(p)
	f.n.data = resize(f.n.data, max(len(f.n.data), end))
	copy(f.n.data[off:], p)
	f.n.pending = append(f.n.pending, memWrite{off: off, data: bytes.Clone(p)})
	f.n.mtime = time.Now()
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, syscall.EINVAL)
	}
	f.n.data = resize(f.n.data, int(size))
	f.n.mtime = time.Now()
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Sync() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.n.synced, f.n.pending = bytes.Clone(f.n.data), nil
	return nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("close", false); err != nil {
		return err
	}
	f.closed = true
	return nil
}
