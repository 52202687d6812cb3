package testkit

import (
	"context"
	"errors"
	"fmt"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/internal/blobview"
)

// BucketOp names one operation on a bucket wrapped by FaultBucket.
type BucketOp struct {
	// Kind is "get" (opening a reader), "lend" (after the bucket lent a
	// reader's range, a blobview.View, before the caller reads it: an
	// error withdraws the loan and the caller reads instead), "put"
	// (before an object is written), "put-done" (after an object was
	// written, before the caller learns it), "delete", "list" or
	// "attributes".
	Kind string
	Key  string // object key, or the list prefix
}

// String is "kind key", as test logs show it.
func (op BucketOp) String() string { return op.Kind + " " + op.Key }

// ErrInjected is what FaultBucket's hooks usually return: a fault the test
// injected, not one of the store.
var ErrInjected = errors.New("testkit: injected bucket fault")

// ErrDenied is an injected fault the bucket reports as a permission
// denial (gcerrors.PermissionDenied), as S3 reports AccessDenied.
var ErrDenied = errors.New("testkit: injected permission denial")

// FaultBucket returns a bucket that passes every operation to b after
// calling hook, which may sleep (a slow store), return an error (the
// operation fails with it and, for "put", nothing is written; for
// "put-done" the object is written but the writer's Close reports the
// error, as when a process dies before it learns of the upload), or nil.
// Closing the returned bucket does not close b.
func FaultBucket(b *blob.Bucket, hook func(ctx context.Context, op BucketOp) error) *blob.Bucket {
	return blob.NewBucket(&faultBucket{b: b, hook: hook})
}

type faultBucket struct {
	b    *blob.Bucket
	hook func(context.Context, BucketOp) error
}

func (f *faultBucket) ErrorCode(err error) gcerrors.ErrorCode {
	if errors.Is(err, ErrDenied) {
		return gcerrors.PermissionDenied
	}
	if errors.Is(err, ErrInjected) {
		return gcerrors.Unknown
	}
	return gcerrors.Code(err)
}

func (f *faultBucket) As(i any) bool           { return false }
func (f *faultBucket) ErrorAs(error, any) bool { return false }
func (f *faultBucket) Close() error            { return nil }
func (f *faultBucket) call(ctx context.Context, kind, key string) error {
	return f.hook(ctx, BucketOp{Kind: kind, Key: key})
}

func (f *faultBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	if err := f.call(ctx, "attributes", key); err != nil {
		return nil, err
	}
	a, err := f.b.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{
		CacheControl: a.CacheControl, ContentDisposition: a.ContentDisposition,
		ContentEncoding: a.ContentEncoding, ContentLanguage: a.ContentLanguage,
		ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime,
		ModTime: a.ModTime, Size: a.Size, MD5: a.MD5, ETag: a.ETag,
	}, nil
}

func (f *faultBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	if err := f.call(ctx, "list", opts.Prefix); err != nil {
		return nil, err
	}
	token := opts.PageToken
	if token == nil {
		token = blob.FirstPageToken
	}
	size := opts.PageSize
	if size <= 0 {
		size = 1000
	}
	objs, next, err := f.b.ListPage(ctx, token, size, &blob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter})
	if err != nil {
		return nil, err
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir})
	}
	return page, nil
}

func (f *faultBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	if err := f.call(ctx, "get", key); err != nil {
		return nil, err
	}
	r, err := f.b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, err
	}
	return &faultReader{r: r, f: f, ctx: ctx, key: key}, nil
}

type faultReader struct {
	r   *blob.Reader
	f   *faultBucket
	ctx context.Context
	key string
}

func (r *faultReader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r *faultReader) Close() error               { return r.r.Close() }

// As passes a *blobview.View to the wrapped reader, and calls the hook
// ("lend") once it was lent; nothing else converts.
func (r *faultReader) As(i any) bool {
	if _, ok := i.(*blobview.View); !ok || !r.r.As(i) {
		return false
	}
	return r.f.call(r.ctx, "lend", r.key) == nil
}
func (r *faultReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

func (f *faultBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	if err := f.call(ctx, "put", key); err != nil {
		return nil, err
	}
	w, err := f.b.NewWriter(ctx, key, &blob.WriterOptions{
		ContentType: contentType, IfNotExist: opts.IfNotExist, Metadata: opts.Metadata,
		ContentMD5: opts.ContentMD5, DisableContentTypeDetection: true,
	})
	if err != nil {
		return nil, err
	}
	return &faultWriter{f: f, ctx: ctx, key: key, w: w}, nil
}

type faultWriter struct {
	f   *faultBucket
	ctx context.Context
	key string
	w   *blob.Writer
}

func (w *faultWriter) Write(p []byte) (int, error) { return w.w.Write(p) }
func (w *faultWriter) Close() error {
	if err := w.w.Close(); err != nil {
		return err
	}
	return w.f.call(w.ctx, "put-done", w.key)
}

func (f *faultBucket) Copy(ctx context.Context, dst, src string, _ *driver.CopyOptions) error {
	if err := f.call(ctx, "put", dst); err != nil {
		return err
	}
	return f.b.Copy(ctx, dst, src, nil)
}

func (f *faultBucket) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	if err := f.call(ctx, "delete", key); err != nil {
		return err
	}
	return f.b.Delete(ctx, key)
}

func (f *faultBucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", fmt.Errorf("testkit: FaultBucket does not sign URLs")
}
