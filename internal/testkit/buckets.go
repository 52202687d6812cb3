package testkit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"

	"gocloud.dev/blob"

	// The drivers behind Buckets, registered here so that tests can also
	// open these URL schemes themselves (localblob registers local://), and
	// fileblob, for tests that open file:// with blob.OpenBucket.
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/continuity-go/continuity/localblob"
)

const (
	// S3URLEnv names the environment variable that holds the gocloud.dev URL
	// of the S3 bucket the "s3" backend writes into, for example
	// s3://testbucket?endpoint=http://127.0.0.1:7070&use_path_style=true&region=us-east-1.
	// Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
	S3URLEnv = "CONTINUITY_TEST_S3_URL"

	// CIEnv names the environment variable that .ci/run sets to "1". When it
	// is "1" and S3URLEnv is unset, the "s3" backend fails the test instead
	// of skipping it.
	CIEnv = "CONTINUITY_CI"

	// s3KeyRoot is the key prefix under which every Open of the "s3" backend
	// makes its own random prefix.
	s3KeyRoot = "continuity-test/"
)

// s3Howto is the skip message of the "s3" backend.
const s3Howto = S3URLEnv + ` is not set, so the s3 backend is skipped.
.ci/run starts an S3 server (versitygw) and sets it; to run only some tests with it:
	.ci/run with-s3 go test -race ./snapshot/
or start versitygw by hand:
	GOBIN=$PWD/.bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
	mkdir -p /tmp/vgw/testbucket
	ROOT_ACCESS_KEY=k ROOT_SECRET_KEY=s .bin/versitygw --port 127.0.0.1:7070 posix /tmp/vgw &
	export AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s
	export ` + S3URLEnv + `='s3://testbucket?endpoint=http://127.0.0.1:7070&use_path_style=true&region=us-east-1'`

// Bucket is one object-storage backend that continuity must work on.
type Bucket struct {
	// Name is the backend's short name: "file", "mem" or "s3". RunBuckets
	// uses it as the subtest name.
	Name string

	// Open returns a new, empty bucket that no other Open call sees, and
	// registers t.Cleanup to close it (and, for "s3", to delete what the
	// test left behind unless the test failed). The caller must not close
	// it. Open calls t.Fatal if the bucket cannot be opened, and the "s3"
	// backend calls t.Skip when S3URLEnv is unset (t.Fatal under CIEnv=1).
	Open func(t testing.TB) *blob.Bucket
}

// Buckets returns the backends a storage test must pass on, in the order
// "file", "mem", "s3". It reads S3URLEnv and CIEnv once and calls t.Fatal
// if S3URLEnv is set but is not a URL; whether the "s3" backend skips is
// decided by its Open, so that the other backends still run.
func Buckets(t testing.TB) []Bucket {
	t.Helper()
	s3URL := os.Getenv(S3URLEnv)
	if s3URL != "" {
		if _, err := url.Parse(s3URL); err != nil {
			t.Fatalf("testkit: %s: %v", S3URLEnv, err)
		}
	}
	ci := os.Getenv(CIEnv) == "1"
	return []Bucket{
		{Name: "file", Open: openFile},
		{Name: "mem", Open: openMem},
		{Name: "s3", Open: func(t testing.TB) *blob.Bucket {
			t.Helper()
			return openS3(t, s3URL, ci)
		}},
	}
}

// RunBuckets runs fn as one subtest of t per backend of Buckets, each with a
// new, empty bucket that is closed when the subtest ends. fn may call
// t.Parallel.
func RunBuckets(t *testing.T, fn func(t *testing.T, b *blob.Bucket)) {
	t.Helper()
	for _, bk := range Buckets(t) {
		t.Run(bk.Name, func(t *testing.T) {
			fn(t, bk.Open(t))
		})
	}
}

// RunBucketOpeners is RunBuckets for tests that need several fresh
// buckets of each backend: fn gets the backend's Open.
func RunBucketOpeners(t *testing.T, fn func(t *testing.T, open func(testing.TB) *blob.Bucket)) {
	t.Helper()
	for _, bk := range Buckets(t) {
		t.Run(bk.Name, func(t *testing.T) {
			fn(t, bk.Open)
		})
	}
}

// openFile opens a localblob bucket, the driver continuity uses for
// file:// archives.
func openFile(t testing.TB) *blob.Bucket {
	t.Helper()
	dir := t.TempDir()
	b, err := localblob.OpenBucket(dir, nil)
	if err != nil {
		t.Fatalf("testkit: open bucket %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("testkit: close bucket %s: %v", dir, err)
		}
	})
	return b
}

func openMem(t testing.TB) *blob.Bucket {
	t.Helper()
	return openURL(t, "mem://")
}

func openURL(t testing.TB, u string) *blob.Bucket {
	t.Helper()
	b, err := blob.OpenBucket(t.Context(), u)
	if err != nil {
		t.Fatalf("testkit: open bucket %s: %v", u, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("testkit: close bucket %s: %v", u, err)
		}
	})
	return b
}

func openS3(t testing.TB, s3URL string, ci bool) *blob.Bucket {
	t.Helper()
	b, _ := openS3Prefix(t, s3URL, ci)
	return b
}

// openS3Prefix is openS3, also returning the bucket's key prefix.
func openS3Prefix(t testing.TB, s3URL string, ci bool) (*blob.Bucket, string) {
	t.Helper()
	if s3URL == "" {
		if ci {
			t.Fatalf("testkit: %s=1 but %s is not set: CI must run the s3 backend, see .ci/run", CIEnv, S3URLEnv)
		}
		t.Skip(s3Howto)
	}
	base, err := blob.OpenBucket(t.Context(), s3URL)
	if err != nil {
		t.Fatalf("testkit: open bucket %s: %v", s3URL, err)
	}
	prefix := s3KeyRoot + keySafe(t.Name()) + "-" + rand.Text() + "/"
	b := blob.PrefixedBucket(base, prefix) // takes over base
	t.Cleanup(func() {
		// t.Context is already canceled here.
		ctx := context.Background()
		if t.Failed() {
			t.Logf("testkit: keeping the objects under %q in %s", prefix, s3URL)
		} else if err := deleteAll(ctx, b); err != nil {
			t.Errorf("testkit: delete objects under %q: %v", prefix, err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("testkit: close bucket %s: %v", s3URL, err)
		}
	})
	return b, prefix
}

// deleteAll deletes every object in b. It lists first and deletes after, so
// that no backend has to list a prefix that is changing under it.
func deleteAll(ctx context.Context, b *blob.Bucket) error {
	var keys []string
	it := b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		keys = append(keys, obj.Key)
	}
	var errs []error
	for _, k := range keys {
		if err := b.Delete(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// keySafe turns a test name into one short path segment of an object key.
func keySafe(name string) string {
	const maxLen = 64
	s := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_', r == '.':
			return r
		default:
			return '_'
		}
	}, name)
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	return s
}

// OnS3 reports whether t is the "s3" leg of RunBuckets or
// RunBucketOpeners (or a subtest of it): tests draw fewer samples there,
// each costing requests to a server, where the local legs draw many.
func OnS3(t testing.TB) bool {
	name := t.Name()
	return strings.HasSuffix(name, "/s3") || strings.Contains(name, "/s3/")
}
