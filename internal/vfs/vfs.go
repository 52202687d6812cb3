// Package vfs is the file-system seam of continuity's storage packages.
//
// The wal and snapshot packages never call the os package for their data
// files: they go through an FS, so tests can substitute a file system that
// forgets unsynced writes (NewMem + CrashClone) or one that injects faults
// (package errorfs). Default is the operating system's file system.
//
// The interfaces are deliberately small. Paths are operating-system paths
// (filepath semantics); implementations need not support relative paths
// beyond what the os package does.
//
// # Durability contract
//
// Data written to a File is durable only after File.Sync returns nil.
// A newly created, renamed or removed directory entry is durable only after
// FS.SyncDir on its parent directory returns nil. Callers that need a file
// to survive a power loss therefore Sync the file and then SyncDir its
// directory, as package wal does for every segment it creates or removes.
// A name made by FS.Link is such an entry too.
package vfs

import (
	"io"
	"io/fs"
	"os"
)

// File is an open file. ReadAt and WriteAt must be safe to call from several
// goroutines at once on the same File, as they are for *os.File; Sync,
// Truncate and Close must not run concurrently with other calls on the same
// File.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer

	// Sync makes all data written to the file so far durable. On Linux it
	// is fdatasync(2): file data and the metadata needed to read it back
	// (such as its size), but not timestamps. A failed Sync leaves the
	// file's durable state unknown; callers must not retry it and report
	// success (see the wal package's fail-closed rule).
	Sync() error

	// Truncate changes the size of the file.
	Truncate(size int64) error

	// Size reports the current size of the file in bytes.
	Size() (int64, error)
}

// FS is a file system.
type FS interface {
	// Create creates the named file for reading and writing, readable and
	// writable by its owner only (mode 0600). It fails if the file already
	// exists (O_EXCL), so a caller never silently reuses bytes it did not
	// write.
	Create(name string) (File, error)

	// Open opens the named file for reading only.
	Open(name string) (File, error)

	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)

	// Remove removes the named file. Open handles to it stay readable
	// until they are closed, as on POSIX systems.
	Remove(name string) error

	// Rename atomically renames oldname to newname, replacing newname if
	// it exists.
	Rename(oldname, newname string) error

	// Link makes newname a second name of the file oldname, as link(2)
	// does: atomically, and only if newname does not exist (a file or a
	// directory), else it fails with an *os.LinkError wrapping
	// fs.ErrExist. It is how a file is published under a name at most
	// once. Like any new entry, newname is durable after SyncDir of its
	// directory.
	Link(oldname, newname string) error

	// Stat describes the named file or directory: its size in bytes, its
	// modification time and whether it is a directory.
	Stat(name string) (fs.FileInfo, error)

	// MkdirAll creates a directory and any missing parents with mode perm
	// (before the umask); existing directories keep their mode.
	MkdirAll(dir string, perm os.FileMode) error

	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)

	// SyncDir makes the directory's entries (creates, renames, removes)
	// durable.
	SyncDir(dir string) error

	// Lock takes an exclusive advisory lock on the named file, creating it
	// (mode 0600) if needed, so that two processes cannot open the same directory at
	// once. The lock is released by closing the returned io.Closer or when
	// the process exits. A lock already held returns an error wrapping
	// ErrLocked.
	Lock(name string) (io.Closer, error)
}
