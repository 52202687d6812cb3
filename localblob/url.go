package localblob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gocloud.dev/blob"
)

// Scheme is the URL scheme this package registers its URLOpener under on
// blob.DefaultURLMux: local:///var/lib/app/archive.
const Scheme = "local"

func init() {
	blob.DefaultURLMux().RegisterBucket(Scheme, &URLOpener{})
}

// Open opens the bucket at urlstr: file:// and local:// URLs with this
// driver (so that file:///path is durable too), anything else with
// blob.OpenBucket, whose drivers the caller registers as usual. As with
// blob.OpenBucket, the query parameters "prefix" and "key" restrict the
// bucket to a prefix or one key.
func Open(ctx context.Context, urlstr string) (*blob.Bucket, error) {
	u, err := url.Parse(urlstr)
	if err != nil || (u.Scheme != "file" && u.Scheme != Scheme) {
		return blob.OpenBucket(ctx, urlstr)
	}
	mux := new(blob.URLMux)
	mux.RegisterBucket("file", &URLOpener{})
	mux.RegisterBucket(Scheme, &URLOpener{})
	return mux.OpenBucket(ctx, urlstr)
}

// URLOpener opens local:// and file:// URLs as fileblob reads file://
// ones: the path is the directory ("file:///a/dir"), a host "." makes it
// relative ("file://./a/dir"), any other host is ignored; on Windows the
// leading "/" is dropped ("file:///c:/a/dir").
//
// Unlike OpenBucket, it does not create a missing directory unless the URL
// says create_dir: a mistyped path or an unmounted disk then fails instead
// of starting an empty bucket. Query parameters:
//
//   - create_dir (any non-empty value): create the directory if missing.
//   - dir_file_mode: Options.DirPerm, parsed with base 0 ("0750").
//   - no_tmp_dir, metadata=skip: accepted for fileblob URLs; this driver
//     always writes in its own temporary area and never writes metadata.
//
// Others (fileblob's base_url and secret_key_path for signed URLs
// included) are refused.
type URLOpener struct {
	// Options are the defaults the query parameters override.
	Options Options
}

// OpenBucketURL implements blob.BucketURLOpener.
func (o *URLOpener) OpenBucketURL(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	opts := o.Options
	create := false
	for k, vs := range u.Query() {
		v := vs[0]
		switch k {
		case "create_dir":
			create = v != ""
		case "dir_file_mode":
			m, err := strconv.ParseUint(v, 0, 32)
			if err != nil {
				return nil, fmt.Errorf("localblob: open %s: dir_file_mode %q: %w", u.Redacted(), v, err)
			}
			opts.DirPerm = os.FileMode(m)
		case "no_tmp_dir":
		case "metadata":
			if v != "skip" && v != "" {
				return nil, fmt.Errorf("localblob: open %s: metadata=%q: only \"skip\" is supported", u.Redacted(), v)
			}
		default:
			return nil, fmt.Errorf("localblob: open %s: unsupported query parameter %q", u.Redacted(), k)
		}
	}
	dir := u.Path
	if u.Host == "." || os.PathSeparator != '/' {
		dir = strings.TrimPrefix(dir, "/")
	}
	if dir == "" {
		return nil, fmt.Errorf("localblob: open %s: no directory in the URL", u.Redacted())
	}
	dir = filepath.FromSlash(dir)
	if !create {
		fsys := opts.withDefaults().fs
		fi, err := fsys.Stat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("localblob: open %s: %w (add ?create_dir=1 to create it)", u.Redacted(), err)
		}
		if err != nil {
			return nil, fmt.Errorf("localblob: open %s: %w", u.Redacted(), err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("localblob: open %s: %s is not a directory", u.Redacted(), dir)
		}
	}
	return OpenBucket(dir, &opts)
}
