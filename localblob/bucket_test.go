package localblob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/memblob" // for Open's fallback to blob.OpenBucket
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/internal/vfs/errorfs"
)

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"zero", Options{}, ""},
		{"private", Options{DirPerm: 0o700}, ""},
		{"not permission bits", Options{DirPerm: os.ModeSticky | 0o755}, "beyond the permission bits"},
		{"owner cannot write", Options{DirPerm: 0o555}, "owner"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.opts.Validate()
			if c.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, c.want)
			_, err = OpenBucket(t.TempDir(), &c.opts)
			assert.ErrorContains(t, err, c.want, "OpenBucket validates")
		})
	}
}

func TestOpenBucketCreatesDirectories(t *testing.T) {
	ctx := t.Context()
	// The umask may clear bits, never add them.
	for _, c := range []struct {
		name string
		opts *Options
		want os.FileMode
	}{
		{"default", nil, 0o700},
		{"DirPerm", &Options{DirPerm: 0o750}, 0o750},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new", "bucket")
			b, err := OpenBucket(dir, c.opts)
			require.NoError(t, err)
			defer b.Close()
			require.NoError(t, b.WriteAll(ctx, "k/e/y", []byte("v"), nil))
			for _, d := range []string{dir, filepath.Join(dir, "k"), filepath.Join(dir, "k", "e")} {
				fi, err := os.Stat(d)
				require.NoError(t, err)
				assert.Zero(t, fi.Mode().Perm()&^c.want, "%s is %v", d, fi.Mode().Perm())
				assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm()&0o700, d)
			}
			// Every file, the temporary area's lock included, is the
			// owner's alone: DirPerm opens the directories only.
			files := 0
			require.NoError(t, filepath.WalkDir(filepath.Dir(dir), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				fi, err := d.Info()
				require.NoError(t, err)
				assert.Zero(t, fi.Mode().Perm()&^0o600, "%s is %v", p, fi.Mode().Perm())
				files++
				return nil
			}))
			assert.GreaterOrEqual(t, files, 1)
		})
	}
}

// captureHandler records log records.
type captureHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func TestOpenRemovesLeftovers(t *testing.T) {
	const dir = "/bucket"
	m := vfs.NewMem()
	live := openFS(t, m, dir)
	// A ContentType, so that blob does not hold the bytes back to sniff.
	w, err := live.NewWriter(t.Context(), "in/flight", &blob.WriterOptions{ContentType: "text/plain"})
	require.NoError(t, err)
	_, err = w.Write([]byte("unfinished"))
	require.NoError(t, err)

	tmp := path.Join(dir, tmpDirName)
	const dead = "00000000deadbeef"
	for _, name := range []string{
		dead + lockExt, dead + "-0000000000000001" + tmpExt, dead + "-0000000000000002" + tmpExt,
		"0123456789abcdef-0000000000000001" + tmpExt, // a dead bucket whose lock file is gone
		"notes.txt", // not a name a bucket makes
	} {
		require.NoError(t, m.WriteFile(path.Join(tmp, name), []byte("x")))
	}
	before, err := m.List(tmp)
	require.NoError(t, err)
	require.Len(t, before, 7, "the live bucket's lock and temporary file, and the planted names")

	logs := &captureHandler{}
	d, err := openBucket(dir, &Options{fs: m, Logger: slog.New(logs)})
	require.NoError(t, err)
	after, err := m.List(tmp)
	require.NoError(t, err)
	liveID := d.id
	var kept []string
	for _, name := range after {
		if !strings.HasPrefix(name, liveID) {
			kept = append(kept, name)
		}
	}
	assert.Len(t, kept, 3, "the live bucket's two names and notes.txt: %q", after)
	assert.Contains(t, after, "notes.txt")
	assert.NotContains(t, after, dead+lockExt)
	require.Len(t, logs.recs, 1)
	assert.Equal(t, slog.LevelInfo, logs.recs[0].Level)
	logs.recs[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "files" {
			assert.Equal(t, int64(3), a.Value.Int64())
		}
		return true
	})

	require.NoError(t, w.Close(), "the live bucket's write was spared")
	got, err := live.ReadAll(t.Context(), "in/flight")
	require.NoError(t, err)
	assert.Equal(t, "unfinished", string(got))
	require.NoError(t, d.Close())

	logs.recs = nil
	d, err = openBucket(dir, &Options{fs: m, Logger: slog.New(logs)})
	require.NoError(t, err)
	assert.Empty(t, logs.recs, "nothing to clean, nothing said")
	require.NoError(t, d.Close())
}

func TestLockOutlivesCloseWhileWriting(t *testing.T) {
	ctx := t.Context()
	const dir = "/bucket"
	m := vfs.NewMem()
	d1, err := openBucket(dir, &Options{fs: m})
	require.NoError(t, err)
	b1 := blob.NewBucket(d1)
	w, err := b1.NewWriter(ctx, "k", nil)
	require.NoError(t, err)
	_, err = w.Write([]byte("late"))
	require.NoError(t, err)
	require.NoError(t, b1.Close())

	b2 := openFS(t, m, dir) // must not take d1's temporary file away
	require.NoError(t, w.Close())
	got, err := b2.ReadAll(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "late", string(got))
	names, err := m.List(path.Join(dir, tmpDirName))
	require.NoError(t, err)
	assert.NotContains(t, names, d1.id+lockExt, "the last writer released the closed bucket's lock")
}

func TestAttributesAndReads(t *testing.T) {
	ctx := t.Context()
	b := openFS(t, vfs.Default(), t.TempDir())
	html := []byte("<!DOCTYPE html><html><body>hi</body></html>")
	require.NoError(t, b.WriteAll(ctx, "dir/page", html, &blob.WriterOptions{ContentType: "application/octet-stream"}))

	a, err := b.Attributes(ctx, "dir/page")
	require.NoError(t, err)
	assert.Equal(t, int64(len(html)), a.Size)
	assert.Equal(t, "text/html; charset=utf-8", a.ContentType, "sniffed, not stored")
	assert.False(t, a.ModTime.IsZero())
	assert.Regexp(t, `^"[0-9a-f]+-[0-9a-f]+"$`, a.ETag)
	assert.Nil(t, a.MD5)

	r, err := b.NewRangeReader(ctx, "dir/page", 2, 7, nil)
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	assert.Equal(t, html[2:9], got)
	assert.Equal(t, "text/html; charset=utf-8", r.ContentType())
	assert.Equal(t, a.ModTime, r.ModTime())

	require.NoError(t, b.WriteAll(ctx, "dir/page", []byte("other"), nil))
	a2, err := b.Attributes(ctx, "dir/page")
	require.NoError(t, err)
	assert.NotEqual(t, a.ETag, a2.ETag, "a new version has a new ETag")

	for _, key := range []string{"dir", "dir/", "nope", "dir/page/below"} {
		_, err := b.Attributes(ctx, key)
		assert.Equal(t, gcerrors.NotFound, gcerrors.Code(err), "%q: %v", key, err)
		assert.ErrorContains(t, err, key)
		assert.Equal(t, gcerrors.NotFound, gcerrors.Code(b.Delete(ctx, key)), "delete %q", key)
	}
}

func TestRefusesUnstoredAttributes(t *testing.T) {
	ctx := t.Context()
	m := vfs.NewMem()
	b := openFS(t, m, "/bucket")
	for _, opts := range []*blob.WriterOptions{
		{Metadata: map[string]string{"k": "v"}},
		{CacheControl: "no-cache"},
		{ContentDisposition: "inline"},
		{ContentEncoding: "gzip"},
		{ContentLanguage: "en"},
	} {
		// Without a ContentType blob calls the driver at the first Write
		// or at Close, after sniffing.
		err := b.WriteAll(ctx, "k", []byte("v"), opts)
		assert.ErrorIs(t, err, ErrNotSupported)
		assert.Equal(t, gcerrors.Unimplemented, gcerrors.Code(err), "%v", err)
		opts.ContentType = "text/plain"
		_, err = b.NewWriter(ctx, "k", opts)
		assert.ErrorIs(t, err, ErrNotSupported, "with a ContentType, NewWriter refuses")
	}
	names, err := m.List("/bucket/" + tmpDirName)
	require.NoError(t, err)
	assert.Len(t, names, 1, "no temporary file was made: %q", names)
	ok, err := b.Exists(ctx, "k")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestListEscapedBesideDirectory(t *testing.T) {
	ctx := t.Context()
	b := openFS(t, vfs.NewMem(), "/bucket")
	keys := []string{"x/", "x/y", "x//y", "x-", "x.attrs", "w"}
	for _, k := range keys {
		require.NoError(t, b.WriteAll(ctx, k, []byte(k), nil))
	}
	all, err := listAll(ctx, b, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"w", "x-", "x.attrs", "x/", "x//y", "x/y"}, all)
	for size := 1; size <= 4; size++ {
		var got []string
		token := blob.FirstPageToken
		for token != nil {
			var objs []*blob.ListObject
			objs, token, err = b.ListPage(ctx, token, size, &blob.ListOptions{Delimiter: "/"})
			require.NoError(t, err)
			for _, o := range objs {
				got = append(got, fmt.Sprintf("%s:%v", o.Key, o.IsDir))
			}
		}
		assert.Equal(t, []string{"w:false", "x-:false", "x.attrs:false", "x/:true"}, got, "page size %d", size)
	}
}

func TestListSkipsForeignFiles(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	// A directory fileblob wrote: objects with attribute files beside them.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data", "ab"), 0o755))
	for name, data := range map[string]string{
		"config":             "c",
		"config.attrs":       `{"user.content_type":"application/octet-stream"}`,
		"data/ab/cd":         "pack",
		"data/ab/cd.attrs":   "{}",
		"data/ab/__0xzz__":   "not an escaping of ours",
		"data/empty/.keep/x": "",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	require.NoError(t, os.Remove(filepath.Join(dir, "data", "empty", ".keep", "x")))
	b := openFS(t, vfs.Default(), dir)
	all, err := listAll(ctx, b, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"config", "data/ab/cd"}, all)

	var dirs []string
	it := b.List(&blob.ListOptions{Prefix: "data/", Delimiter: "/"})
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		dirs = append(dirs, o.Key)
	}
	assert.Equal(t, []string{"data/ab/"}, dirs, "a directory without objects is not listed")

	require.NoError(t, b.Delete(ctx, "data/ab/cd"))
	_, err = os.Stat(filepath.Join(dir, "data", "ab", "cd.attrs"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "the attribute file goes with its object")
	_, err = os.Stat(filepath.Join(dir, "data", "ab"))
	assert.NoError(t, err, "emptied directories stay")
}

func TestKeyConflicts(t *testing.T) {
	ctx := t.Context()
	b := openFS(t, vfs.Default(), t.TempDir())
	require.NoError(t, b.WriteAll(ctx, "a", []byte("1"), nil))
	require.NoError(t, b.WriteAll(ctx, "c/d", []byte("1"), nil))
	for _, c := range []struct {
		key        string
		ifNotExist bool
	}{{"a/b", false}, {"a/b", true}, {"c", false}, {"c", true}} {
		err := b.WriteAll(ctx, c.key, []byte("2"), &blob.WriterOptions{IfNotExist: c.ifNotExist})
		assert.ErrorIs(t, err, ErrKeyConflict, "%+v", c)
		assert.Equal(t, gcerrors.Unknown, gcerrors.Code(err), "%+v: not FailedPrecondition, which says the key exists", c)
	}
	err := b.WriteAll(ctx, ".localblob-tmp/x", []byte("x"), nil)
	assert.Equal(t, gcerrors.InvalidArgument, gcerrors.Code(err))
	_, err = b.Attributes(ctx, ".localblob-tmp")
	assert.Equal(t, gcerrors.InvalidArgument, gcerrors.Code(err))
}

// TestIfNotExistRace races IfNotExist writers of new keys on the operating
// system's file system: exactly one wins each key.
func TestIfNotExistRace(t *testing.T) {
	ctx := t.Context()
	const writers, rounds = 8, 20
	b := openFS(t, vfs.Default(), t.TempDir())
	for round := range rounds {
		key := fmt.Sprintf("race/%04x", round)
		ws := make([]*blob.Writer, writers)
		for i := range ws {
			w, err := b.NewWriter(ctx, key, &blob.WriterOptions{IfNotExist: true})
			require.NoError(t, err)
			_, err = fmt.Fprintf(w, "writer %d", i)
			require.NoError(t, err)
			ws[i] = w
		}
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, w := range ws {
			wg.Go(func() {
				<-start
				errs[i] = w.Close()
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "round %d: writers %d and %d both won", round, winner, i)
				winner = i
				continue
			}
			require.ErrorIs(t, err, ErrExists)
			require.Equal(t, gcerrors.FailedPrecondition, gcerrors.Code(err))
		}
		require.NotEqual(t, -1, winner, "round %d: nobody won", round)
		got, err := b.ReadAll(ctx, key)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("writer %d", winner), string(got))
	}
}

func TestReadOnlyDirectory(t *testing.T) {
	ctx := t.Context()
	m := vfs.NewMem()
	b := openFS(t, m, "/bucket")
	require.NoError(t, b.WriteAll(ctx, "k", []byte("v"), nil))
	require.NoError(t, b.Close())

	ro := errorfs.Wrap(m, errorfs.OnPath(func(op errorfs.Op) bool {
		return op.Kind == errorfs.OpLock || op.Kind == errorfs.OpCreate
	}, syscall.EROFS))
	rb := openFS(t, ro, "/bucket")
	got, err := rb.ReadAll(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(got))
	keys, err := listAll(ctx, rb, "")
	require.NoError(t, err)
	assert.Equal(t, []string{"k"}, keys)
	for name, err := range map[string]error{
		"write":  rb.WriteAll(ctx, "k2", []byte("v"), nil),
		"delete": rb.Delete(ctx, "k"),
		"copy":   rb.Copy(ctx, "k3", "k", nil),
	} {
		assert.ErrorIs(t, err, ErrReadOnly, name)
		assert.Equal(t, gcerrors.PermissionDenied, gcerrors.Code(err), "%s: %v", name, err)
	}
}

func TestCopy(t *testing.T) {
	ctx := t.Context()
	m := vfs.NewMem()
	b := openFS(t, m, "/bucket")
	big := content("src", 3<<20)
	require.NoError(t, b.WriteAll(ctx, "src", big, nil))
	require.NoError(t, b.WriteAll(ctx, "dst/x", []byte("old"), nil))
	require.NoError(t, b.Copy(ctx, "dst/x", "src", nil))
	require.NoError(t, b.Copy(ctx, "new/dir/y", "src", nil))
	crashed := openFS(t, m.CrashClone(), "/bucket")
	for _, key := range []string{"dst/x", "new/dir/y"} {
		got, err := crashed.ReadAll(ctx, key)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(big, got), "%s after a power loss", key)
	}
	err := b.Copy(ctx, "z", "missing", nil)
	assert.Equal(t, gcerrors.NotFound, gcerrors.Code(err))
	assert.ErrorContains(t, err, "missing")
}

func TestErrorCodes(t *testing.T) {
	cases := []struct {
		err  error
		want gcerrors.ErrorCode
	}{
		{notFound("k", nil), gcerrors.NotFound},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, gcerrors.NotFound},
		{fmt.Errorf("x: %w", ErrExists), gcerrors.FailedPrecondition},
		{ErrInvalidKey, gcerrors.InvalidArgument},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.ENAMETOOLONG}, gcerrors.InvalidArgument},
		{ErrNotSupported, gcerrors.Unimplemented},
		{context.Canceled, gcerrors.Canceled},
		{context.DeadlineExceeded, gcerrors.DeadlineExceeded},
		{ErrReadOnly, gcerrors.PermissionDenied},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, gcerrors.PermissionDenied},
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, gcerrors.ResourceExhausted},
		{ErrKeyConflict, gcerrors.Unknown},
		{&os.PathError{Op: "sync", Path: "x", Err: syscall.EIO}, gcerrors.Unknown},
	}
	for _, c := range cases {
		t.Run(c.err.Error(), func(t *testing.T) {
			assert.Equal(t, c.want, errorCode(c.err))
		})
	}
}

// TestFaultSweep fails the n-th file-system operation of each kind, for
// every n until the workload passes, and checks that the error reaches the
// caller and that a power loss right after it keeps every operation that
// had returned.
func TestFaultSweep(t *testing.T) {
	kinds := []errorfs.OpKind{
		errorfs.OpCreate, errorfs.OpWrite, errorfs.OpSync, errorfs.OpClose, errorfs.OpLink,
		errorfs.OpRename, errorfs.OpSyncDir, errorfs.OpMkdirAll, errorfs.OpRemove, errorfs.OpStat, errorfs.OpList,
	}
	for _, kind := range kinds {
		t.Run(kind.String(), func(t *testing.T) {
			for n := 0; ; n++ {
				require.Less(t, n, 100, "the workload does not end")
				m := vfs.NewMem()
				c := &nthOp{kind: kind, n: n}
				done, err := faultWorkload(t.Context(), errorfs.Wrap(m, c))
				if c.fired == nil {
					require.NoError(t, err)
					break
				}
				if err == nil {
					// Faults that are handled, not reported: removing a
					// temporary name or an attribute file, closing a file
					// that was only read.
					handled := kind == errorfs.OpRemove && c.fired.Path != "/bucket/top" ||
						kind == errorfs.OpClose && !strings.Contains(c.fired.Path, tmpDirName)
					require.True(t, handled, "fault %d (%+v) was not reported", n, *c.fired)
				} else {
					require.ErrorIs(t, err, syscall.EIO, "fault %d", n)
				}
				crashed := m.CrashClone()
				b := openFS(t, crashed, "/bucket")
				for key, want := range done {
					got, err := b.ReadAll(t.Context(), key)
					if want == nil {
						require.Equal(t, gcerrors.NotFound, gcerrors.Code(err), "fault %d: deleted %s", n, key)
						continue
					}
					require.NoError(t, err, "fault %d: %s", n, key)
					require.Equal(t, want, got, "fault %d: %s", n, key)
				}
			}
		})
	}
}

// nthOp is an errorfs.Injector that fails the n-th operation of a kind
// with EIO and remembers it. The workload using it is not concurrent.
type nthOp struct {
	kind  errorfs.OpKind
	n     int
	seen  int
	fired *errorfs.Op
}

func (c *nthOp) MaybeError(op errorfs.Op) error {
	if op.Kind != c.kind {
		return nil
	}
	c.seen++
	if c.seen-1 != c.n {
		return nil
	}
	c.fired = &op
	return syscall.EIO
}

// faultWorkload opens a bucket on fsys and writes, overwrites, writes with
// IfNotExist, lists, copies and deletes, stopping at the first error. It
// returns what the operations that returned left: key → bytes, nil for
// deleted.
func faultWorkload(ctx context.Context, fsys vfs.FS) (map[string][]byte, error) {
	done := map[string][]byte{}
	d, err := openBucket("/bucket", &Options{fs: fsys})
	if err != nil {
		return done, err
	}
	b := blob.NewBucket(d)
	defer b.Close()
	steps := []struct {
		key  string
		data []byte
		do   func() error
	}{
		{"a/b/c", []byte("one"), nil},
		{"top", []byte("two"), nil},
		{"a/b/c", []byte("three"), nil},
		{"once", []byte("four"), nil},
		{"copy/of/c", []byte("three"), func() error { return b.Copy(ctx, "copy/of/c", "a/b/c", nil) }},
		{"", nil, func() error { _, err := listAll(ctx, b, ""); return err }},
		{"top", nil, func() error { return b.Delete(ctx, "top") }},
	}
	for _, s := range steps {
		do := s.do
		if do == nil {
			do = func() error {
				return b.WriteAll(ctx, s.key, s.data, &blob.WriterOptions{IfNotExist: s.key == "once"})
			}
		}
		if err := do(); err != nil {
			return done, err
		}
		if s.key != "" {
			done[s.key] = s.data
		}
	}
	return done, nil
}

func TestURLs(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	u := (&url.URL{Scheme: Scheme, Path: filepath.ToSlash(dir)}).String()

	b, err := blob.OpenBucket(ctx, u)
	require.NoError(t, err, "registered on blob.DefaultURLMux")
	require.NoError(t, b.WriteAll(ctx, "p/k", []byte("v"), nil))
	require.NoError(t, b.Close())

	for _, s := range []string{u, "file://" + filepath.ToSlash(dir), "file://localhost" + filepath.ToSlash(dir)} {
		b, err := Open(ctx, s)
		require.NoError(t, err, s)
		got, err := b.ReadAll(ctx, "p/k")
		require.NoError(t, err, s)
		assert.Equal(t, "v", string(got))
		var d *bucket
		assert.False(t, b.As(&d), "no driver types are exposed")
		require.NoError(t, b.Close())
	}

	b, err = Open(ctx, "file://"+filepath.ToSlash(dir)+"?prefix=p/&no_tmp_dir=1&metadata=skip")
	require.NoError(t, err)
	got, err := b.ReadAll(ctx, "k")
	require.NoError(t, err, "prefix applies")
	assert.Equal(t, "v", string(got))
	require.NoError(t, b.Close())

	missing := filepath.ToSlash(filepath.Join(dir, "missing", "dir"))
	_, err = Open(ctx, "file://"+missing)
	assert.ErrorContains(t, err, "create_dir", "a missing directory is not created by default")
	b, err = Open(ctx, "local://"+missing+"?create_dir=1&dir_file_mode=0700")
	require.NoError(t, err)
	require.NoError(t, b.Close())
	fi, err := os.Stat(filepath.FromSlash(missing))
	require.NoError(t, err)
	assert.True(t, fi.IsDir())

	for _, bad := range []string{"?base_url=/x&secret_key_path=k", "?metadata=sidecar", "?dir_file_mode=rwx"} {
		_, err := Open(ctx, "file://"+filepath.ToSlash(dir)+bad)
		assert.Error(t, err, bad)
	}

	b, err = Open(ctx, "mem://")
	require.NoError(t, err, "other schemes go to blob.OpenBucket")
	require.NoError(t, b.Close())
}

// TestDirectoryGone: a bucket whose directory is removed while a write
// is open fails the write and does not make the directory again (an
// unmounted disk must not fill up the mount point).
func TestDirectoryGone(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "bucket")
	b, err := OpenBucket(dir, nil)
	require.NoError(t, err)
	defer b.Close()
	w, err := b.NewWriter(ctx, "a/b/c", nil)
	require.NoError(t, err)
	_, err = w.Write(make([]byte, 8<<20)) // past the writer's buffer: a temporary file
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dir))
	assert.Error(t, w.Close(), "a write into a directory that went away")
	assert.NoDirExists(t, dir, "the bucket's directory is made again")
	assert.Error(t, b.WriteAll(ctx, "x/y", []byte("more"), nil))
	assert.NoDirExists(t, dir)
}
