//go:build linux && (amd64 || arm64)

package main

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/continuity-go/continuity/localblob"
)

// TestEvictTreeLocalblob checks that evictTree drops a localblob bucket's
// objects from the page cache (mincore finds none of their pages
// resident afterwards) and walks past the bucket's temporary area, whose
// lock file an open bucket holds.
func TestEvictTreeLocalblob(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bk, err := localblob.OpenBucket(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	names := []string{"config", "wal/0000000000000001/0000000000000001-0000000000000002-0000000000000003-0000000000000004", "wal/head/0000000000000001"}
	for _, name := range names {
		data := make([]byte, 1<<20)
		rand.Read(data)
		if err := bk.WriteAll(ctx, name, data, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := bk.ReadAll(ctx, name); err != nil { // cached now
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, localblobTmp)); err != nil {
		t.Fatalf("the bucket has no %s to skip: %v", localblobTmp, err)
	}
	before := 0
	for _, name := range names {
		before += residentPages(t, filepath.Join(dir, filepath.FromSlash(name)))
	}
	if before == 0 {
		t.Skip("the objects just written and read are not in the page cache: nothing to drop")
	}
	if err := evictTree(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if n := residentPages(t, filepath.Join(dir, filepath.FromSlash(name))); n != 0 {
			t.Errorf("%s: %d pages still in the page cache after evictTree", name, n)
		}
	}
}

// residentPages counts the pages of the file at path that are in the
// page cache (mmap and mincore; mapping does not read them in).
func residentPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() == 0 {
		return 0
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatalf("mincore %s: %v", path, e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
