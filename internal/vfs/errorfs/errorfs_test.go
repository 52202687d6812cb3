package errorfs_test

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/internal/vfs/errorfs"
)

func TestOpKindString(t *testing.T) {
	cases := []struct {
		kind errorfs.OpKind
		want string
	}{
		{errorfs.OpCreate, "create"},
		{errorfs.OpOpenReadWrite, "open-read-write"},
		{errorfs.OpSyncDir, "sync-dir"},
		{errorfs.OpClose, "close"},
		{errorfs.OpLink, "link"},
		{errorfs.OpStat, "stat"},
		{errorfs.OpKind(99), "OpKind(99)"},
		{errorfs.OpKind(-1), "OpKind(-1)"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			assert.Equal(t, c.want, c.kind.String())
		})
	}
}

// setup returns a MemFS holding /d/f = "hello", durable.
func setup(t *testing.T) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/d", 0o755))
	require.NoError(t, m.WriteFile("/d/f", []byte("hello")))
	return m
}

func readFile(t *testing.T, m *vfs.MemFS, name string) string {
	t.Helper()
	data, err := m.ReadFile(name)
	require.NoError(t, err)
	return string(data)
}

func TestWrapInjectsEveryOp(t *testing.T) {
	// Each case performs one operation of its kind through the wrapper, and
	// checks on the underlying MemFS that it was not performed.
	cases := []struct {
		kind  errorfs.OpKind
		do    func(fsys vfs.FS) error
		check func(t *testing.T, m *vfs.MemFS)
	}{
		{errorfs.OpCreate, func(fsys vfs.FS) error { _, err := fsys.Create("/d/g"); return err },
			func(t *testing.T, m *vfs.MemFS) {
				_, err := m.ReadFile("/d/g")
				assert.ErrorIs(t, err, fs.ErrNotExist)
			}},
		{errorfs.OpOpen, func(fsys vfs.FS) error { _, err := fsys.Open("/d/f"); return err }, nil},
		{errorfs.OpOpenReadWrite, func(fsys vfs.FS) error { _, err := fsys.OpenReadWrite("/d/f"); return err }, nil},
		{errorfs.OpRemove, func(fsys vfs.FS) error { return fsys.Remove("/d/f") },
			func(t *testing.T, m *vfs.MemFS) { assert.Equal(t, "hello", readFile(t, m, "/d/f")) }},
		{errorfs.OpRename, func(fsys vfs.FS) error { return fsys.Rename("/d/f", "/d/g") },
			func(t *testing.T, m *vfs.MemFS) { assert.Equal(t, "hello", readFile(t, m, "/d/f")) }},
		{errorfs.OpLink, func(fsys vfs.FS) error { return fsys.Link("/d/f", "/d/g") },
			func(t *testing.T, m *vfs.MemFS) {
				_, err := m.ReadFile("/d/g")
				assert.ErrorIs(t, err, fs.ErrNotExist)
			}},
		{errorfs.OpStat, func(fsys vfs.FS) error { _, err := fsys.Stat("/d/f"); return err }, nil},
		{errorfs.OpMkdirAll, func(fsys vfs.FS) error { return fsys.MkdirAll("/d/e", 0o755) },
			func(t *testing.T, m *vfs.MemFS) {
				_, err := m.List("/d/e")
				assert.ErrorIs(t, err, fs.ErrNotExist)
			}},
		{errorfs.OpList, func(fsys vfs.FS) error { _, err := fsys.List("/d"); return err }, nil},
		{errorfs.OpSyncDir, func(fsys vfs.FS) error { return fsys.SyncDir("/d") }, nil},
		{errorfs.OpLock, func(fsys vfs.FS) error { _, err := fsys.Lock("/d/LOCK"); return err },
			func(t *testing.T, m *vfs.MemFS) {
				l, err := m.Lock("/d/LOCK")
				require.NoError(t, err, "the failed Lock took no lock")
				require.NoError(t, l.Close())
			}},
		{errorfs.OpRead, func(fsys vfs.FS) error {
			return withFile(fsys, func(f vfs.File) error { _, err := f.ReadAt(make([]byte, 2), 1); return err })
		}, nil},
		{errorfs.OpWrite, func(fsys vfs.FS) error {
			return withFile(fsys, func(f vfs.File) error { _, err := f.WriteAt([]byte("J"), 0); return err })
		}, func(t *testing.T, m *vfs.MemFS) { assert.Equal(t, "hello", readFile(t, m, "/d/f")) }},
		{errorfs.OpSync, func(fsys vfs.FS) error {
			return withFile(fsys, func(f vfs.File) error {
				if _, err := f.WriteAt([]byte("J"), 0); err != nil {
					return err
				}
				return f.Sync()
			})
		}, func(t *testing.T, m *vfs.MemFS) {
			assert.Equal(t, "hello", readFile(t, m.CrashClone(), "/d/f"), "the failed Sync made nothing durable")
		}},
		{errorfs.OpTruncate, func(fsys vfs.FS) error {
			return withFile(fsys, func(f vfs.File) error { return f.Truncate(1) })
		}, func(t *testing.T, m *vfs.MemFS) { assert.Equal(t, "hello", readFile(t, m, "/d/f")) }},
		{errorfs.OpSize, func(fsys vfs.FS) error {
			return withFile(fsys, func(f vfs.File) error { _, err := f.Size(); return err })
		}, nil},
		{errorfs.OpClose, func(fsys vfs.FS) error {
			return withFile(fsys, func(vfs.File) error { return nil })
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.kind.String(), func(t *testing.T) {
			for _, injected := range []error{syscall.EIO, syscall.ENOSPC, errorfs.ErrInjected} {
				m := setup(t)
				counter := errorfs.Nth(c.kind, 0, injected)
				err := c.do(errorfs.Wrap(m, counter))
				require.ErrorIs(t, err, injected)
				var pe *os.PathError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, c.kind.String(), pe.Op)
				assert.Contains(t, pe.Path, "/d", "the path is reported")
				assert.True(t, counter.Fired())
				assert.Equal(t, 1, counter.Count())
				if c.check != nil {
					c.check(t, m)
				}

				// The same operation passes once the counter has fired.
				if c.kind != errorfs.OpCreate && c.kind != errorfs.OpMkdirAll {
					m := setup(t)
					require.NoError(t, c.do(errorfs.Wrap(m, errorfs.Nth(c.kind, 1, injected))))
				}
			}
		})
	}
}

func TestInjectedCloseStillCloses(t *testing.T) {
	fsys := errorfs.Wrap(setup(t), errorfs.Nth(errorfs.OpClose, 0, syscall.EIO))
	f, err := fsys.OpenReadWrite("/d/f")
	require.NoError(t, err)
	assert.ErrorIs(t, f.Close(), syscall.EIO)
	assert.ErrorIs(t, f.Close(), fs.ErrClosed, "the underlying file was closed")
	_, err = f.WriteAt([]byte("x"), 0)
	assert.ErrorIs(t, err, fs.ErrClosed)
}

// withFile opens /d/f for reading and writing, runs fn and closes the file.
func withFile(fsys vfs.FS, fn func(vfs.File) error) error {
	f, err := fsys.OpenReadWrite("/d/f")
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func TestPartialWrite(t *testing.T) {
	cases := []struct {
		name    string
		inj     error
		data    string
		wantN   int
		wantErr error
		want    string
	}{
		{"short then ENOSPC", errorfs.Partial(3, syscall.ENOSPC), "HELLO", 3, syscall.ENOSPC, "HELlo"},
		{"nothing written", errorfs.Partial(0, syscall.ENOSPC), "HELLO", 0, syscall.ENOSPC, "hello"},
		{"negative is nothing", errorfs.Partial(-1, syscall.EIO), "HELLO", 0, syscall.EIO, "hello"},
		{"longer than the write", errorfs.Partial(100, syscall.EIO), "HELLO!", 6, syscall.EIO, "HELLO!"},
		{"nil error is short write", errorfs.Partial(2, nil), "HELLO", 2, io.ErrShortWrite, "HEllo"},
		{"wrapped", fmt.Errorf("disk: %w", errorfs.Partial(1, syscall.ENOSPC)), "HELLO", 1, syscall.ENOSPC, "Hello"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := setup(t)
			fsys := errorfs.Wrap(m, errorfs.Nth(errorfs.OpWrite, 0, c.inj))
			f, err := fsys.OpenReadWrite("/d/f")
			require.NoError(t, err)
			defer f.Close()
			n, err := f.WriteAt([]byte(c.data), 0)
			assert.Equal(t, c.wantN, n)
			assert.ErrorIs(t, err, c.wantErr)
			var pe *os.PathError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "write", pe.Op)
			assert.Equal(t, c.want, readFile(t, m, "/d/f"))
		})
	}

	t.Run("as a plain error for other ops", func(t *testing.T) {
		fsys := errorfs.Wrap(setup(t), errorfs.Nth(errorfs.OpSync, 0, errorfs.Partial(1, syscall.EIO)))
		err := withFile(fsys, func(f vfs.File) error { return f.Sync() })
		assert.ErrorIs(t, err, syscall.EIO)
		var pw *errorfs.PartialWrite
		assert.ErrorAs(t, err, &pw)
	})
}

func TestNth(t *testing.T) {
	m := setup(t)
	c := errorfs.Nth(errorfs.OpWrite, 2, syscall.EIO)
	fsys := errorfs.Wrap(m, c)
	f, err := fsys.OpenReadWrite("/d/f")
	require.NoError(t, err)
	defer f.Close()

	var errs []error
	for i := range 4 {
		_, err := f.WriteAt([]byte{'0' + byte(i)}, int64(i))
		errs = append(errs, err)
		require.NoError(t, f.Sync(), "other kinds pass")
	}
	assert.NoError(t, errs[0])
	assert.NoError(t, errs[1])
	assert.ErrorIs(t, errs[2], syscall.EIO)
	assert.NoError(t, errs[3])
	assert.Equal(t, 4, c.Count())
	assert.True(t, c.Fired())
	assert.Equal(t, "01l3o", readFile(t, m, "/d/f"))
}

func TestNthConcurrent(t *testing.T) {
	const goroutines, ops = 8, 100
	c := errorfs.Nth(errorfs.OpRead, goroutines*ops/2, errorfs.ErrInjected)
	fsys := errorfs.Wrap(setup(t), c)
	f, err := fsys.Open("/d/f")
	require.NoError(t, err)
	defer f.Close()
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			buf := make([]byte, 1)
			for range ops {
				if _, err := f.ReadAt(buf, 0); err != nil {
					assert.ErrorIs(t, err, errorfs.ErrInjected)
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), failures.Load())
	assert.Equal(t, goroutines*ops, c.Count())
	assert.True(t, c.Fired())
}

func TestOnPathAndAny(t *testing.T) {
	onG := errorfs.OnPath(func(op errorfs.Op) bool { return op.Path == "/d/g" }, syscall.EIO)
	bigWrite := errorfs.OnPath(func(op errorfs.Op) bool {
		return op.Kind == errorfs.OpWrite && op.Offset+int64(op.Len) > 8
	}, syscall.ENOSPC)
	firstSync := errorfs.Nth(errorfs.OpSync, 0, errorfs.ErrInjected)
	fsys := errorfs.Wrap(setup(t), errorfs.Any(onG, bigWrite, firstSync))

	_, err := fsys.Create("/d/g")
	assert.ErrorIs(t, err, syscall.EIO)
	_, err = fsys.Create("/d/g")
	assert.ErrorIs(t, err, syscall.EIO, "OnPath fails every time")

	f, err := fsys.Create("/d/h")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte("1234"), 4)
	assert.NoError(t, err)
	_, err = f.WriteAt([]byte("12345"), 4)
	assert.ErrorIs(t, err, syscall.ENOSPC)

	assert.ErrorIs(t, f.Sync(), errorfs.ErrInjected)
	assert.NoError(t, f.Sync())

	// The first injector to fail an op wins, and later ones are not asked.
	c1 := errorfs.Nth(errorfs.OpList, 0, syscall.EIO)
	c2 := errorfs.Nth(errorfs.OpList, 0, syscall.ENOSPC)
	fsys = errorfs.Wrap(setup(t), errorfs.Any(c1, c2))
	_, err = fsys.List("/d")
	assert.ErrorIs(t, err, syscall.EIO)
	assert.Zero(t, c2.Count())
	_, err = fsys.List("/d")
	assert.ErrorIs(t, err, syscall.ENOSPC)
}

// publish atomically replaces /d/CURRENT with data: write a temporary file,
// sync it, rename it over CURRENT and sync the directory.
func publish(fsys vfs.FS, data string) error {
	f, err := fsys.Create("/d/CURRENT.tmp")
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		f.Close()
		return fmt.Errorf("write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if err := fsys.Rename("/d/CURRENT.tmp", "/d/CURRENT"); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	if err := fsys.SyncDir("/d"); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}

// TestSweep fails each operation of publish in turn, as pebble's
// error_test.go does, and checks that the error reaches the caller and that a
// crash right after leaves either the old or the new contents.
func TestSweep(t *testing.T) {
	for n := 0; ; n++ {
		m := vfs.NewMem()
		require.NoError(t, m.MkdirAll("/d", 0o755))
		require.NoError(t, m.WriteFile("/d/CURRENT", []byte("v1")))
		var seen atomic.Int64
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			if seen.Add(1)-1 == int64(n) {
				return syscall.EIO
			}
			return nil
		})
		err := publish(errorfs.Wrap(m, inj), "v2")
		if seen.Load() <= int64(n) {
			require.NoError(t, err, "no fault injected at op %d", n)
			assert.Equal(t, "v2", readFile(t, m.CrashClone(), "/d/CURRENT"))
			assert.Equal(t, 6, n, "publish makes six calls")
			return
		}
		require.ErrorIs(t, err, syscall.EIO, "op %d", n)
		got := readFile(t, m.CrashClone(), "/d/CURRENT")
		assert.Contains(t, []string{"v1", "v2"}, got, "op %d", n)
	}
}
