package localblob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/internal/blobview"
	"github.com/continuity-go/continuity/internal/vfs"
)

// Names in the temporary area (part of the on-disk layout): a bucket's
// lock is <id>.lock, its temporary files <id>-<n>.tmp, with id 16 and n
// 16 lowercase hex digits.
const (
	idLen   = 16
	lockExt = ".lock"
	tmpExt  = ".tmp"
)

// sniffLen is how many leading bytes http.DetectContentType looks at.
const sniffLen = 512

// bucket is the driver. See the package doc for what it guarantees.
type bucket struct {
	fs     vfs.FS
	dir    string // absolute, cleaned
	tmpDir string
	opts   Options

	// readOnly, if not nil, is why the bucket cannot write (it wraps
	// ErrReadOnly); then it holds no lock and refs is unused.
	readOnly error

	id   string    // names this bucket's lock and temporary files
	lock io.Closer // on tmpDir/<id>.lock
	seq  atomic.Uint64
	// refs counts the bucket itself (until Close) and each temporary file
	// not yet published or removed; the lock goes with the last of them.
	refs      atomic.Int64
	closeOnce sync.Once

	// durable holds the directories (relative, "/"-separated) whose entry
	// in their parent this bucket has synced. Directories are never
	// removed, so an entry stays true.
	durable sync.Map
}

var _ driver.Bucket = (*bucket)(nil)

// OpenBucket opens the directory dir as a bucket, creating it (and its
// parents, with Options.DirPerm) if it does not exist, and removes the
// temporary files of earlier buckets on dir that are no longer open. opts
// may be nil. A directory the process may not write opens read-only:
// reads and listings work, writes fail with ErrReadOnly.
//
// Close the bucket when done; it holds a lock file open until then.
func OpenBucket(dir string, opts *Options) (*blob.Bucket, error) {
	b, err := openBucket(dir, opts)
	if err != nil {
		return nil, err
	}
	return blob.NewBucket(b), nil
}

func openBucket(dir string, opts *Options) (*bucket, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("localblob: open %s: %w", dir, err)
	}
	b := &bucket{fs: o.fs, dir: abs, tmpDir: filepath.Join(abs, tmpDirName), opts: o}
	if err := b.mkdirDurable(); err != nil {
		return nil, fmt.Errorf("localblob: open %s: %w", abs, err)
	}
	if err := b.openTmp(); err != nil {
		return nil, fmt.Errorf("localblob: open %s: %w", abs, err)
	}
	return b, nil
}

// isReadOnly reports whether err says that the directory cannot be
// written.
func isReadOnly(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// mkdirDurable creates the bucket's directory if needed and makes its entry
// (and those of any parents it creates) durable.
func (b *bucket) mkdirDurable() error {
	var missing []string
	for d := b.dir; ; d = filepath.Dir(d) {
		fi, err := b.fs.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			return err
		}
		missing = append(missing, d)
	}
	if len(missing) == 0 {
		// An existing directory may itself be new and unsynced (fileblob
		// never syncs); one fsync of its parent per open settles that. A
		// parent we may not read leaves it as it is: then the directory is
		// older than us.
		if err := b.fs.SyncDir(filepath.Dir(b.dir)); err != nil && !isReadOnly(err) {
			return err
		}
		return nil
	}
	if err := b.fs.MkdirAll(b.dir, b.opts.DirPerm); err != nil {
		return err
	}
	for _, d := range missing {
		if err := b.fs.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// openTmp creates the temporary area, takes this bucket's lock in it and
// removes what dead buckets left there. A directory that cannot be
// written makes the bucket read-only instead.
func (b *bucket) openTmp() error {
	if err := b.fs.MkdirAll(b.tmpDir, b.opts.DirPerm); err != nil {
		if isReadOnly(err) {
			b.readOnly = fmt.Errorf("%w: %v", ErrReadOnly, err)
			return nil
		}
		return err
	}
	var raw [idLen / 2]byte
	rand.Read(raw[:])
	b.id = hex.EncodeToString(raw[:])
	lock, err := b.fs.Lock(filepath.Join(b.tmpDir, b.id+lockExt))
	if err != nil {
		if isReadOnly(err) {
			b.readOnly = fmt.Errorf("%w: %v", ErrReadOnly, err)
			return nil
		}
		return err
	}
	b.lock = lock
	b.refs.Store(1)
	n, err := b.cleanTmp()
	if err != nil {
		b.release()
		return fmt.Errorf("remove temporary files: %w", err)
	}
	if n > 0 {
		b.opts.Logger.With("component", "localblob", "dir", b.dir).Info("removed temporary files of writers that did not finish", "files", n)
	}
	return nil
}

// tmpOwner returns the id in a name of the temporary area, or false if the
// name is not one a bucket makes.
func tmpOwner(name string) (string, bool) {
	if len(name) < idLen || !isHex(name[:idLen]) {
		return "", false
	}
	id, rest := name[:idLen], name[idLen:]
	if rest == lockExt {
		return id, true
	}
	n, ok := strings.CutSuffix(rest, tmpExt)
	if ok && len(n) == 1+idLen && n[0] == '-' && isHex(n[1:]) {
		return id, true
	}
	return "", false
}

// cleanTmp removes the temporary files, and the lock file, of every other
// bucket whose lock it can take (one that is closed, or whose process
// died), and returns how many temporary files it removed. Names it does
// not recognise are left alone.
func (b *bucket) cleanTmp() (int, error) {
	names, err := b.fs.List(b.tmpDir)
	if err != nil {
		return 0, err
	}
	owned := map[string][]string{}
	for _, name := range names {
		if id, ok := tmpOwner(name); ok && id != b.id {
			owned[id] = append(owned[id], name)
		}
	}
	removed := 0
	for _, id := range slices.Sorted(maps.Keys(owned)) {
		lockName := filepath.Join(b.tmpDir, id+lockExt)
		l, err := b.fs.Lock(lockName)
		if errors.Is(err, vfs.ErrLocked) {
			continue // a live bucket: its files are in use
		}
		if err != nil {
			return removed, err
		}
		for _, name := range owned[id] {
			if strings.HasSuffix(name, lockExt) {
				continue
			}
			if err := b.fs.Remove(filepath.Join(b.tmpDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				l.Close()
				return removed, err
			}
			removed++
		}
		// Remove the lock file while holding it, so that no bucket takes
		// it in between and then finds its own files gone.
		err = b.fs.Remove(lockName)
		if cerr := l.Close(); err == nil {
			err = cerr
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
	}
	return removed, nil
}

// acquire counts a new temporary file against the bucket's lock.
func (b *bucket) acquire() { b.refs.Add(1) }

// release drops a reference; the last one removes the lock file and
// releases the lock, after which another bucket may clean up after this
// one. A lock file that cannot be removed is harmless: the next bucket
// to open the directory takes it and removes it.
func (b *bucket) release() {
	if b.refs.Add(-1) == 0 {
		_ = b.fs.Remove(filepath.Join(b.tmpDir, b.id+lockExt))
		_ = b.lock.Close()
	}
}

// Close releases the bucket. Writers still open keep working; the lock
// goes when the last of them is closed. It always returns nil.
func (b *bucket) Close() error {
	b.closeOnce.Do(func() {
		if b.readOnly == nil {
			b.release()
		}
	})
	return nil
}

// abs returns the absolute path of rel ("/"-separated, "" for the bucket's
// directory).
func (b *bucket) abs(rel string) string {
	if rel == "" {
		return b.dir
	}
	return filepath.Join(b.dir, filepath.FromSlash(rel))
}

// objectPath returns the relative and the absolute path of key's file.
func (b *bucket) objectPath(key string) (rel, abs string, err error) {
	rel, err = keyPath(key)
	if err != nil {
		return "", "", err
	}
	return rel, b.abs(rel), nil
}

// statObject describes key's file. A missing file, and a directory, are
// errNotFound errors.
func (b *bucket) statObject(key string) (abs string, fi fs.FileInfo, err error) {
	_, abs, err = b.objectPath(key)
	if err != nil {
		return "", nil, err
	}
	fi, err = b.fs.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return "", nil, notFound(key, err)
	case err != nil:
		return "", nil, &keyError{op: "stat", key: key, err: err}
	case !fi.Mode().IsRegular():
		return "", nil, notFound(key, nil) // a directory of other keys
	}
	return abs, fi, nil
}

// openObject opens key's file for reading.
func (b *bucket) openObject(key string) (vfs.File, fs.FileInfo, error) {
	abs, fi, err := b.statObject(key)
	if err != nil {
		return nil, nil, err
	}
	f, err := b.fs.Open(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, notFound(key, err) // deleted since the Stat
	}
	if err != nil {
		return nil, nil, &keyError{op: "open", key: key, err: err}
	}
	return f, fi, nil
}

// sniff returns the content type of the file's first bytes.
func sniff(f vfs.File) (string, error) {
	buf := make([]byte, sniffLen)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	return http.DetectContentType(buf[:n]), nil
}

// etag identifies a version of an object by its modification time and
// size, as fileblob does.
func etag(fi fs.FileInfo) string {
	return fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size())
}

// noAs is the asFunc of every Before* callback: this driver exposes no
// types of its own.
func noAs(any) bool { return false }

// ErrorCode implements driver.Bucket.
func (b *bucket) ErrorCode(err error) gcerrors.ErrorCode { return errorCode(err) }

// As implements driver.Bucket; there is nothing to convert to.
func (b *bucket) As(any) bool { return false }

// ErrorAs implements driver.Bucket: errors from the file system can be
// had as *os.PathError or *os.LinkError.
func (b *bucket) ErrorAs(err error, i any) bool { return errors.As(err, i) }

// Attributes implements driver.Bucket.
func (b *bucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	f, fi, err := b.openObject(key)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ct, err := sniff(f)
	if err != nil {
		return nil, &keyError{op: "read", key: key, err: err}
	}
	return &driver.Attributes{ContentType: ct, ModTime: fi.ModTime(), Size: fi.Size(), ETag: etag(fi)}, nil
}

// NewRangeReader implements driver.Bucket. A range that starts at or past
// the end reads no bytes.
func (b *bucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	f, fi, err := b.openObject(key)
	if err != nil {
		return nil, err
	}
	if opts.BeforeRead != nil {
		if err := opts.BeforeRead(noAs); err != nil {
			f.Close()
			return nil, err
		}
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, &keyError{op: "read", key: key, err: err}
	}
	ct, err := sniff(f)
	if err != nil {
		f.Close()
		return nil, &keyError{op: "read", key: key, err: err}
	}
	offset = min(offset, size)
	n := size - offset
	if length >= 0 {
		n = min(n, length)
	}
	return &reader{
		f:   f,
		r:   io.NewSectionReader(f, offset, n),
		off: offset, n: n,
		attrs: driver.ReaderAttributes{
			ContentType: ct, ModTime: fi.ModTime(), Size: size,
		},
	}, nil
}

// reader reads a range of an open object file.
type reader struct {
	f      vfs.File
	r      *io.SectionReader
	off, n int64  // the range
	region []byte // the range's mapping, if As made one
	attrs  driver.ReaderAttributes
}

// minViewBytes is the smallest range As maps: below it, mapping and
// unmapping cost more than the copy they save.
const minViewBytes = 128 << 10

func (r *reader) Read(p []byte) (int, error)           { return r.r.Read(p) }
func (r *reader) Attributes() *driver.ReaderAttributes { return &r.attrs }

// Close unmaps the range, if As mapped it, and closes the file.
func (r *reader) Close() error {
	var err error
	if r.region != nil {
		err = unmap(r.region)
		r.region = nil
	}
	return errors.Join(err, r.f.Close())
}

// As lends the range's bytes (a *blobview.View) where they can be mapped
// from the file: on Linux, for a range of at least 128 KiB not read yet.
// They stay valid until Close. Nothing else converts.
func (r *reader) As(i any) bool {
	v, ok := i.(*blobview.View)
	if !ok || r.n < minViewBytes {
		return false
	}
	if r.region == nil {
		if pos, err := r.r.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
			return false
		}
		view, region, ok := mapRange(r.f, r.off, r.n)
		if !ok {
			return false
		}
		r.region = region
		v.Bytes = view
		return true
	}
	v.Bytes = r.region[len(r.region)-int(r.n):]
	return true
}

// SignedURL implements driver.Bucket: there is no server to sign for.
func (b *bucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", fmt.Errorf("%w: signed URLs", ErrNotSupported)
}

// Delete implements driver.Bucket: it removes key's file (and a fileblob
// attribute file beside it) and fsyncs the directory before it returns.
func (b *bucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	abs, _, err := b.statObject(key)
	if err != nil {
		return err
	}
	if b.readOnly != nil {
		return &keyError{op: "delete", key: key, err: b.readOnly}
	}
	if opts.BeforeDelete != nil {
		if err := opts.BeforeDelete(noAs); err != nil {
			return err
		}
	}
	if err := b.fs.Remove(abs); errors.Is(err, fs.ErrNotExist) {
		return notFound(key, err)
	} else if err != nil {
		return &keyError{op: "delete", key: key, err: err}
	}
	// fileblob's attribute file would be stale; one left behind (if the
	// removal fails) is harmless, as it is never listed.
	_ = b.fs.Remove(abs + sidecarExt)
	if err := b.fs.SyncDir(filepath.Dir(abs)); err != nil {
		return &keyError{op: "delete", key: key, err: fmt.Errorf("sync directory: %w", err)}
	}
	return nil
}

// Copy implements driver.Bucket: it writes a copy of srcKey's bytes to
// dstKey, replacing it, as durably as a Writer.
func (b *bucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	dstRel, _, err := b.objectPath(dstKey)
	if err != nil {
		return err
	}
	src, _, err := b.openObject(srcKey)
	if err != nil {
		return err
	}
	defer src.Close()
	if b.readOnly != nil {
		return &keyError{op: "copy to", key: dstKey, err: b.readOnly}
	}
	if opts.BeforeCopy != nil {
		if err := opts.BeforeCopy(noAs); err != nil {
			return err
		}
	}
	t, err := b.newTemp()
	if err != nil {
		return &keyError{op: "copy to", key: dstKey, err: err}
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		if err := ctx.Err(); err != nil {
			t.abort()
			return err
		}
		n, rerr := src.ReadAt(buf, off)
		if n > 0 {
			if _, err := t.write(buf[:n]); err != nil {
				t.abort()
				return &keyError{op: "copy to", key: dstKey, err: err}
			}
			off += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			t.abort()
			return &keyError{op: "copy from", key: srcKey, err: rerr}
		}
	}
	return t.publish(dstKey, dstRel, false)
}
