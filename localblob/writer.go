package localblob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"gocloud.dev/blob/driver"

	"github.com/continuity-go/continuity/internal/vfs"
)

// NewTypedWriter implements driver.Bucket. The object appears, durably,
// when Close returns nil (see the package doc); until then readers see
// the previous object, if any. contentType is not stored. Options that
// ask to store other attributes fail here with ErrNotSupported.
func (b *bucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	rel, _, err := b.objectPath(key)
	if err != nil {
		return nil, err
	}
	if err := unstored(opts); err != nil {
		return nil, &keyError{op: "write", key: key, err: err}
	}
	if b.readOnly != nil {
		return nil, &keyError{op: "write", key: key, err: b.readOnly}
	}
	t, err := b.newTemp()
	if err != nil {
		return nil, &keyError{op: "write", key: key, err: err}
	}
	if opts.BeforeWrite != nil {
		if err := opts.BeforeWrite(noAs); err != nil {
			t.abort()
			return nil, err
		}
	}
	return &writer{ctx: ctx, key: key, rel: rel, ifNotExist: opts.IfNotExist, t: t}, nil
}

// unstored reports the attributes of opts this driver would have to store
// beside the object, which it does not do.
func unstored(opts *driver.WriterOptions) error {
	var names []string
	for _, a := range []struct{ name, value string }{
		{"CacheControl", opts.CacheControl},
		{"ContentDisposition", opts.ContentDisposition},
		{"ContentEncoding", opts.ContentEncoding},
		{"ContentLanguage", opts.ContentLanguage},
	} {
		if a.value != "" {
			names = append(names, a.name)
		}
	}
	if len(opts.Metadata) > 0 {
		names = append(names, "Metadata")
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s cannot be stored as durably as the object, so it is refused rather than lost",
		ErrNotSupported, strings.Join(names, ", "))
}

// writer writes an object through a temporary file.
type writer struct {
	ctx        context.Context
	key, rel   string
	ifNotExist bool
	t          *tempFile // nil once closed
	err        error     // the first error; the write then fails
}

// Write appends p to the temporary file.
func (w *writer) Write(p []byte) (int, error) {
	if w.t == nil {
		return 0, fmt.Errorf("localblob: write %s: writer closed", quoteKey(w.key))
	}
	if w.err == nil {
		w.err = w.ctx.Err()
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.t.write(p)
	if err != nil {
		w.err = &keyError{op: "write", key: w.key, err: err}
	}
	return n, w.err
}

// Close publishes the object, or, if the context is done or a Write
// failed, removes the temporary file and returns why.
func (w *writer) Close() error {
	t := w.t
	if t == nil {
		return fmt.Errorf("localblob: write %s: writer closed", quoteKey(w.key))
	}
	w.t = nil
	if w.err == nil {
		w.err = w.ctx.Err()
	}
	if w.err != nil {
		t.abort()
		return w.err
	}
	return t.publish(w.key, w.rel, w.ifNotExist)
}

// tempFile is a file in the temporary area on its way to a key. It holds a
// reference on the bucket until it is published or aborted.
type tempFile struct {
	b    *bucket
	name string   // absolute path
	f    vfs.File // nil once closed
	off  int64
}

// newTemp creates a temporary file.
func (b *bucket) newTemp() (*tempFile, error) {
	if b.readOnly != nil {
		return nil, b.readOnly
	}
	b.acquire()
	name := filepath.Join(b.tmpDir, fmt.Sprintf("%s-%016x%s", b.id, b.seq.Add(1), tmpExt))
	f, err := b.fs.Create(name)
	if err != nil {
		b.release()
		return nil, err
	}
	return &tempFile{b: b, name: name, f: f}, nil
}

// write appends p.
func (t *tempFile) write(p []byte) (int, error) {
	n, err := t.f.WriteAt(p, t.off)
	t.off += int64(n)
	return n, err
}

// abort closes and removes the temporary file. A removal that fails
// leaves the file to the cleanup of a later OpenBucket.
func (t *tempFile) abort() {
	if t.f != nil {
		_ = t.f.Close()
		t.f = nil
	}
	_ = t.b.fs.Remove(t.name)
	t.b.release()
}

// publish makes the temporary file the object at rel (key's path): fsync,
// move (link(2) if ifNotExist, else rename(2)), fsync the directories. On
// any error it removes the temporary file; the object may then be in
// place but not durable.
func (t *tempFile) publish(key, rel string, ifNotExist bool) (err error) {
	b := t.b
	defer func() {
		if err != nil {
			t.abort()
		}
	}()
	if err := t.f.Sync(); err != nil {
		return &keyError{op: "write", key: key, err: fmt.Errorf("sync: %w", err)}
	}
	err = t.f.Close()
	t.f = nil
	if err != nil {
		return &keyError{op: "write", key: key, err: err}
	}
	dirRel := parentRel(rel)
	if err := b.mkdirKey(dirRel); err != nil {
		return &keyError{op: "write", key: key, err: err}
	}
	dst := b.abs(rel)
	if ifNotExist {
		err = b.fs.Link(t.name, dst)
	} else {
		err = b.fs.Rename(t.name, dst)
	}
	switch {
	case err == nil:
	case ifNotExist && errors.Is(err, fs.ErrExist):
		if fi, serr := b.fs.Stat(dst); serr == nil && fi.IsDir() {
			return &keyError{op: "write", key: key, err: fmt.Errorf("%w: %s is a directory", ErrKeyConflict, dst)}
		}
		return &keyError{op: "write", key: key, err: fmt.Errorf("%w (IfNotExist)", ErrExists)}
	case errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, fs.ErrExist):
		return &keyError{op: "write", key: key, err: fmt.Errorf("%w: %s is a directory", ErrKeyConflict, dst)}
	default:
		return &keyError{op: "write", key: key, err: err}
	}
	if err := b.syncDirs(dirRel); err != nil {
		return &keyError{op: "write", key: key, err: fmt.Errorf("sync directory: %w", err)}
	}
	if ifNotExist {
		// The object has its own name now; a temporary name left behind
		// (if the removal fails) goes with a later cleanup.
		_ = b.fs.Remove(t.name)
	}
	b.release()
	return nil
}

// parentRel returns the directory of a relative path, "" at the top.
func parentRel(rel string) string {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return ""
	}
	return rel[:i]
}

// mkdirKey creates the directory dirRel for a key. An object in the way
// is ErrKeyConflict. It never makes the bucket's own directory again: one
// that went away (an unmounted disk, a removed copy) fails the write
// instead of growing afresh where it was.
func (b *bucket) mkdirKey(dirRel string) error {
	if dirRel == "" {
		return nil
	}
	if _, err := b.fs.Stat(b.dir); err != nil {
		return fmt.Errorf("the bucket's directory %s is gone: %w", b.dir, err)
	}
	err := b.fs.MkdirAll(b.abs(dirRel), b.opts.DirPerm)
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: an object lies on the path %s: %v", ErrKeyConflict, dirRel, err)
	}
	return err
}

// syncDirs fsyncs the directory dirRel, for the entry just made in it, and
// the parent of each directory on the way up that this bucket has not
// synced yet, so that the directories themselves survive too: one of them
// may have just been made, by this writer or by a concurrent one that has
// not synced it yet.
func (b *bucket) syncDirs(dirRel string) error {
	if err := b.fs.SyncDir(b.abs(dirRel)); err != nil {
		return err
	}
	for d := dirRel; d != ""; d = parentRel(d) {
		if _, ok := b.durable.Load(d); ok {
			continue
		}
		if err := b.fs.SyncDir(b.abs(parentRel(d))); err != nil {
			return err
		}
		b.durable.Store(d, struct{}{})
	}
	return nil
}
