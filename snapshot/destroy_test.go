package snapshot

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/testkit"
)

// allNames lists every object in the bucket, sorted.
func allNames(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	names, err := listNames(t.Context(), b, "")
	require.NoError(t, err)
	return names
}

func withoutKeys(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool {
		return n == configName || len(n) >= len(keysPrefix) && n[:len(keysPrefix)] == keysPrefix
	})
}

// destroyFixture is a repository with a snapshot, a second raw key and
// a damaged object under keys/.
func destroyFixture(t *testing.T, b *blob.Bucket) (*Repo, KeyProvider) {
	t.Helper()
	ctx := t.Context()
	r, err := Init(ctx, b, testKey, testFormat, testOptions())
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	data := make([]byte, 200<<10)
	rand.Read(data)
	save(t, r, data)
	other := RawKey([32]byte{9, 9, 9})
	_, err = r.AddKey(ctx, other, "second key")
	require.NoError(t, err)
	require.NoError(t, putObject(ctx, b, keysPrefix+"damaged", []byte("not a key slot")))
	return r, other
}

func TestDestroyKeys(t *testing.T) {
	testkit.RunBuckets(t, func(t *testing.T, b *blob.Bucket) {
		ctx := t.Context()
		r, other := destroyFixture(t, b)
		before := allNames(t, b)
		require.Len(t, slices.DeleteFunc(slices.Clone(before), func(n string) bool { return n[:len(keysPrefix)] != keysPrefix }), 3)

		rep, err := r.DestroyKeys(ctx, DestroyOptions{Confirm: r.ID()})
		require.NoError(t, err)
		assert.Equal(t, r.ID(), rep.RepoID)
		assert.Len(t, rep.Deleted, 4, "three objects under keys/, then the config: %v", rep.Deleted)
		assert.Equal(t, configName, rep.Deleted[len(rep.Deleted)-1])
		assert.Contains(t, rep.Deleted, keysPrefix+"damaged")
		assert.True(t, rep.ConfigDeleted)
		// versitygw keeps no versions and locks nothing; file and mem
		// buckets are not S3.
		want := RetentionUnknown
		if strings.HasSuffix(t.Name(), "/s3") {
			want = RetentionOff
		}
		assert.Equal(t, want, rep.Versioning)
		assert.Equal(t, want, rep.ObjectLock)
		assert.Contains(t, rep.Warnings, outOfReach)
		t.Logf("report: %+v", rep)

		// The Repo is unusable and its keys are zeroed.
		_, err = r.Keys(ctx)
		assert.ErrorIs(t, err, ErrDestroyed)
		_, _, err = r.Save(ctx, bytes.NewReader([]byte("x")), Meta{})
		assert.ErrorIs(t, err, ErrDestroyed)
		_, err = r.DestroyKeys(ctx, DestroyOptions{Confirm: r.ID()})
		assert.ErrorIs(t, err, ErrDestroyed)
		for e, m := range r.kr().masters {
			assert.Equal(t, make([]byte, masterKeySize), m, "epoch %d", e)
			assert.Equal(t, [32]byte{}, *r.kr().enc[e], "epoch %d", e)
		}
		assert.Equal(t, [32]byte{}, r.kr().dataID)

		// No slot is left; every sealed object is, and no key opens it.
		in, err := Inspect(ctx, b)
		require.NoError(t, err)
		assert.False(t, in.Exists)
		assert.Empty(t, in.Slots)
		assert.Zero(t, in.Damaged)
		after := allNames(t, b)
		kept := append(withoutKeys(before), tombstoneName)
		slices.Sort(kept)
		assert.Equal(t, kept, withoutKeys(after), "packs, indexes and manifests stay, sealed")
		for _, k := range []KeyProvider{testKey, other} {
			_, err = Open(ctx, b, k, testOptions())
			assert.ErrorIs(t, err, ErrDestroyed)
		}
		// A new repository beside the remains would not read its index.
		_, err = Init(ctx, b, testKey, testFormat, testOptions())
		assert.ErrorIs(t, err, ErrDestroyed)
		assert.Contains(t, err.Error(), "delete them, or init under another prefix")
	})
}

func TestDestroyKeysKeepConfig(t *testing.T) {
	ctx := t.Context()
	b := memBucket(t)
	r, _ := destroyFixture(t, b)
	rep, err := r.DestroyKeys(ctx, DestroyOptions{Confirm: r.ID(), KeepConfig: true})
	require.NoError(t, err)
	assert.False(t, rep.ConfigDeleted)
	assert.Len(t, rep.Deleted, 3)
	in, err := Inspect(ctx, b)
	require.NoError(t, err)
	assert.True(t, in.Exists)
	assert.Empty(t, in.Slots)
	_, err = Open(ctx, b, testKey, testOptions())
	assert.ErrorIs(t, err, ErrDestroyed)
	assert.NotErrorIs(t, err, ErrWrongKey)
}

func TestDestroyKeysRefused(t *testing.T) {
	ctx := t.Context()
	b := memBucket(t)
	r, _ := destroyFixture(t, b)
	before := allNames(t, b)
	for _, confirm := range []string{"", "yes", r.ID()[:8], "00000000000000000000000000000000"} {
		_, err := r.DestroyKeys(ctx, DestroyOptions{Confirm: confirm})
		require.Error(t, err, "confirm %q", confirm)
		assert.Contains(t, err.Error(), r.ID(), "the error names the ID to give")
	}
	assert.Equal(t, before, allNames(t, b))
	_, err := r.Keys(ctx)
	assert.NoError(t, err, "a refused DestroyKeys leaves the Repo usable")

	ro, err := Open(ctx, b, testKey, Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	_, err = ro.DestroyKeys(ctx, DestroyOptions{Confirm: ro.ID()})
	assert.ErrorIs(t, err, ErrReadOnly)
	assert.Equal(t, before, allNames(t, b))

	require.NoError(t, r.Close())
	_, err = r.DestroyKeys(ctx, DestroyOptions{Confirm: r.ID()})
	assert.ErrorIs(t, err, ErrClosed)
	assert.Equal(t, before, allNames(t, b))
}

// TestDestroyKeysNoRepositoryWithoutTombstone: a bucket whose config is
// simply gone is still "no repository", not "destroyed".
func TestDestroyKeysNoRepositoryWithoutTombstone(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	initRepo(t, b, testFormat)
	require.NoError(t, b.Delete(ctx, configName))
	_, err := Open(ctx, b, testKey, testOptions())
	assert.ErrorIs(t, err, ErrNoRepository)
	assert.NotErrorIs(t, err, ErrDestroyed)
}

// TestDestroyKeysInterrupted: a DestroyKeys that fails partway reports
// what it deleted and leaves the Repo unusable; a slot that is left
// still opens the repository, and a second DestroyKeys finishes.
func TestDestroyKeysInterrupted(t *testing.T) {
	ctx := t.Context()
	b := memBucket(t)
	r, other := destroyFixture(t, b)
	deletes := 0
	r.fault = func(op, name string) error {
		if op == "delete" && strings.HasPrefix(name, keysPrefix) {
			if deletes++; deletes == 2 {
				return errors.New("injected")
			}
		}
		return nil
	}
	rep, err := r.DestroyKeys(ctx, DestroyOptions{Confirm: r.ID()})
	require.Error(t, err)
	assert.Len(t, rep.Deleted, 1)
	_, err = r.Keys(ctx)
	assert.ErrorIs(t, err, ErrDestroyed)

	var r2 *Repo
	for _, k := range []KeyProvider{testKey, other} {
		if r2, err = Open(ctx, b, k, testOptions()); err == nil {
			break
		}
	}
	require.NoError(t, err, "the slot left opens the repository")
	defer r2.Close()
	rep, err = r2.DestroyKeys(ctx, DestroyOptions{Confirm: r2.ID()})
	require.NoError(t, err)
	assert.Len(t, rep.Deleted, 3, "the two objects left under keys/, then the config")
	in, err := Inspect(ctx, b)
	require.NoError(t, err)
	assert.Empty(t, in.Slots)
	assert.Zero(t, in.Damaged)
}
