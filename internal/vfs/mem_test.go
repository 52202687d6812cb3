package vfs_test

import (
	"errors"
	"io/fs"
	"path"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
)

// tree returns every file of m with its contents and every directory as
// "path/" mapped to "".
func tree(t *testing.T, m *vfs.MemFS) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := m.List(dir)
		require.NoError(t, err)
		for _, n := range names {
			p := path.Join(dir, n)
			data, err := m.ReadFile(p)
			if errors.Is(err, syscall.EISDIR) {
				out[p+"/"] = ""
				walk(p)
				continue
			}
			require.NoError(t, err)
			out[p] = string(data)
		}
	}
	walk("/")
	return out
}

// write writes data at off of an open file.
func write(t *testing.T, f vfs.File, off int64, data string) {
	t.Helper()
	_, err := f.WriteAt([]byte(data), off)
	require.NoError(t, err)
}

func TestMemCrashClone(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, m *vfs.MemFS)
		want map[string]string
	}{
		{
			name: "unsynced data lost",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.Create("/d/f")
				require.NoError(t, err)
				require.NoError(t, m.SyncDir("/d"))
				write(t, f, 0, "abc")
			},
			want: map[string]string{"/d/": "", "/d/f": ""},
		},
		{
			name: "synced data kept",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.Create("/d/f")
				require.NoError(t, err)
				write(t, f, 0, "abc")
				require.NoError(t, f.Sync())
				require.NoError(t, f.Close())
				require.NoError(t, m.SyncDir("/d"))
			},
			want: map[string]string{"/d/": "", "/d/f": "abc"},
		},
		{
			name: "writes after sync lost",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.Create("/d/f")
				require.NoError(t, err)
				write(t, f, 0, "abc")
				require.NoError(t, f.Sync())
				require.NoError(t, m.SyncDir("/d"))
				write(t, f, 1, "XYZ")
				require.NoError(t, f.Truncate(1))
			},
			want: map[string]string{"/d/": "", "/d/f": "abc"},
		},
		{
			name: "unsynced dir entry lost",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.Create("/d/f")
				require.NoError(t, err)
				write(t, f, 0, "abc")
				require.NoError(t, f.Sync())
			},
			want: map[string]string{"/d/": ""},
		},
		{
			name: "rename without sync dir reverted",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.WriteFile("/d/CURRENT", []byte("v1")))
				f, err := m.Create("/d/CURRENT.tmp")
				require.NoError(t, err)
				write(t, f, 0, "v2")
				require.NoError(t, f.Sync())
				require.NoError(t, m.SyncDir("/d"))
				require.NoError(t, m.Rename("/d/CURRENT.tmp", "/d/CURRENT"))
			},
			want: map[string]string{"/d/": "", "/d/CURRENT": "v1", "/d/CURRENT.tmp": "v2"},
		},
		{
			name: "rename with sync dir kept",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.WriteFile("/d/CURRENT", []byte("v1")))
				require.NoError(t, m.WriteFile("/d/CURRENT.tmp", []byte("v2")))
				require.NoError(t, m.Rename("/d/CURRENT.tmp", "/d/CURRENT"))
				require.NoError(t, m.SyncDir("/d"))
			},
			want: map[string]string{"/d/": "", "/d/CURRENT": "v2"},
		},
		{
			name: "remove without sync dir reverted",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.WriteFile("/d/f", []byte("abc")))
				require.NoError(t, m.Remove("/d/f"))
			},
			want: map[string]string{"/d/": "", "/d/f": "abc"},
		},
		{
			name: "remove with sync dir kept",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.WriteFile("/d/f", []byte("abc")))
				require.NoError(t, m.Remove("/d/f"))
				require.NoError(t, m.SyncDir("/d"))
			},
			want: map[string]string{"/d/": ""},
		},
		{
			name: "sync through a handle to a removed file",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.WriteFile("/d/f", []byte("abc")))
				f, err := m.OpenReadWrite("/d/f")
				require.NoError(t, err)
				require.NoError(t, m.Remove("/d/f"))
				write(t, f, 0, "X")
				require.NoError(t, f.Sync())
			},
			want: map[string]string{"/d/": "", "/d/f": "Xbc"},
		},
		{
			name: "link without sync dir lost",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/t", 0o755))
				require.NoError(t, m.WriteFile("/t/tmp", []byte("v")))
				require.NoError(t, m.Link("/t/tmp", "/d/obj"))
			},
			want: map[string]string{"/d/": "", "/t/": "", "/t/tmp": "v"},
		},
		{
			name: "link with sync dir kept, removed old name comes back",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/t", 0o755))
				require.NoError(t, m.WriteFile("/t/tmp", []byte("v")))
				require.NoError(t, m.Link("/t/tmp", "/d/obj"))
				require.NoError(t, m.SyncDir("/d"))
				require.NoError(t, m.Remove("/t/tmp"))
			},
			want: map[string]string{"/d/": "", "/d/obj": "v", "/t/": "", "/t/tmp": "v"},
		},
		{
			name: "linked file synced after the link",
			run: func(t *testing.T, m *vfs.MemFS) {
				f, err := m.Create("/d/tmp")
				require.NoError(t, err)
				write(t, f, 0, "abc")
				require.NoError(t, m.Link("/d/tmp", "/d/obj"))
				require.NoError(t, m.Remove("/d/tmp"))
				require.NoError(t, m.SyncDir("/d"))
				write(t, f, 3, "def")
				require.NoError(t, f.Sync())
				write(t, f, 0, "X")
			},
			want: map[string]string{"/d/": "", "/d/obj": "abcdef"},
		},
		{
			name: "mkdirall is durable",
			run: func(t *testing.T, m *vfs.MemFS) {
				require.NoError(t, m.MkdirAll("/a/b", 0o755))
			},
			want: map[string]string{"/a/": "", "/a/b/": "", "/d/": ""},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := vfs.NewMem()
			require.NoError(t, m.MkdirAll("/d", 0o755))
			c.run(t, m)
			before := tree(t, m)
			crashed := m.CrashClone()
			assert.Equal(t, c.want, tree(t, crashed))
			assert.Equal(t, c.want, tree(t, crashed.CrashClone()), "a clone is fully durable")
			assert.Equal(t, before, tree(t, m), "the original is unchanged")
		})
	}
}

func TestMemCrashCloneTorn(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("/d", 0o755))
	f, err := m.Create("/d/f")
	require.NoError(t, err)
	require.NoError(t, m.SyncDir("/d"))
	write(t, f, 0, "aaaa")
	require.NoError(t, f.Sync())
	write(t, f, 0, "bb")
	write(t, f, 2, "cc")
	write(t, f, 6, "dd")

	type call struct {
		name string
		off  int64
		n    int
	}
	cases := []struct {
		name string
		keep func(off int64) bool
		want string
	}{
		{"none", func(int64) bool { return false }, "aaaa"},
		{"all", func(int64) bool { return true }, "bbcc\x00\x00dd"},
		{"middle lost", func(off int64) bool { return off != 2 }, "bbaa\x00\x00dd"},
		{"only first", func(off int64) bool { return off == 0 }, "bbaa"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls []call
			crashed := m.CrashCloneTorn(func(name string, off int64, n int) bool {
				calls = append(calls, call{name, off, n})
				return c.keep(off)
			})
			got, err := crashed.ReadFile("/d/f")
			require.NoError(t, err)
			assert.Equal(t, c.want, string(got))
			assert.Equal(t, []call{{"/d/f", 0, 2}, {"/d/f", 2, 2}, {"/d/f", 6, 2}}, calls)
		})
	}
}

func TestMemCrashCloneIndependent(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.WriteFile("/f", []byte("abc")))
	f, err := m.OpenReadWrite("/f")
	require.NoError(t, err)
	l, err := m.Lock("/LOCK")
	require.NoError(t, err)

	crashed := m.CrashClone()
	write(t, f, 0, "X")
	require.NoError(t, f.Sync())
	got, err := crashed.ReadFile("/f")
	require.NoError(t, err)
	assert.Equal(t, "abc", string(got), "writes to the original do not reach the clone")

	require.NoError(t, crashed.WriteFile("/f", []byte("clone")))
	got, err = m.ReadFile("/f")
	require.NoError(t, err)
	assert.Equal(t, "Xbc", string(got), "writes to the clone do not reach the original")

	cl, err := crashed.Lock("/LOCK")
	require.NoError(t, err, "locks are not carried over")
	require.NoError(t, cl.Close())
	_, err = m.Lock("/LOCK")
	assert.ErrorIs(t, err, vfs.ErrLocked, "the original keeps its lock")
	require.NoError(t, l.Close())
}

func TestMemCrashCloneConcurrent(t *testing.T) {
	m := vfs.NewMem()
	f, err := m.Create("/f")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				_, err := f.WriteAt([]byte{byte(j)}, int64(i*50+j))
				assert.NoError(t, err)
				assert.NoError(t, f.Sync())
			}
		})
	}
	for range 20 {
		m.CrashClone()
	}
	wg.Wait()
	got, err := m.CrashClone().List("/")
	require.NoError(t, err)
	assert.Empty(t, got, "the entry of /f was never synced")
}

func TestMemPaths(t *testing.T) {
	m := vfs.NewMem()
	require.NoError(t, m.MkdirAll("a/b", 0o755), "relative to the root")
	require.NoError(t, m.WriteFile("/a/b/../f", []byte("x")))
	got, err := m.ReadFile("a/f")
	require.NoError(t, err)
	assert.Equal(t, "x", string(got))

	cases := []struct {
		name string
		err  error
		do   func() error
	}{
		{"open dir", syscall.EISDIR, func() error { _, err := m.Open("/a"); return err }},
		{"create dir", fs.ErrExist, func() error { _, err := m.Create("/a"); return err }},
		{"create root", fs.ErrExist, func() error { _, err := m.Create("/"); return err }},
		{"create under file", syscall.ENOTDIR, func() error { _, err := m.Create("/a/f/g"); return err }},
		{"list file", syscall.ENOTDIR, func() error { _, err := m.List("/a/f"); return err }},
		{"remove root", syscall.EBUSY, func() error { return m.Remove("/") }},
		{"read missing", fs.ErrNotExist, func() error { _, err := m.ReadFile("/nope"); return err }},
		{"write in missing dir", fs.ErrNotExist, func() error { return m.WriteFile("/nope/f", nil) }},
		{"write over dir", syscall.EISDIR, func() error { return m.WriteFile("/a/b", nil) }},
		{"rename file over dir", syscall.EISDIR, func() error { return m.Rename("/a/f", "/a/b") }},
		{"rename dir over file", syscall.ENOTDIR, func() error { return m.Rename("/a/b", "/a/f") }},
		{"rename dir into itself", syscall.EINVAL, func() error { return m.Rename("/a", "/a/b/c") }},
		{"link dir", syscall.EPERM, func() error { return m.Link("/a/b", "/a/c") }},
		{"link over root", fs.ErrExist, func() error { return m.Link("/a/f", "/") }},
		{"stat under file", syscall.ENOTDIR, func() error { _, err := m.Stat("/a/f/g"); return err }},
		{"lock dir", syscall.EISDIR, func() error { _, err := m.Lock("/a"); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.ErrorIs(t, c.do(), c.err)
		})
	}
}

func TestMemFileErrors(t *testing.T) {
	m := vfs.NewMem()
	f, err := m.Create("/f")
	require.NoError(t, err)
	ro, err := m.Open("/f")
	require.NoError(t, err)
	_, err = ro.WriteAt([]byte("x"), 0)
	assert.ErrorIs(t, err, syscall.EBADF)
	require.NoError(t, ro.Close())
	assert.ErrorIs(t, ro.Sync(), fs.ErrClosed)

	_, err = f.WriteAt([]byte("x"), -1)
	assert.Error(t, err)
	_, err = f.ReadAt(make([]byte, 1), -1)
	assert.Error(t, err)
	assert.Error(t, f.Truncate(-1))
	n, err := f.WriteAt(nil, 10)
	require.NoError(t, err)
	assert.Zero(t, n)
	size, err := f.Size()
	require.NoError(t, err)
	assert.Zero(t, size, "an empty write does not extend the file")
}
