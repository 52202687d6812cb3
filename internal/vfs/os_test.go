package vfs_test

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
)

// TestConformance runs the same contract checks against every FS, so that
// MemFS behaves like the operating system's file system.
func TestConformance(t *testing.T) {
	backends := []struct {
		name string
		new  func(t *testing.T) (vfs.FS, string)
	}{
		{"os", func(t *testing.T) (vfs.FS, string) { return vfs.Default(), t.TempDir() }},
		{"mem", func(t *testing.T) (vfs.FS, string) {
			m := vfs.NewMem()
			require.NoError(t, m.MkdirAll("/data", 0o755))
			return m, "/data"
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) {
					fsys, root := b.new(t)
					c.run(t, fsys, root)
				})
			}
		})
	}
}

// create makes the named file holding data and closes it.
func create(t *testing.T, fsys vfs.FS, name string, data string) {
	t.Helper()
	f, err := fsys.Create(name)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte(data), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// contents reads the whole named file.
func contents(t *testing.T, fsys vfs.FS, name string) string {
	t.Helper()
	f, err := fsys.Open(name)
	require.NoError(t, err)
	defer f.Close()
	size, err := f.Size()
	require.NoError(t, err)
	buf := make([]byte, size)
	_, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	return string(buf)
}

var conformanceCases = []struct {
	name string
	run  func(t *testing.T, fsys vfs.FS, root string)
}{
	{"create is exclusive", func(t *testing.T, fsys vfs.FS, root string) {
		name := filepath.Join(root, "f")
		create(t, fsys, name, "abc")
		_, err := fsys.Create(name)
		assert.ErrorIs(t, err, fs.ErrExist)
		var pe *os.PathError
		assert.ErrorAs(t, err, &pe)
		assert.Equal(t, "abc", contents(t, fsys, name), "failed Create must not truncate")
	}},
	{"missing file or directory", func(t *testing.T, fsys vfs.FS, root string) {
		missing := filepath.Join(root, "missing")
		inMissingDir := filepath.Join(root, "nodir", "f")
		_, err := fsys.Open(missing)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = fsys.OpenReadWrite(missing)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.ErrorIs(t, fsys.Remove(missing), fs.ErrNotExist)
		_, err = fsys.Create(inMissingDir)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = fsys.Open(inMissingDir)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = fsys.List(filepath.Join(root, "nodir"))
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.ErrorIs(t, fsys.SyncDir(filepath.Join(root, "nodir")), fs.ErrNotExist)

		create(t, fsys, filepath.Join(root, "f"), "x")
		err = fsys.Rename(filepath.Join(root, "f"), inMissingDir)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		var le *os.LinkError
		assert.ErrorAs(t, err, &le)
		assert.ErrorIs(t, fsys.Rename(missing, filepath.Join(root, "g")), fs.ErrNotExist)
	}},
	{"read and write", func(t *testing.T, fsys vfs.FS, root string) {
		f, err := fsys.Create(filepath.Join(root, "f"))
		require.NoError(t, err)
		defer f.Close()

		n, err := f.WriteAt([]byte("hello"), 0)
		require.NoError(t, err)
		assert.Equal(t, 5, n)
		// Writing past the end leaves a hole of zeros.
		_, err = f.WriteAt([]byte("!"), 8)
		require.NoError(t, err)
		size, err := f.Size()
		require.NoError(t, err)
		assert.Equal(t, int64(9), size)

		buf := make([]byte, 9)
		n, err = f.ReadAt(buf, 0)
		require.NoError(t, err)
		assert.Equal(t, 9, n)
		assert.Equal(t, "hello\x00\x00\x00!", string(buf))

		// io.ReaderAt: a short read at the end returns io.EOF.
		n, err = f.ReadAt(buf[:4], 7)
		assert.ErrorIs(t, err, io.EOF)
		assert.Equal(t, 2, n)
		assert.Equal(t, "\x00!", string(buf[:n]))
		n, err = f.ReadAt(buf[:1], 100)
		assert.ErrorIs(t, err, io.EOF)
		assert.Zero(t, n)

		require.NoError(t, f.Truncate(2))
		size, err = f.Size()
		require.NoError(t, err)
		assert.Equal(t, int64(2), size)
		// Growing again exposes zeros, not the truncated bytes.
		require.NoError(t, f.Truncate(4))
		n, err = f.ReadAt(buf[:4], 0)
		require.NoError(t, err)
		assert.Equal(t, "he\x00\x00", string(buf[:n]))
		require.NoError(t, f.Sync())
	}},
	{"open is read-only", func(t *testing.T, fsys vfs.FS, root string) {
		name := filepath.Join(root, "f")
		create(t, fsys, name, "abc")
		f, err := fsys.Open(name)
		require.NoError(t, err)
		defer f.Close()
		_, err = f.WriteAt([]byte("x"), 0)
		assert.Error(t, err)
		assert.Error(t, f.Truncate(0))
		assert.Equal(t, "abc", contents(t, fsys, name))

		rw, err := fsys.OpenReadWrite(name)
		require.NoError(t, err)
		_, err = rw.WriteAt([]byte("X"), 1)
		require.NoError(t, err)
		require.NoError(t, rw.Close())
		assert.Equal(t, "aXc", contents(t, fsys, name))
	}},
	{"closed file", func(t *testing.T, fsys vfs.FS, root string) {
		f, err := fsys.Create(filepath.Join(root, "f"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		_, err = f.ReadAt(make([]byte, 1), 0)
		assert.ErrorIs(t, err, fs.ErrClosed)
		_, err = f.WriteAt([]byte("x"), 0)
		assert.ErrorIs(t, err, fs.ErrClosed)
		assert.ErrorIs(t, f.Truncate(0), fs.ErrClosed)
		_, err = f.Size()
		assert.ErrorIs(t, err, fs.ErrClosed)
		assert.ErrorIs(t, f.Close(), fs.ErrClosed)
		// The os backend reports EBADF rather than fs.ErrClosed here, as
		// datasync goes through (*os.File).Fd.
		assert.Error(t, f.Sync())
	}},
	{"rename replaces", func(t *testing.T, fsys vfs.FS, root string) {
		a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
		create(t, fsys, a, "new")
		create(t, fsys, b, "old")
		require.NoError(t, fsys.Rename(a, b))
		assert.Equal(t, "new", contents(t, fsys, b))
		_, err := fsys.Open(a)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		names, err := fsys.List(root)
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, names)
	}},
	{"rename directory", func(t *testing.T, fsys vfs.FS, root string) {
		tmp, dst := filepath.Join(root, "d.tmp"), filepath.Join(root, "d")
		require.NoError(t, fsys.MkdirAll(tmp, 0o755))
		create(t, fsys, filepath.Join(tmp, "f"), "x")
		require.NoError(t, fsys.Rename(tmp, dst))
		assert.Equal(t, "x", contents(t, fsys, filepath.Join(dst, "f")))
		assert.Error(t, fsys.Rename(dst, filepath.Join(dst, "sub")), "into itself")
	}},
	{"remove keeps open handles", func(t *testing.T, fsys vfs.FS, root string) {
		name := filepath.Join(root, "f")
		create(t, fsys, name, "abc")
		f, err := fsys.OpenReadWrite(name)
		require.NoError(t, err)
		defer f.Close()
		require.NoError(t, fsys.Remove(name))
		_, err = fsys.Open(name)
		assert.ErrorIs(t, err, fs.ErrNotExist)

		_, err = f.WriteAt([]byte("d"), 3)
		require.NoError(t, err)
		buf := make([]byte, 4)
		_, err = f.ReadAt(buf, 0)
		require.NoError(t, err)
		assert.Equal(t, "abcd", string(buf))

		// The name is free again.
		create(t, fsys, name, "new")
		assert.Equal(t, "new", contents(t, fsys, name))
	}},
	{"directories", func(t *testing.T, fsys vfs.FS, root string) {
		deep := filepath.Join(root, "a", "b", "c")
		require.NoError(t, fsys.MkdirAll(deep, 0o755))
		require.NoError(t, fsys.MkdirAll(deep, 0o755), "MkdirAll of an existing directory")
		create(t, fsys, filepath.Join(root, "a", "f"), "x")
		assert.Error(t, fsys.MkdirAll(filepath.Join(root, "a", "f", "g"), 0o755))
		assert.Error(t, fsys.Remove(filepath.Join(root, "a", "b")), "not empty")
		require.NoError(t, fsys.Remove(deep))
		require.NoError(t, fsys.SyncDir(filepath.Join(root, "a")))
		names, err := fsys.List(filepath.Join(root, "a"))
		require.NoError(t, err)
		assert.Equal(t, []string{"b", "f"}, names)
	}},
	{"list sorted", func(t *testing.T, fsys vfs.FS, root string) {
		names, err := fsys.List(root)
		require.NoError(t, err)
		assert.Empty(t, names)
		for _, n := range []string{"0000000000000010.wal", "b", "0000000000000002.wal", "a"} {
			create(t, fsys, filepath.Join(root, n), "")
		}
		require.NoError(t, fsys.MkdirAll(filepath.Join(root, "snap"), 0o755))
		names, err = fsys.List(root)
		require.NoError(t, err)
		assert.Equal(t, []string{"0000000000000002.wal", "0000000000000010.wal", "a", "b", "snap"}, names)
		require.NoError(t, fsys.SyncDir(root))
	}},
	{"link", func(t *testing.T, fsys vfs.FS, root string) {
		a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
		create(t, fsys, a, "abc")
		require.NoError(t, fsys.Link(a, b))
		assert.Equal(t, "abc", contents(t, fsys, b))
		f, err := fsys.OpenReadWrite(a)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte("X"), 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		assert.Equal(t, "Xbc", contents(t, fsys, b), "two names of one file")
		require.NoError(t, fsys.Remove(a))
		assert.Equal(t, "Xbc", contents(t, fsys, b), "removing one name keeps the other")

		create(t, fsys, a, "new")
		err = fsys.Link(a, b)
		assert.ErrorIs(t, err, fs.ErrExist, "an existing file is not replaced")
		var le *os.LinkError
		assert.ErrorAs(t, err, &le)
		assert.Equal(t, "Xbc", contents(t, fsys, b))
		require.NoError(t, fsys.MkdirAll(filepath.Join(root, "d"), 0o755))
		assert.ErrorIs(t, fsys.Link(a, filepath.Join(root, "d")), fs.ErrExist, "nor a directory")
		assert.ErrorIs(t, fsys.Link(filepath.Join(root, "missing"), filepath.Join(root, "c")), fs.ErrNotExist)
		assert.ErrorIs(t, fsys.Link(a, filepath.Join(root, "nodir", "c")), fs.ErrNotExist)
		assert.Error(t, fsys.Link(filepath.Join(root, "d"), filepath.Join(root, "e")), "a directory cannot be linked")
		require.NoError(t, fsys.SyncDir(root))
		names, err := fsys.List(root)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "d"}, names)
	}},
	{"stat", func(t *testing.T, fsys vfs.FS, root string) {
		name := filepath.Join(root, "f")
		before := time.Now().Add(-time.Second) // file systems may round times down
		create(t, fsys, name, "hello")
		fi, err := fsys.Stat(name)
		require.NoError(t, err)
		assert.Equal(t, "f", fi.Name())
		assert.Equal(t, int64(5), fi.Size())
		assert.False(t, fi.IsDir())
		assert.True(t, fi.Mode().IsRegular())
		assert.False(t, fi.ModTime().Before(before), "mod time %v is before the write", fi.ModTime())

		require.NoError(t, fsys.MkdirAll(filepath.Join(root, "d"), 0o755))
		fi, err = fsys.Stat(filepath.Join(root, "d"))
		require.NoError(t, err)
		assert.True(t, fi.IsDir())

		_, err = fsys.Stat(filepath.Join(root, "missing"))
		assert.ErrorIs(t, err, fs.ErrNotExist)
		var pe *os.PathError
		assert.ErrorAs(t, err, &pe)
		_, err = fsys.Stat(filepath.Join(name, "below-a-file"))
		assert.Error(t, err)
	}},
	{"lock", func(t *testing.T, fsys vfs.FS, root string) {
		name := filepath.Join(root, "LOCK")
		l, err := fsys.Lock(name)
		require.NoError(t, err)
		_, err = fsys.Lock(name)
		assert.ErrorIs(t, err, vfs.ErrLocked)
		_, err = fsys.Lock(root + "/./LOCK")
		assert.ErrorIs(t, err, vfs.ErrLocked, "same file under another spelling")
		f, err := fsys.Open(name)
		require.NoError(t, err, "Lock creates the file")
		require.NoError(t, f.Close())

		require.NoError(t, l.Close())
		assert.NoError(t, l.Close(), "second Close is a no-op")
		l2, err := fsys.Lock(name)
		require.NoError(t, err, "released lock can be taken again")
		require.NoError(t, l2.Close())

		_, err = fsys.Lock(filepath.Join(root, "nodir", "LOCK"))
		assert.ErrorIs(t, err, fs.ErrNotExist)
	}},
	{"concurrent read and write", func(t *testing.T, fsys vfs.FS, root string) {
		f, err := fsys.Create(filepath.Join(root, "f"))
		require.NoError(t, err)
		defer f.Close()
		const writers, size = 8, 64
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				block := make([]byte, size)
				for j := range block {
					block[j] = byte(i)
				}
				_, err := f.WriteAt(block, int64(i*size))
				assert.NoError(t, err)
				_, err = f.ReadAt(block, int64(i*size))
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		buf := make([]byte, writers*size)
		_, err = f.ReadAt(buf, 0)
		require.NoError(t, err)
		for i := range writers {
			assert.Equal(t, byte(i), buf[i*size], "block %d", i)
		}
	}},
}
