package snapshot

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"
)

var fastArgon = PassphraseParams{Time: 1, MemoryKiB: 64, Threads: 1}

// testPassphrase is a passphrase provider with costs far below what
// PassphraseWith accepts, so that tests run fast. Test-only: the package
// has no public path to such slots.
func testPassphrase(p string) KeyProvider { return passphrase{p: p, params: fastArgon} }

func TestKeySlots(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	pass := testPassphrase("correct horse")
	r, err := Init(ctx, b, pass, testFormat, testOptions())
	require.NoError(t, err)
	defer r.Close()
	m, _ := save(t, r, []byte("state v1"))

	sk, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	k := localsecrets.NewKeeper(sk)
	defer k.Close()
	keeperSlot, err := r.AddKey(ctx, Keeper(k), "kms")
	require.NoError(t, err)
	rawSlot, err := r.AddKey(ctx, testKey, "host secret")
	require.NoError(t, err)

	objectsBefore := objectNames(t, r)
	for _, kp := range []KeyProvider{pass, Keeper(k), testKey} {
		r2, err := Open(ctx, b, kp, testOptions())
		require.NoError(t, err, kp.Kind())
		assert.Equal(t, "state v1", string(restore(t, r2, m.ID)))
		r2.Close()
	}
	// A keeper with another key, a wrong passphrase, a wrong raw key.
	other, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	ok2 := localsecrets.NewKeeper(other)
	defer ok2.Close()
	for _, kp := range []KeyProvider{Keeper(ok2), testPassphrase("wrong"), RawKey([32]byte{7})} {
		_, err := Open(ctx, b, kp, testOptions())
		assert.ErrorIs(t, err, ErrWrongKey, kp.Kind())
	}

	// Rotate the passphrase: old one stops working, new one works.
	slots, err := r.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, slots, 3)
	newPass := testPassphrase("battery staple")
	_, err = r.RotateKey(ctx, r.SlotID(), newPass, "rotated")
	require.NoError(t, err)
	_, err = Open(ctx, b, pass, testOptions())
	assert.ErrorIs(t, err, ErrWrongKey)
	r3, err := Open(ctx, b, newPass, testOptions())
	require.NoError(t, err)
	r3.Close()

	// No data object was rewritten by any of it.
	assert.Equal(t, objectsBefore, objectNames(t, r))

	require.NoError(t, r.RemoveKey(ctx, keeperSlot.ID))
	_, err = Open(ctx, b, Keeper(k), testOptions())
	assert.ErrorIs(t, err, ErrWrongKey)
	slots, err = r.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, slots, 2)
	require.NoError(t, r.RemoveKey(ctx, rawSlot.ID))
	slots, err = r.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, slots, 1)
	assert.ErrorIs(t, r.RemoveKey(ctx, slots[0].ID), ErrLastKey)
}

func TestDefaultPassphraseParams(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id with 64 MiB")
	}
	ctx := context.Background()
	b := memBucket(t)
	r, err := Init(ctx, b, Passphrase("pw"), testFormat, testOptions())
	require.NoError(t, err)
	r.Close()
	r, err = Open(ctx, b, Passphrase("pw"), testOptions())
	require.NoError(t, err)
	r.Close()
}

func TestKeeperURL(t *testing.T) {
	ctx := context.Background()
	sk, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	k, err := secrets.OpenKeeper(ctx, "base64key://"+encodeKey(sk))
	require.NoError(t, err)
	defer k.Close()
	b := memBucket(t)
	r, err := Init(ctx, b, Keeper(k), testFormat, testOptions())
	require.NoError(t, err)
	r.Close()
	r, err = Open(ctx, b, Keeper(k), testOptions())
	require.NoError(t, err)
	r.Close()
}

// objectNames lists every object except key slots and locks.
func objectNames(t testing.TB, r *Repo) []string {
	var all []string
	for _, p := range []string{configName, dataPrefix, indexPrefix, snapsPrefix} {
		n, err := listNames(context.Background(), r.bucket, p)
		require.NoError(t, err)
		all = append(all, n...)
	}
	return all
}

func encodeKey(k [32]byte) string { return base64.URLEncoding.EncodeToString(k[:]) }

// TestJunkObjects: a junk key slot or lock, planted by anyone who can
// write to the bucket, must not lock the key holders out.
func TestJunkObjects(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	r := initRepo(t, b, testFormat)
	require.NoError(t, b.WriteAll(ctx, keysPrefix+"junk", []byte("not a slot"), nil))
	require.NoError(t, b.WriteAll(ctx, locksPrefix+"junk", []byte("not a lock"), nil))

	r2, err := Open(ctx, b, testKey, testOptions())
	require.NoError(t, err, "a damaged slot is skipped")
	defer r2.Close()
	slots, err := r2.Keys(ctx)
	require.NoError(t, err)
	assert.Len(t, slots, 1)
	m, _ := save(t, r2, []byte("still works"))
	assert.Equal(t, "still works", string(restore(t, r, m.ID)))
	_, err = r2.Prune(ctx, PruneOptions{})
	require.NoError(t, err, "an undecodable lock stands for no live operation")
	n, err := r2.Unlock(ctx, true)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	_, err = Open(ctx, b, RawKey([32]byte{42}), testOptions())
	require.ErrorIs(t, err, ErrWrongKey)
	assert.Contains(t, err.Error(), "damaged slots skipped")

	// A slot asking for absurd argon2 costs is refused, not run.
	_, err = PassphraseWith("pw", PassphraseParams{Time: 3, MemoryKiB: 4 << 20, Threads: 1})
	require.ErrorIs(t, err, ErrSlotCost)
	_, err = r.AddKey(ctx, passphrase{p: "pw", params: PassphraseParams{Time: 1, MemoryKiB: 4 << 20, Threads: 1}}, "greedy")
	require.ErrorIs(t, err, ErrSlotCost)
}

// lockSpy is a restore writer that checks, while the restore runs, that
// no lock object exists.
type lockSpy struct {
	t *testing.T
	r *Repo
	bytes.Buffer
}

func (s *lockSpy) Write(p []byte) (int, error) {
	locks, err := listNames(context.Background(), s.r.bucket, locksPrefix)
	require.NoError(s.t, err)
	assert.Empty(s.t, locks)
	return s.Buffer.Write(p)
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	w := initRepo(t, b, testFormat)
	m, _ := save(t, w, []byte("archived state"))

	opts := testOptions()
	opts.ReadOnly = true
	r, err := Open(ctx, b, testKey, opts)
	require.NoError(t, err)
	defer r.Close()
	spy := &lockSpy{t: t, r: r}
	require.NoError(t, r.Restore(ctx, m.ID, spy))
	assert.Equal(t, "archived state", spy.String())
	rep, err := r.Verify(ctx, VerifyOptions{ReadData: true})
	require.NoError(t, err)
	assert.True(t, rep.OK())

	_, _, err = r.Save(ctx, bytes.NewReader([]byte("x")), Meta{})
	assert.ErrorIs(t, err, ErrReadOnly)
	_, err = r.Prune(ctx, PruneOptions{})
	assert.ErrorIs(t, err, ErrReadOnly)
	assert.ErrorIs(t, r.Remove(ctx, m.ID), ErrReadOnly)
	_, err = r.Forget(ctx, Policy{Last: 1}, false)
	assert.ErrorIs(t, err, ErrReadOnly)
	_, err = r.AddKey(ctx, testKey, "x")
	assert.ErrorIs(t, err, ErrReadOnly)
	_, err = r.RepairIndex(ctx)
	assert.ErrorIs(t, err, ErrReadOnly)
	ms, err := r.List(ctx)
	require.NoError(t, err)
	assert.Len(t, ms, 1)
}
