package snapshot

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/secrets/localsecrets"
)

// Tests of a hostile bucket: whoever can write to it plants or alters
// key slots. Open must stay bounded in time and memory, and altered
// metadata must not pass for the owner's.

// countingKeys counts Unwrap calls: the slots Open tried.
type countingKeys struct {
	KeyProvider
	tries atomic.Int32
}

func (c *countingKeys) Unwrap(ctx context.Context, params, wrapped, ad []byte) ([]byte, error) {
	c.tries.Add(1)
	return c.KeyProvider.Unwrap(ctx, params, wrapped, ad)
}

// plantSlot writes a passphrase slot with the given argon2id costs and a
// wrapped key that opens with nothing.
func plantSlot(t *testing.T, b *blob.Bucket, p PassphraseParams, created time.Time) string {
	t.Helper()
	s := KeySlot{Kind: passphraseKind, Label: "planted", Created: created, version: slotVersion,
		params: encodePassphraseParams(p, make([]byte, passphraseSaltSize)), wrapped: make([]byte, 60), mac: make([]byte, slotMACSize)}
	name := keysPrefix + randomName()
	require.NoError(t, b.WriteAll(context.Background(), name, encodeSlot(s), nil))
	return name
}

func TestHostileSlotCost(t *testing.T) {
	greedy := []struct {
		name string
		p    PassphraseParams
	}{
		{"1GiB x16", PassphraseParams{Time: 16, MemoryKiB: 1 << 20, Threads: 1}},
		{"memory over", PassphraseParams{Time: 1, MemoryKiB: MaxPassphraseParams().MemoryKiB + 1, Threads: 1}},
		{"time over", PassphraseParams{Time: MaxPassphraseParams().Time + 1, MemoryKiB: 64, Threads: 1}},
		{"threads over", PassphraseParams{Time: 1, MemoryKiB: 1 << 10, Threads: MaxPassphraseParams().Threads + 1}},
		{"4GiB", PassphraseParams{Time: 1, MemoryKiB: 1<<32 - 1, Threads: 255}},
	}
	for _, tc := range greedy {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			b := memBucket(t)
			initRepo(t, b, testFormat)
			name := plantSlot(t, b, tc.p, time.Now().Add(time.Hour))

			raw, err := b.ReadAll(ctx, name)
			require.NoError(t, err)
			_, err = decodeSlot(name, raw)
			require.ErrorIs(t, err, ErrSlotCost, "refused when decoded")
			var oe *ObjectError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, name, oe.Object)

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err = Open(ctx, b, testPassphrase("pw"), testOptions())
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, ErrSlotCost, "the only passphrase slot was refused untried")
			assert.NotErrorIs(t, err, ErrWrongKey)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "no argon2id memory was allocated")

			// The owner's slots still open around it.
			r, err := Open(ctx, b, testKey, testOptions())
			require.NoError(t, err)
			_, err = r.AddKey(ctx, testPassphrase("owner"), "owner")
			require.NoError(t, err)
			r.Close()
			r, err = Open(ctx, b, testPassphrase("owner"), testOptions())
			require.NoError(t, err)
			r.Close()
		})
	}
}

func TestHostileManySlots(t *testing.T) {
	ctx := t.Context()
	b := memBucket(t)
	r := initRepo(t, b, testFormat)
	owner, err := r.AddKey(ctx, testPassphrase("owner"), "owner")
	require.NoError(t, err)
	const planted = 100
	for i := range planted {
		// Older than the owner's slot.
		plantSlot(t, b, fastArgon, owner.Created.Add(-time.Duration(i+1)*time.Minute))
	}

	t.Run("wrong key tries at most MaxKeySlots", func(t *testing.T) {
		for _, limit := range []int{0, 4} {
			opts := testOptions()
			opts.MaxKeySlots = limit
			k := &countingKeys{KeyProvider: testPassphrase("wrong")}
			_, err := Open(ctx, b, k, opts)
			require.ErrorIs(t, err, ErrTooManySlots)
			want := limit
			if limit == 0 {
				want = defaultMaxKeySlots
			}
			assert.EqualValues(t, want, k.tries.Load())
			assert.Contains(t, err.Error(), "101 passphrase slots, the newest")
		}
	})
	t.Run("newest first finds the owner", func(t *testing.T) {
		k := &countingKeys{KeyProvider: testPassphrase("owner")}
		r2, err := Open(ctx, b, k, testOptions())
		require.NoError(t, err)
		r2.Close()
		assert.EqualValues(t, 1, k.tries.Load())
	})
	t.Run("slots claiming to be newer push it out", func(t *testing.T) {
		for i := range defaultMaxKeySlots {
			plantSlot(t, b, fastArgon, owner.Created.Add(time.Duration(i+1)*time.Minute))
		}
		k := &countingKeys{KeyProvider: testPassphrase("owner")}
		_, err := Open(ctx, b, k, testOptions())
		require.ErrorIs(t, err, ErrTooManySlots, "bounded: the owner raises MaxKeySlots or removes slots")
		assert.EqualValues(t, defaultMaxKeySlots, k.tries.Load())
		opts := testOptions()
		opts.MaxKeySlots = defaultMaxKeySlots + 1
		r2, err := Open(ctx, b, testPassphrase("owner"), opts)
		require.NoError(t, err)
		r2.Close()
	})
	t.Run("other kinds are not tried", func(t *testing.T) {
		k := &countingKeys{KeyProvider: RawKey([32]byte{9})}
		_, err := Open(ctx, b, k, testOptions())
		require.ErrorIs(t, err, ErrWrongKey)
		assert.EqualValues(t, 1, k.tries.Load())
	})
}

// rewriteSlot decodes the slot name, lets edit change it and writes it
// back with a valid checksum, as anyone with write access can.
func rewriteSlot(t *testing.T, b *blob.Bucket, name string, edit func(*KeySlot)) {
	t.Helper()
	ctx := context.Background()
	raw, err := b.ReadAll(ctx, name)
	require.NoError(t, err)
	s, err := decodeSlot(name, raw)
	require.NoError(t, err)
	edit(&s)
	require.NoError(t, b.WriteAll(ctx, name, encodeSlot(s), nil))
}

func TestTamperedSlotMetadata(t *testing.T) {
	sk, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	kms := localsecrets.NewKeeper(sk)
	defer kms.Close()
	cases := []struct {
		name  string
		keys  KeyProvider
		edit  func(*KeySlot)
		want  error
		label string
	}{
		{"label", testPassphrase("pw"), func(s *KeySlot) { s.Label = "ceo laptop" }, ErrCorrupt, ""},
		{"created", testPassphrase("pw"), func(s *KeySlot) { s.Created = s.Created.Add(time.Hour) }, ErrCorrupt, ""},
		{"keeper params", Keeper(kms), func(s *KeySlot) { s.params = []byte("x") }, ErrCorrupt, ""},
		{"passphrase params", testPassphrase("pw"), func(s *KeySlot) {
			p, salt, err := decodePassphraseParams(s.params)
			require.NoError(t, err)
			p.Time++
			s.params = encodePassphraseParams(p, salt)
		}, ErrWrongKey, "the costs feed the wrapping key"},
		{"downgraded to format 1", testPassphrase("pw"), func(s *KeySlot) {
			s.version, s.mac, s.Label = 1, nil, "ceo laptop"
		}, ErrWrongKey, "the wrapped key is bound to format 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			b := memBucket(t)
			r := initRepo(t, b, testFormat)
			s, err := r.AddKey(ctx, tc.keys, "ops")
			require.NoError(t, err)
			rewriteSlot(t, b, keysPrefix+s.ID, tc.edit)

			_, err = Open(ctx, b, tc.keys, testOptions())
			require.ErrorIs(t, err, tc.want, tc.label)
			if tc.want == ErrCorrupt {
				assert.NotErrorIs(t, err, ErrWrongKey)
				var oe *ObjectError
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, keysPrefix+s.ID, oe.Object)
			}
			// The untouched slot opens, and lists the altered one
			// unverified.
			r2, err := Open(ctx, b, testKey, testOptions())
			require.NoError(t, err)
			defer r2.Close()
			slots, err := r2.Keys(ctx)
			require.NoError(t, err)
			require.Len(t, slots, 2)
			for _, k := range slots {
				assert.Equal(t, k.ID != s.ID, k.Verified, k.ID)
			}
		})
	}
}

// TestFormat1Slot: slots written before metadata was authenticated still
// open, can still be relabelled in the bucket (documented), are listed
// unverified, and RotateKey replaces them with a format 2 slot.
func TestFormat1Slot(t *testing.T) {
	ctx := t.Context()
	b := memBucket(t)
	r := initRepo(t, b, testFormat)
	pass := testPassphrase("old")
	old := KeySlot{ID: randomName(), Kind: passphraseKind, Label: "old", Created: time.Unix(1e9, 0).UTC(), version: 1}
	var err error
	old.params, old.wrapped, err = pass.Wrap(ctx, r.kr().masters[0], slotAD(r.kr().repoID, old.ID, 1))
	require.NoError(t, err)
	require.NoError(t, b.WriteAll(ctx, keysPrefix+old.ID, encodeSlot(old), nil))
	rewriteSlot(t, b, keysPrefix+old.ID, func(s *KeySlot) { s.Label = "relabelled" })

	r2, err := Open(ctx, b, pass, testOptions())
	require.NoError(t, err, "format 1 slots open, relabelled or not")
	defer r2.Close()
	slots, err := r2.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, slots, 2)
	for _, s := range slots {
		assert.Equal(t, s.ID != old.ID, s.Verified, s.ID)
	}

	in, err := Inspect(ctx, b)
	require.NoError(t, err)
	assert.Contains(t, in.String(), `unverified label "relabelled"`)
	for _, s := range in.Slots {
		assert.False(t, s.Verified, "Inspect has no key")
	}

	s, err := r2.RotateKey(ctx, old.ID, pass, "old")
	require.NoError(t, err)
	raw, err := b.ReadAll(ctx, keysPrefix+s.ID)
	require.NoError(t, err)
	got, err := decodeSlot(keysPrefix+s.ID, raw)
	require.NoError(t, err)
	assert.Equal(t, uint16(2), got.version) // a never-rotated repository writes format 2
	r3, err := Open(ctx, b, pass, testOptions())
	require.NoError(t, err)
	r3.Close()
}

func TestPassphraseWithLimits(t *testing.T) {
	d := DefaultPassphraseParams()
	cases := []struct {
		name string
		p    PassphraseParams
		want error
	}{
		{"default", d, nil},
		{"minimum", MinPassphraseParams(), nil},
		{"maximum", MaxPassphraseParams(), nil},
		{"t=1 8KiB", PassphraseParams{Time: 1, MemoryKiB: 8, Threads: 1}, ErrWeakPassphrase},
		{"t=2", PassphraseParams{Time: 2, MemoryKiB: d.MemoryKiB, Threads: 4}, ErrWeakPassphrase},
		{"32MiB", PassphraseParams{Time: 3, MemoryKiB: 32 << 10, Threads: 4}, ErrWeakPassphrase},
		{"no lanes", PassphraseParams{Time: 3, MemoryKiB: d.MemoryKiB}, ErrWeakPassphrase},
		{"1GiB", PassphraseParams{Time: 3, MemoryKiB: 1 << 20, Threads: 4}, ErrSlotCost},
		{"t=16", PassphraseParams{Time: 16, MemoryKiB: d.MemoryKiB, Threads: 4}, ErrSlotCost},
		{"64 lanes", PassphraseParams{Time: 3, MemoryKiB: d.MemoryKiB, Threads: 64}, ErrSlotCost},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := PassphraseWith("pw", tc.p)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, passphraseKind, k.Kind())
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, k)
		})
	}
}

// TestOversizedObjects: objects read whole before authentication are
// refused by size, before anything is allocated for them.
func TestOversizedObjects(t *testing.T) {
	ctx := t.Context()
	b := memBucket(t)
	initRepo(t, b, testFormat)
	big := make([]byte, maxSlotBytes+1)
	require.NoError(t, b.WriteAll(ctx, keysPrefix+"big", big, nil))
	_, err := getObjectMax(ctx, b, keysPrefix+"big", maxSlotBytes)
	require.ErrorIs(t, err, ErrCorrupt)
	assert.True(t, strings.Contains(err.Error(), "expected"), err.Error())
	in, err := Inspect(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, 1, in.Damaged)
	r, err := Open(ctx, b, testKey, testOptions())
	require.NoError(t, err)
	r.Close()
}
