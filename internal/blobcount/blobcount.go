// Package blobcount counts the requests a gocloud.dev/blob bucket makes,
// as S3 bills them: a writer's Close is a PUT, a reader (whole or a
// range) a GET, each page of a listing a LIST, Attributes (and Exists) a
// HEAD, Delete a DELETE, Copy a PUT. Wrap puts a counting driver in
// front of a bucket; everything else passes through, the As hooks of
// the bucket, its attributes, readers, writers and listings included.
package blobcount

import (
	"context"
	"errors"
	"sync/atomic"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/internal/blobview"
)

// Counts are requests by operation and the bytes they moved.
type Counts struct {
	Put, Get, List, Delete, Head int64
	BytesUp, BytesDown           int64 // object bytes written and read
}

// Counter counts requests. The zero value is ready; safe for concurrent
// use.
type Counter struct {
	put, get, list, del, head, up, down atomic.Int64
}

// Counts returns the counts so far.
func (c *Counter) Counts() Counts {
	return Counts{Put: c.put.Load(), Get: c.get.Load(), List: c.list.Load(), Delete: c.del.Load(), Head: c.head.Load(),
		BytesUp: c.up.Load(), BytesDown: c.down.Load()}
}

// Wrap returns b counting its requests in c. Closing the result does not
// close b: its owner does.
func Wrap(b *blob.Bucket, c *Counter) *blob.Bucket {
	return blob.NewBucket(&bucket{b: b, c: c})
}

// listPage is the page a listing asks for when the caller names none:
// S3's own.
const listPage = 1000

type bucket struct {
	b *blob.Bucket
	c *Counter
}

var _ driver.Bucket = (*bucket)(nil)

func (cb *bucket) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (cb *bucket) As(i any) bool                          { return cb.b.As(i) }
func (cb *bucket) ErrorAs(err error, i any) bool          { return cb.b.ErrorAs(err, i) }
func (cb *bucket) Close() error                           { return nil }

func (cb *bucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	cb.c.head.Add(1)
	a, err := cb.b.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{CacheControl: a.CacheControl, ContentDisposition: a.ContentDisposition, ContentEncoding: a.ContentEncoding,
		ContentLanguage: a.ContentLanguage, ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime, ModTime: a.ModTime,
		Size: a.Size, MD5: a.MD5, ETag: a.ETag, AsFunc: a.As}, nil
}

func (cb *bucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	cb.c.list.Add(1)
	size := opts.PageSize
	if size <= 0 {
		size = listPage
	}
	token := opts.PageToken
	if len(token) == 0 {
		token = blob.FirstPageToken
	}
	objs, next, err := cb.b.ListPage(ctx, token, size, &blob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter, BeforeList: opts.BeforeList})
	if err != nil {
		return nil, err
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir, AsFunc: o.As})
	}
	return page, nil
}

func (cb *bucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	cb.c.get.Add(1)
	r, err := cb.b.NewRangeReader(ctx, key, offset, length, &blob.ReaderOptions{BeforeRead: opts.BeforeRead})
	if err != nil {
		return nil, err
	}
	return &reader{r: r, c: cb.c}, nil
}

func (cb *bucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	w, err := cb.b.NewWriter(ctx, key, &blob.WriterOptions{
		BufferSize: opts.BufferSize, MaxConcurrency: opts.MaxConcurrency, CacheControl: opts.CacheControl,
		ContentDisposition: opts.ContentDisposition, ContentEncoding: opts.ContentEncoding, ContentLanguage: opts.ContentLanguage,
		ContentType: contentType, ContentMD5: opts.ContentMD5, Metadata: opts.Metadata, BeforeWrite: opts.BeforeWrite,
		DisableContentTypeDetection: true, IfNotExist: opts.IfNotExist,
	})
	if err != nil {
		return nil, err
	}
	return &writer{w: w, c: cb.c}, nil
}

func (cb *bucket) Copy(ctx context.Context, dstKey, srcKey string, opts *driver.CopyOptions) error {
	cb.c.put.Add(1)
	return cb.b.Copy(ctx, dstKey, srcKey, &blob.CopyOptions{BeforeCopy: opts.BeforeCopy})
}

func (cb *bucket) Delete(ctx context.Context, key string, opts *driver.DeleteOptions) error {
	cb.c.del.Add(1)
	return cb.b.Delete(ctx, key)
}

func (cb *bucket) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	return "", errors.New("blobcount: a counted bucket signs no URLs")
}

type reader struct {
	r       *blob.Reader
	c       *Counter
	counted bool // a lent range's bytes were counted
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.down.Add(int64(n))
	return n, err
}
func (r *reader) Close() error { return r.r.Close() }

// As passes i to the driver's reader; a range it lends (a
// *blobview.View) counts as read, once.
func (r *reader) As(i any) bool {
	if !r.r.As(i) {
		return false
	}
	if v, ok := i.(*blobview.View); ok && !r.counted {
		r.counted = true
		r.c.down.Add(int64(len(v.Bytes)))
	}
	return true
}
func (r *reader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

// writer counts one PUT when it is closed, when the request is made
// (objects below the multipart threshold: a larger one is several).
type writer struct {
	w *blob.Writer
	c *Counter
	n int64
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *writer) Close() error {
	w.c.put.Add(1)
	w.c.up.Add(w.n)
	return w.w.Close()
}
