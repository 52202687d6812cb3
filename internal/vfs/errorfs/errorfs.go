package errorfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/continuity-go/continuity/internal/vfs"
)

// ErrInjected is a generic injected error for tests that do not care which
// errno a fault carries.
var ErrInjected = errors.New("errorfs: injected error")

// OpKind names an FS or File method.
type OpKind int

// The kinds of operation an Injector is asked about, one per FS and File
// method. Kinds added later go at the end, so that the values stay stable.
const (
	OpCreate OpKind = iota
	OpOpen
	OpOpenReadWrite
	OpRemove
	OpRename
	OpMkdirAll
	OpList
	OpSyncDir
	OpLock
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpSize
	OpClose
	OpLink
	OpStat
)

var opNames = [...]string{
	OpCreate:        "create",
	OpOpen:          "open",
	OpOpenReadWrite: "open-read-write",
	OpRemove:        "remove",
	OpRename:        "rename",
	OpMkdirAll:      "mkdir-all",
	OpList:          "list",
	OpSyncDir:       "sync-dir",
	OpLock:          "lock",
	OpRead:          "read",
	OpWrite:         "write",
	OpSync:          "sync",
	OpTruncate:      "truncate",
	OpSize:          "size",
	OpClose:         "close",
	OpLink:          "link",
	OpStat:          "stat",
}

// String returns the kind's lowercase name, such as "sync-dir"; it is the
// Op field of the *os.PathError carrying an injected error.
func (k OpKind) String() string {
	if k >= 0 && int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op describes one operation about to be performed.
type Op struct {
	// Kind is the method called.
	Kind OpKind
	// Path is the name the FS method was given, or the name the File was
	// opened with; for OpRename and OpLink it is the old name.
	Path string
	// Offset is the byte offset of an OpRead or OpWrite, or the new size of
	// an OpTruncate; zero otherwise.
	Offset int64
	// Len is the number of bytes of an OpRead or OpWrite; zero otherwise.
	Len int
}

// Injector decides which operations fail.
type Injector interface {
	// MaybeError returns nil to let op proceed, or the error it fails with.
	// It may be called from several goroutines at once if the FS is used
	// concurrently.
	MaybeError(op Op) error
}

// InjectorFunc adapts a function to the Injector interface.
type InjectorFunc func(Op) error

// MaybeError returns f(op).
func (f InjectorFunc) MaybeError(op Op) error { return f(op) }

// PartialWrite, returned by an Injector for an OpWrite, makes the write
// store its first N bytes (all of them if N >= len(p), none if N <= 0) and
// then fail with Err. For other kinds it is an ordinary error.
type PartialWrite struct {
	// N is the number of bytes really written.
	N int
	// Err is the error the write returns after them.
	Err error
}

// Partial returns a *PartialWrite of n bytes failing with err, or with
// io.ErrShortWrite if err is nil.
func Partial(n int, err error) error {
	if err == nil {
		err = io.ErrShortWrite
	}
	return &PartialWrite{N: n, Err: err}
}

// Error describes the short write and its cause.
func (p *PartialWrite) Error() string {
	return fmt.Sprintf("partial write of %d bytes: %v", p.N, p.Err)
}

// Unwrap returns p.Err.
func (p *PartialWrite) Unwrap() error { return p.Err }

// Counter is an Injector that fails only the n-th operation of one kind.
// It is safe for concurrent use.
type Counter struct {
	kind  OpKind
	n     int64
	err   error
	count atomic.Int64
	fired atomic.Bool
}

// Nth returns a Counter that fails the n-th (0-based) operation of the given
// kind with err and lets every other operation through.
func Nth(kind OpKind, n int, err error) *Counter {
	return &Counter{kind: kind, n: int64(n), err: err}
}

// MaybeError counts op if it is of the Counter's kind and returns the
// Counter's error if it is the n-th such op.
func (c *Counter) MaybeError(op Op) error {
	if op.Kind != c.kind {
		return nil
	}
	if c.count.Add(1)-1 == c.n {
		c.fired.Store(true)
		return c.err
	}
	return nil
}

// Count reports how many operations of the Counter's kind it has seen.
func (c *Counter) Count() int { return int(c.count.Load()) }

// Fired reports whether the Counter has failed an operation.
func (c *Counter) Fired() bool { return c.fired.Load() }

// OnPath returns an Injector that fails with err every operation for which
// match returns true. match must be safe for concurrent use if the FS is
// used concurrently.
func OnPath(match func(Op) bool, err error) Injector {
	return InjectorFunc(func(op Op) error {
		if match(op) {
			return err
		}
		return nil
	})
}

// Any returns an Injector that asks injs in order and returns the first
// non-nil error; the injectors after it are not asked about that op.
func Any(injs ...Injector) Injector {
	return InjectorFunc(func(op Op) error {
		for _, inj := range injs {
			if err := inj.MaybeError(op); err != nil {
				return err
			}
		}
		return nil
	})
}

// Wrap returns an FS that asks inj before every call to fs or to a File it
// opened, and fails the call with the injected error, wrapped in an
// *os.PathError, instead of performing it. Two calls are exceptions: a
// *PartialWrite for an OpWrite writes a prefix first, and an injected
// OpClose error still closes the underlying File (close(2) releases the
// descriptor even when it fails), so a failed Close must not be retried.
// Closing the io.Closer returned by Lock is not injected.
func Wrap(fs vfs.FS, inj Injector) vfs.FS {
	return &errorFS{fs: fs, inj: inj}
}

type errorFS struct {
	fs  vfs.FS
	inj Injector
}

var _ vfs.FS = (*errorFS)(nil)

// maybe asks inj about op and wraps its answer.
func maybe(inj Injector, op Op) error {
	if err := inj.MaybeError(op); err != nil {
		return &os.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
	}
	return nil
}

func (e *errorFS) open(kind OpKind, name string, open func(string) (vfs.File, error)) (vfs.File, error) {
	if err := maybe(e.inj, Op{Kind: kind, Path: name}); err != nil {
		return nil, err
	}
	f, err := open(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{f: f, name: name, inj: e.inj}, nil
}

func (e *errorFS) Create(name string) (vfs.File, error) {
	return e.open(OpCreate, name, e.fs.Create)
}

func (e *errorFS) Open(name string) (vfs.File, error) {
	return e.open(OpOpen, name, e.fs.Open)
}

func (e *errorFS) OpenReadWrite(name string) (vfs.File, error) {
	return e.open(OpOpenReadWrite, name, e.fs.OpenReadWrite)
}

func (e *errorFS) Remove(name string) error {
	if err := maybe(e.inj, Op{Kind: OpRemove, Path: name}); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

func (e *errorFS) Rename(oldname, newname string) error {
	if err := maybe(e.inj, Op{Kind: OpRename, Path: oldname}); err != nil {
		return err
	}
	return e.fs.Rename(oldname, newname)
}

func (e *errorFS) Link(oldname, newname string) error {
	if err := maybe(e.inj, Op{Kind: OpLink, Path: oldname}); err != nil {
		return err
	}
	return e.fs.Link(oldname, newname)
}

func (e *errorFS) Stat(name string) (fs.FileInfo, error) {
	if err := maybe(e.inj, Op{Kind: OpStat, Path: name}); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

func (e *errorFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := maybe(e.inj, Op{Kind: OpMkdirAll, Path: dir}); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir, perm)
}

func (e *errorFS) List(dir string) ([]string, error) {
	if err := maybe(e.inj, Op{Kind: OpList, Path: dir}); err != nil {
		return nil, err
	}
	return e.fs.List(dir)
}

func (e *errorFS) SyncDir(dir string) error {
	if err := maybe(e.inj, Op{Kind: OpSyncDir, Path: dir}); err != nil {
		return err
	}
	return e.fs.SyncDir(dir)
}

func (e *errorFS) Lock(name string) (io.Closer, error) {
	if err := maybe(e.inj, Op{Kind: OpLock, Path: name}); err != nil {
		return nil, err
	}
	return e.fs.Lock(name)
}

type errorFile struct {
	f    vfs.File
	name string
	inj  Injector
}

var _ vfs.File = (*errorFile)(nil)

func (e *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := maybe(e.inj, Op{Kind: OpRead, Path: e.name, Offset: off, Len: len(p)}); err != nil {
		return 0, err
	}
	return e.f.ReadAt(p, off)
}

func (e *errorFile) WriteAt(p []byte, off int64) (int, error) {
	op := Op{Kind: OpWrite, Path: e.name, Offset: off, Len: len(p)}
	err := e.inj.MaybeError(op)
	if err == nil {
		return e.f.WriteAt(p, off)
	}
	var pw *PartialWrite
	if !errors.As(err, &pw) {
		return 0, &os.PathError{Op: op.Kind.String(), Path: e.name, Err: err}
	}
	werr := pw.Err
	if werr == nil {
		werr = io.ErrShortWrite
	}
	n := min(max(pw.N, 0), len(p))
	if n > 0 {
		if n, err := e.f.WriteAt(p[:n], off); err != nil {
			return n, err
		}
	}
	return n, &os.PathError{Op: op.Kind.String(), Path: e.name, Err: werr}
}

func (e *errorFile) Sync() error {
	if err := maybe(e.inj, Op{Kind: OpSync, Path: e.name}); err != nil {
		return err
	}
	return e.f.Sync()
}

func (e *errorFile) Truncate(size int64) error {
	if err := maybe(e.inj, Op{Kind: OpTruncate, Path: e.name, Offset: size}); err != nil {
		return err
	}
	return e.f.Truncate(size)
}

func (e *errorFile) Size() (int64, error) {
	if err := maybe(e.inj, Op{Kind: OpSize, Path: e.name}); err != nil {
		return 0, err
	}
	return e.f.Size()
}

func (e *errorFile) Close() error {
	if err := maybe(e.inj, Op{Kind: OpClose, Path: e.name}); err != nil {
		_ = e.f.Close() // the injected error is the one reported
		return err
	}
	return e.f.Close()
}
