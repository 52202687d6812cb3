package testkit

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// The credentials of a user of the S3 test bucket who may get, put and
// list its objects but never delete them: an archiver's least privilege.
// .ci/run makes the user in versitygw's IAM and sets these.
const (
	S3WriteOnlyKeyEnv    = "CONTINUITY_TEST_S3_WO_ACCESS_KEY_ID"
	S3WriteOnlySecretEnv = "CONTINUITY_TEST_S3_WO_SECRET_ACCESS_KEY"
)

// WriteOnlyBucket is a backend for tests of credentials that may not
// delete. Open returns a new, empty bucket with full credentials and a
// view of the same objects whose deletes the store denies with
// gcerrors.PermissionDenied; the caller must close neither.
type WriteOnlyBucket struct {
	Name string
	Open func(t testing.TB) (full, writeOnly *blob.Bucket)
}

// WriteOnlyBuckets returns the backends "file" and "mem", whose deletes
// FaultBucket denies (ErrDenied), and "s3", where versitygw denies them
// to its write-only user (skipped, or failed under CIEnv=1, when the
// S3 variables are not all set).
func WriteOnlyBuckets(t testing.TB) []WriteOnlyBucket {
	t.Helper()
	deny := func(full *blob.Bucket) *blob.Bucket {
		wo := FaultBucket(full, func(_ context.Context, op BucketOp) error {
			if op.Kind == "delete" {
				return ErrDenied
			}
			return nil
		})
		t.Cleanup(func() { wo.Close() })
		return wo
	}
	s3URL, ci := os.Getenv(S3URLEnv), os.Getenv(CIEnv) == "1"
	return []WriteOnlyBucket{
		{Name: "file", Open: func(t testing.TB) (*blob.Bucket, *blob.Bucket) { b := openFile(t); return b, deny(b) }},
		{Name: "mem", Open: func(t testing.TB) (*blob.Bucket, *blob.Bucket) { b := openMem(t); return b, deny(b) }},
		{Name: "s3", Open: func(t testing.TB) (*blob.Bucket, *blob.Bucket) {
			t.Helper()
			key, secret := os.Getenv(S3WriteOnlyKeyEnv), os.Getenv(S3WriteOnlySecretEnv)
			if s3URL != "" && (key == "" || secret == "") {
				if ci {
					t.Fatalf("testkit: %s is set but %s and %s are not: .ci/run sets them", S3URLEnv, S3WriteOnlyKeyEnv, S3WriteOnlySecretEnv)
				}
				t.Skipf("testkit: %s and %s are not set (.ci/run makes a write-only versitygw user and sets them)", S3WriteOnlyKeyEnv, S3WriteOnlySecretEnv)
			}
			full, prefix := openS3Prefix(t, s3URL, ci)
			return full, openS3As(t, s3URL, prefix, key, secret)
		}},
	}
}

// openS3As opens the bucket of s3URL under prefix with the given
// credentials instead of the environment's.
func openS3As(t testing.TB, s3URL, prefix, key, secret string) *blob.Bucket {
	t.Helper()
	u, err := url.Parse(s3URL)
	if err != nil {
		t.Fatalf("testkit: %s: %v", S3URLEnv, err)
	}
	q := u.Query()
	region := q.Get("region")
	if region == "" {
		region = "us-east-1"
	}
	client := s3.New(s3.Options{
		Region:       region,
		UsePathStyle: q.Get("use_path_style") == "true",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, Source: "testkit"}, nil
		}),
		BaseEndpoint: endpoint(q.Get("endpoint")),
	})
	b, err := s3blob.OpenBucketV2(t.Context(), client, u.Host, nil)
	if err != nil {
		t.Fatalf("testkit: open bucket %s as %s: %v", u.Host, key, err)
	}
	b = blob.PrefixedBucket(b, prefix)
	t.Cleanup(func() { b.Close() })
	return b
}

func endpoint(e string) *string {
	if e == "" {
		return nil
	}
	return aws.String(e)
}

// LockedS3Bucket returns a new S3 bucket of its own with Object Lock
// enabled (and so versioning), on the S3 test server; it skips the test
// when S3URLEnv is unset (fails it under CIEnv=1). Its objects are left
// when the test ends: locked ones cannot be deleted before their dates
// (.ci/run's server removes everything when it stops).
func LockedS3Bucket(t testing.TB) *blob.Bucket {
	t.Helper()
	return openURL(t, LockedS3URL(t))
}

// LockedS3URL is LockedS3Bucket, returning the new bucket's URL.
func LockedS3URL(t testing.TB) string {
	t.Helper()
	s3URL := os.Getenv(S3URLEnv)
	if s3URL == "" {
		if os.Getenv(CIEnv) == "1" {
			t.Fatalf("testkit: %s=1 but %s is not set: CI must run the s3 backend, see .ci/run", CIEnv, S3URLEnv)
		}
		t.Skip(s3Howto)
	}
	u, err := url.Parse(s3URL)
	if err != nil {
		t.Fatalf("testkit: %s: %v", S3URLEnv, err)
	}
	base, err := blob.OpenBucket(t.Context(), s3URL)
	if err != nil {
		t.Fatalf("testkit: open bucket %s: %v", s3URL, err)
	}
	defer base.Close()
	var client *s3.Client
	if !base.As(&client) {
		t.Fatalf("testkit: %s is not an S3 bucket", s3URL)
	}
	name := "locked-" + strings.ToLower(rand.Text()[:12])
	if _, err := client.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &name, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatalf("testkit: create bucket %s with Object Lock: %v (versitygw needs --versioning-dir)", name, err)
	}
	u.Host = name
	return u.String()
}

// ObjectLockOf returns the S3 Object Lock date and mode of the object
// name in b (zero and "" if it has none).
func ObjectLockOf(t testing.TB, b *blob.Bucket, name string) (time.Time, string) {
	t.Helper()
	attrs, err := b.Attributes(context.Background(), name)
	if err != nil {
		t.Fatalf("testkit: attributes of %s: %v", name, err)
	}
	var head s3.HeadObjectOutput
	if !attrs.As(&head) {
		t.Fatalf("testkit: %s is not in an S3 bucket", name)
	}
	if head.ObjectLockRetainUntilDate == nil {
		return time.Time{}, string(head.ObjectLockMode)
	}
	return *head.ObjectLockRetainUntilDate, string(head.ObjectLockMode)
}

// FirstKey returns the name of the first object under prefix in b.
func FirstKey(t testing.TB, b *blob.Bucket, prefix string) string {
	t.Helper()
	o, err := b.List(&blob.ListOptions{Prefix: prefix}).Next(context.Background())
	if err != nil {
		t.Fatalf("testkit: no object under %s: %v", prefix, err)
	}
	return o.Key
}
