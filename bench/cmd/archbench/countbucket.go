package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// Request operations, as S3 bills them.
const (
	opPut    = "PUT"    // PutObject (and CopyObject)
	opGet    = "GET"    // GetObject, whole or a range
	opList   = "LIST"   // one page of ListObjectsV2
	opDelete = "DELETE" // DeleteObject
	opHead   = "HEAD"   // HeadObject (Attributes)
)

// reqKey is an operation on a class of keys.
type reqKey struct{ op, class string }

// keyClass names what key (or listing prefix) a request is about.
func keyClass(key string) string {
	switch {
	case strings.HasPrefix(key, headPrefix):
		return "head"
	case strings.HasPrefix(key, pinPrefix):
		return "pin"
	case strings.HasPrefix(key, walPrefix) && strings.HasSuffix(key, "/timeline"):
		return "timeline"
	case strings.HasPrefix(key, walPrefix):
		return "wal"
	}
	return "repo"
}

// listClass names a listing: of every object under wal/, of wal/'s
// directories (a delimiter), of the heads or pins, or of the repository's
// own prefixes.
func listClass(prefix, delim string) string {
	switch {
	case prefix == walPrefix && delim != "":
		return "wal dirs"
	case prefix == walPrefix:
		return "wal"
	case prefix == headPrefix:
		return "head"
	case prefix == pinPrefix:
		return "pin"
	}
	return "repo"
}

// reqCounts are requests by operation and key class, and bytes moved.
type reqCounts struct {
	n          map[reqKey]int64
	up, down   int64 // bytes written and read
	walPutSize []int64
}

// get returns the count of op on class ("" for every class).
func (c reqCounts) get(op, class string) int64 {
	var n int64
	for k, v := range c.n {
		if k.op == op && (class == "" || k.class == class) {
			n += v
		}
	}
	return n
}

// sub returns c less an earlier snapshot o of the same counter.
func (c reqCounts) sub(o reqCounts) reqCounts {
	d := reqCounts{n: map[reqKey]int64{}, up: c.up - o.up, down: c.down - o.down, walPutSize: c.walPutSize[len(o.walPutSize):]}
	for k, v := range c.n {
		if v -= o.n[k]; v != 0 {
			d.n[k] = v
		}
	}
	return d
}

// reqCounter counts the requests a countingBucket passes on. Safe for
// concurrent use.
type reqCounter struct {
	mu         sync.Mutex
	n          map[reqKey]int64
	walPutSize []int64 // the size of every WAL object written, in order
	up, down   atomic.Int64
}

func (c *reqCounter) add(op, class string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[reqKey]int64{}
	}
	c.n[reqKey{op, class}]++
	c.mu.Unlock()
}

// snapshot returns the counts so far.
func (c *reqCounter) snapshot() reqCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := reqCounts{n: make(map[reqKey]int64, len(c.n)), up: c.up.Load(), down: c.down.Load(), walPutSize: slices.Clone(c.walPutSize)}
	for k, v := range c.n {
		s.n[k] = v
	}
	return s
}

// countingBucket is a gocloud driver.Bucket that passes every call to a
// *blob.Bucket and counts it as the S3 request it is: a writer's Close is
// a PUT, a reader (whole or a range) a GET, each ListPaged call one LIST
// page (of at most s3ListPage keys, S3's page, when the caller asks for
// no page size), Attributes a HEAD, Copy a PUT-class COPY, Delete a
// DELETE. Wrapping the bucket below snapshot.Repo counts every request
// the archive and the repository make, whatever the store.
type countingBucket struct {
	b *blob.Bucket
	c *reqCounter
}

var _ driver.Bucket = (*countingBucket)(nil)

// countBucket returns b wrapped to count its requests in c; closing the
// result closes b.
func countBucket(b *blob.Bucket, c *reqCounter) *blob.Bucket {
	return blob.NewBucket(&countingBucket{b: b, c: c})
}

func (cb *countingBucket) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (cb *countingBucket) As(any) bool                            { return false }
func (cb *countingBucket) ErrorAs(err error, i any) bool          { return cb.b.ErrorAs(err, i) }
func (cb *countingBucket) Close() error                           { return cb.b.Close() }

func (cb *countingBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	cb.c.add(opHead, keyClass(key))
	a, err := cb.b.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{CacheControl: a.CacheControl, ContentDisposition: a.ContentDisposition, ContentEncoding: a.ContentEncoding,
		ContentLanguage: a.ContentLanguage, ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime, ModTime: a.ModTime,
		Size: a.Size, MD5: a.MD5, ETag: a.ETag}, nil
}

func (cb *countingBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	cb.c.add(opList, listClass(opts.Prefix, opts.Delimiter))
	size := opts.PageSize
	if size <= 0 {
		size = s3ListPage
	}
	objs, next, err := cb.b.ListPage(ctx, orFirst(opts.PageToken), size, &blob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter, BeforeList: opts.BeforeList})
	if err != nil {
		return nil, err
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir})
	}
	return page, nil
}

// orFirst is blob.FirstPageToken for an empty token.
func orFirst(tok []byte) []byte {
	if len(tok) == 0 {
		return blob.FirstPageToken
	}
	return tok
}

func (cb *countingBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	cb.c.add(opGet, keyClass(key))
	r, err := cb.b.NewRangeReader(ctx, key, offset, length, &blob.ReaderOptions{BeforeRead: opts.BeforeRead})
	if err != nil {
		return nil, err
	}
	return &countingReader{r: r, c: cb.c}, nil
}

func (cb *countingBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	w, err := cb.b.NewWriter(ctx, key, &blob.WriterOptions{
		BufferSize: opts.BufferSize, MaxConcurrency: opts.MaxConcurrency, CacheControl: opts.CacheControl,
		ContentDisposition: opts.ContentDisposition, ContentEncoding: opts.ContentEncoding, ContentLanguage: opts.ContentLanguage,
		ContentType: contentType, ContentMD5: opts.ContentMD5, Metadata: opts.Metadata, BeforeWrite: opts.BeforeWrite,
		DisableContentTypeDetection: opts.DisableContentTypeDetection, IfNotExist: opts.IfNotExist,
	})
	if err != nil {
		return nil, err
	}
	return &countingWriter{w: w, c: cb.c, key: key}, nil
}

func (cb *countingBucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	cb.c.add(opPut, keyClass(dstKey))
	return cb.b.Copy(ctx, dstKey, srcKey, &blob.CopyOptions{BeforeCopy: opts.BeforeCopy})
}

func (cb *countingBucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	cb.c.add(opDelete, keyClass(key))
	return cb.b.Delete(ctx, key)
}

func (cb *countingBucket) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	return "", errors.New("archbench: the counting bucket signs no URLs")
}

// countingReader counts the bytes read.
type countingReader struct {
	r *blob.Reader
	c *reqCounter
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.down.Add(int64(n))
	return n, err
}
func (r *countingReader) Close() error { return r.r.Close() }
func (r *countingReader) As(any) bool  { return false }
func (r *countingReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

// countingWriter counts one PUT when it is closed (the request is made
// then, for objects below the multipart threshold), and the bytes.
type countingWriter struct {
	w   *blob.Writer
	c   *reqCounter
	key string
	n   int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Close() error {
	class := keyClass(w.key)
	w.c.add(opPut, class)
	w.c.up.Add(w.n)
	if class == "wal" {
		w.c.mu.Lock()
		w.c.walPutSize = append(w.c.walPutSize, w.n)
		w.c.mu.Unlock()
	}
	return w.w.Close()
}
