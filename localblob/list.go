package localblob

import (
	"container/heap"
	"context"
	"errors"
	"io/fs"
	"strings"
	"syscall"

	"gocloud.dev/blob/driver"
)

// defaultPageSize is the page size of a ListPaged call that names none.
// Pages cost about their size, so this only bounds a page's memory.
const defaultPageSize = 1000

// ListPaged implements driver.Bucket.
//
// It walks the directory tree in key order without sorting it whole: a
// heap holds the entries seen but not yet visited, each under a lower
// bound of the keys it can hold (a file: its key; a directory: its key
// prefix, ending in "/"; an entry not yet Stat-ed: the smaller, its name
// as a key). The smallest is visited next, so a file is reached only
// after every key below it has been returned, even where escaping puts
// "a/" (a file) beside the directory "a". Entries the prefix or the page
// token exclude are dropped before they cost a Stat; a directory that
// collapses to one delimiter entry is reported after finding one file in
// it, without walking the rest.
func (b *bucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	if opts.BeforeList != nil {
		if err := opts.BeforeList(noAs); err != nil {
			return nil, err
		}
	}
	l := &lister{b: b, prefix: opts.Prefix, delim: opts.Delimiter, token: string(opts.PageToken), pageSize: opts.PageSize}
	if l.pageSize <= 0 {
		l.pageSize = defaultPageSize
	}
	names, err := b.fs.List(b.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound("", err) // the bucket's directory is gone
		}
		return nil, err
	}
	for _, name := range names {
		if name != tmpDirName {
			l.push(listEntry{bound: pathKey(name), rel: name})
		}
	}
	return l.run(ctx)
}

// listEntry is a file or directory found but not yet visited.
type listEntry struct {
	bound string // a lower bound of its keys, see ListPaged
	rel   string // path relative to the bucket's directory
	kind  entryKind
}

type entryKind int

const (
	kindUnknown entryKind = iota // listed, not yet Stat-ed; bound is its name as a key
	kindDir                      // bound is its key prefix, ending in "/"
)

// entryHeap orders entries by bound.
type entryHeap []listEntry

func (h entryHeap) Len() int { return len(h) }
func (h entryHeap) Less(i, j int) bool {
	if h[i].bound != h[j].bound {
		return h[i].bound < h[j].bound
	}
	return h[i].rel < h[j].rel // any fixed order, so that a listing is reproducible
}
func (h entryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)   { *h = append(*h, x.(listEntry)) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// lister is the state of one ListPaged call.
type lister struct {
	b               *bucket
	prefix, delim   string
	token           string // return only keys after it ("" from the start)
	pageSize        int
	heap            entryHeap
	page            driver.ListPage
	last            string // the key of the last object added to page
	hasLast, filled bool
}

func (l *lister) push(e listEntry) { heap.Push(&l.heap, e) }

// run visits entries until the page is full and one more key is found, or
// the tree is exhausted.
func (l *lister) run(ctx context.Context) (*driver.ListPage, error) {
	for l.heap.Len() > 0 && !l.filled {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := heap.Pop(&l.heap).(listEntry)
		var err error
		switch e.kind {
		case kindUnknown:
			err = l.visitUnknown(e)
		case kindDir:
			err = l.visitDir(e)
		}
		if err != nil {
			return nil, err
		}
	}
	return &l.page, nil
}

// collapse returns what key is listed as: with a delimiter after the
// prefix, the "directory" up to and including it.
func (l *lister) collapse(key string) (string, bool) {
	if l.delim == "" || !strings.HasPrefix(key, l.prefix) {
		return key, false
	}
	rest := key[len(l.prefix):]
	i := strings.Index(rest, l.delim)
	if i < 0 {
		return key, false
	}
	return l.prefix + rest[:i+len(l.delim)], true
}

// dirRelevant reports whether a directory with key prefix dp can hold keys
// to return: under the prefix, and not all at or before the page token.
func (l *lister) dirRelevant(dp string) bool {
	if !strings.HasPrefix(dp, l.prefix) && !strings.HasPrefix(l.prefix, dp) {
		return false
	}
	if l.token == "" {
		return true
	}
	if x, ok := l.collapse(dp); ok {
		// Every key below dp collapses to x.
		return x > l.token
	}
	// The keys below dp are the strings with that prefix: all at or before
	// the token only if the token sorts after them all.
	return !(l.token > dp && !strings.HasPrefix(l.token, dp))
}

// fileRelevant reports whether the file with this key is to be returned,
// unless it was already (as a collapsed directory).
func (l *lister) fileRelevant(key string) bool {
	if !strings.HasPrefix(key, l.prefix) {
		return false
	}
	x, _ := l.collapse(key)
	return l.token == "" || x > l.token
}

func (l *lister) visitUnknown(e listEntry) error {
	key := e.bound
	dp := key + "/"
	if !l.fileRelevant(key) && !l.dirRelevant(dp) {
		return nil
	}
	fi, err := l.b.fs.Stat(l.b.abs(e.rel))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // deleted since it was listed
	}
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		if l.dirRelevant(dp) {
			l.push(listEntry{bound: dp, rel: e.rel, kind: kindDir})
		}
	case fi.Mode().IsRegular():
		if !l.fileRelevant(key) || !l.isObject(key, e.rel) {
			return nil
		}
		if x, ok := l.collapse(key); ok {
			l.add(&driver.ListObject{Key: x, IsDir: true})
		} else {
			l.add(&driver.ListObject{Key: key, ModTime: fi.ModTime(), Size: fi.Size()})
		}
	}
	return nil
}

// isObject reports whether the file at rel is the object key: a file this
// package did not name (a fileblob attribute file, a name that is not an
// escaping) is not listed.
func (l *lister) isObject(key, rel string) bool {
	p, err := keyPath(key)
	return err == nil && p == rel
}

func (l *lister) visitDir(e listEntry) error {
	if x, ok := l.collapse(e.bound); ok {
		// All of it is one delimiter entry: report it if it holds an object.
		if l.hasLast && x == l.last {
			return nil
		}
		found, err := l.holdsObject(e.bound, e.rel)
		if err != nil || !found {
			return err
		}
		l.add(&driver.ListObject{Key: x, IsDir: true})
		return nil
	}
	names, err := l.b.fs.List(l.b.abs(e.rel))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, name := range names {
		l.push(listEntry{bound: e.bound + pathKey(name), rel: e.rel + "/" + name})
	}
	return nil
}

// holdsObject reports whether the directory at rel, whose key prefix is
// dp, holds an object at any depth.
func (l *lister) holdsObject(dp, rel string) (bool, error) {
	names, err := l.b.fs.List(l.b.abs(rel))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, name := range names {
		crel, key := rel+"/"+name, dp+pathKey(name)
		fi, err := l.b.fs.Stat(l.b.abs(crel))
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			continue
		case err != nil:
			return false, err
		case fi.IsDir():
			if ok, err := l.holdsObject(key+"/", crel); ok || err != nil {
				return ok, err
			}
		case fi.Mode().IsRegular() && l.isObject(key, crel):
			return true, nil
		}
	}
	return false, nil
}

// add appends o to the page, or, if the page is full, ends it: there is a
// next page, which starts after the page's last key.
func (l *lister) add(o *driver.ListObject) {
	if o.IsDir && l.hasLast && o.Key == l.last {
		return
	}
	if len(l.page.Objects) == l.pageSize {
		l.page.NextPageToken = []byte(l.last)
		l.filled = true
		return
	}
	l.page.Objects = append(l.page.Objects, o)
	l.last, l.hasLast = o.Key, true
}
