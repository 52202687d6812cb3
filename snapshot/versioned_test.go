package snapshot

import (
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestDestroyKeysVersionedBucket: on an S3 bucket with versioning on,
// DestroyKeys says so and warns, and the warning is true: an old version
// of a key slot is still there.
// Needs the S3 server of .ci/run (started with a versioning directory).
func TestDestroyKeysVersionedBucket(t *testing.T) {
	ctx := t.Context()
	raw := os.Getenv(testkit.S3URLEnv)
	if raw == "" {
		if os.Getenv(testkit.CIEnv) != "" {
			t.Fatalf("%s is not set", testkit.S3URLEnv)
		}
		t.Skip("needs the S3 server: .ci/run with-s3 go test ./snapshot -run TestDestroyKeysVersionedBucket")
	}
	u, err := url.Parse(raw)
	require.NoError(t, err)
	base, err := blob.OpenBucket(ctx, raw)
	require.NoError(t, err)
	defer base.Close()
	var client *s3.Client
	require.True(t, base.As(&client))
	name := "versioned-" + strings.ToLower(rand.Text()[:12])
	_, err = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name})
	require.NoError(t, err)
	_, err = client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &name,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	require.NoError(t, err, "the S3 server must allow versioning (versitygw --versioning-dir)")
	u.Host = name
	b, err := blob.OpenBucket(ctx, u.String())
	require.NoError(t, err)
	defer b.Close()

	r, err := Init(ctx, b, testKey, testFormat, testOptions())
	require.NoError(t, err)
	save(t, r, []byte("state the owner wants gone"))
	slots, err := r.Keys(ctx)
	require.NoError(t, err)
	rep, err := r.DestroyKeys(ctx, DestroyOptions{Confirm: r.ID()})
	require.NoError(t, err)
	r.Close()
	assert.Equal(t, RetentionEnabled, rep.Versioning)
	found := false
	for _, w := range rep.Warnings {
		found = found || strings.Contains(w, "versioning enabled") && strings.Contains(w, "old versions of keys/")
	}
	assert.True(t, found, "warnings %q", rep.Warnings)
	_, err = Open(ctx, b, testKey, testOptions())
	assert.ErrorIs(t, err, ErrDestroyed)

	// What the warning is about: the slot's old version is still there.
	key := keysPrefix + slots[0].ID
	vs, err := client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &name, Prefix: &key})
	require.NoError(t, err)
	var old *string
	for _, v := range vs.Versions {
		if v.Key != nil && *v.Key == key {
			old = v.VersionId
		}
	}
	require.NotNil(t, old, "versions %+v", vs)
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &name, Key: &key, VersionId: old})
	require.NoError(t, err)
	got.Body.Close()
	t.Logf("old version %s of %s survives DestroyKeys, as the report warns: %s", *old, key, fmt.Sprint(rep.Warnings))
}
