package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
)

// epochClock is a settable clock for KeyCheckInterval and retirement.
type epochClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *epochClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *epochClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func epochOptions(c *epochClock) Options {
	o := testOptions()
	o.Now = c.now
	o.KeyCheckInterval = time.Minute
	return o
}

func randomState(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(16)) // compressible, many distinct chunks
	}
	return b
}

// objectEpochs returns each sealed object's key epoch (key slots, locks
// and the tombstone have none).
func objectEpochs(t *testing.T, b *blob.Bucket) map[string]uint32 {
	t.Helper()
	ctx := t.Context()
	out := map[string]uint32{}
	it := b.List(nil)
	for {
		o, err := it.Next(ctx)
		if err != nil {
			break
		}
		if strings.HasPrefix(o.Key, keysPrefix) || strings.HasPrefix(o.Key, locksPrefix) || o.Key == tombstoneName {
			continue
		}
		raw, err := b.ReadAll(ctx, o.Key)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(raw), headerSize, o.Key)
		out[o.Key] = leU32(raw[11:15])
	}
	return out
}

// slotCopies returns the key slot objects now in the bucket, as a
// versioned bucket or an old copy would keep them.
func slotCopies(t *testing.T, b *blob.Bucket) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	names, err := listNames(t.Context(), b, keysPrefix)
	require.NoError(t, err)
	for _, n := range names {
		raw, err := b.ReadAll(t.Context(), n)
		require.NoError(t, err)
		out[n] = raw
	}
	return out
}

// putBackOnly replaces every key slot by the given copies.
func putBackOnly(t *testing.T, b *blob.Bucket, slots map[string][]byte) {
	t.Helper()
	names, err := listNames(t.Context(), b, keysPrefix)
	require.NoError(t, err)
	for _, n := range names {
		require.NoError(t, b.Delete(t.Context(), n))
	}
	for n, raw := range slots {
		require.NoError(t, b.WriteAll(t.Context(), n, raw, nil))
	}
}

// TestRotateMaster: after rotation new objects are sealed under the new
// epoch and open only with its key; what was sealed before stays
// readable; a slot kept from before opens the old epoch only.
func TestRotateMaster(t *testing.T) {
	ctx := t.Context()
	clock := &epochClock{t: time.Unix(1.7e9, 0)}
	b := memBucket(t)
	r, err := Init(ctx, b, testKey, testFormat, epochOptions(clock))
	require.NoError(t, err)
	defer r.Close()
	stateA := randomState(1, 300<<10)
	mA, _ := save(t, r, stateA)
	_, err = r.PutSealed(ctx, "wal/a", []byte("prefix"), []byte("sealed before"))
	require.NoError(t, err)
	before := slotCopies(t, b)
	assert.Equal(t, []uint32{0}, r.Epochs())

	rep, err := r.RotateMaster(ctx, RotateOptions{})
	require.NoError(t, err)
	assert.Equal(t, uint32(1), rep.Epoch)
	assert.Len(t, rep.Slots, 1)
	assert.Len(t, rep.Removed, 1)
	assert.Equal(t, []uint32{0, 1}, r.Epochs())
	assert.Equal(t, rep.Slots[0].ID, r.SlotID())

	stateB := append(randomState(2, 200<<10), stateA[:100<<10]...)
	mB, _ := save(t, r, stateB)
	_, err = r.PutSealed(ctx, "wal/b", []byte("prefix"), []byte("sealed after"))
	require.NoError(t, err)
	epochs := objectEpochs(t, b)
	assert.Equal(t, uint32(1), epochs[snapsPrefix+mB.ID.String()], "a manifest written after rotation")
	assert.Equal(t, uint32(0), epochs[snapsPrefix+mA.ID.String()])
	assert.Equal(t, uint32(1), epochs["wal/b"])
	assert.Equal(t, uint32(1), epochs[epochsName(1)])

	// The rotated key, freshly opened, reads both epochs.
	r2, err := Open(ctx, b, testKey, epochOptions(clock))
	require.NoError(t, err)
	defer r2.Close()
	assert.Equal(t, stateA, restore(t, r2, mA.ID))
	assert.Equal(t, stateB, restore(t, r2, mB.ID))
	_, body, err := r2.GetSealed(ctx, "wal/a", 6, 1<<10)
	require.NoError(t, err)
	assert.Equal(t, "sealed before", string(body))
	slots, err := r2.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, slots, 1)
	assert.True(t, slots[0].Verified)
	assert.Equal(t, uint16(3), slots[0].version)

	// The slot from before the rotation opens epoch 0 only: nothing
	// sealed after it.
	current := slotCopies(t, b)
	putBackOnly(t, b, before)
	_, err = Open(ctx, b, testKey, epochOptions(clock))
	assert.ErrorIs(t, err, ErrKeyEpoch, "the index written after rotation does not open")
	assert.Contains(t, err.Error(), "from before a master-key rotation")
	var repoID [repoIDSize]byte
	copy(repoID[:], r.kr().repoID[:])
	oldKeys, _, _, err := openKeys(ctx, b, repoID, testKey, 16)
	require.NoError(t, err)
	assert.Equal(t, []uint32{0}, oldKeys.epochs())
	for id, want := range map[ID]error{mA.ID: nil, mB.ID: ErrKeyEpoch} {
		raw, err := b.ReadAll(ctx, snapsPrefix+id.String())
		require.NoError(t, err)
		_, err = oldKeys.openObject(snapsPrefix+id.String(), kindManifest, 0, raw)
		if want == nil {
			assert.NoError(t, err)
		} else {
			assert.ErrorIs(t, err, want)
		}
	}
	putBackOnly(t, b, current)
}

// TestRotateMasterSlots: every slot is re-wrapped with its own key, or
// dropped only when asked; a wrong key for a slot stops the rotation
// before anything is written.
func TestRotateMasterSlots(t *testing.T) {
	ctx := t.Context()
	clock := &epochClock{t: time.Unix(1.7e9, 0)}
	b := memBucket(t)
	r, err := Init(ctx, b, testKey, testFormat, epochOptions(clock))
	require.NoError(t, err)
	defer r.Close()
	other := RawKey([32]byte{9})
	s2, err := r.AddKey(ctx, other, "recovery")
	require.NoError(t, err)

	_, err = r.RotateMaster(ctx, RotateOptions{})
	require.ErrorIs(t, err, ErrSlotsLeft)
	assert.Contains(t, err.Error(), s2.ID)
	_, err = r.RotateMaster(ctx, RotateOptions{Keys: map[string]KeyProvider{s2.ID: RawKey([32]byte{8})}})
	require.ErrorIs(t, err, ErrWrongKey)
	assert.Equal(t, []uint32{0}, r.Epochs(), "nothing rotated")

	rep, err := r.RotateMaster(ctx, RotateOptions{Keys: map[string]KeyProvider{s2.ID: other}})
	require.NoError(t, err)
	assert.Len(t, rep.Slots, 2)
	for _, k := range []KeyProvider{testKey, other} {
		o, err := Open(ctx, b, k, epochOptions(clock))
		require.NoError(t, err)
		assert.Equal(t, []uint32{0, 1}, o.Epochs())
		o.Close()
	}
	// A second rotation keeps every older epoch; DropOthers drops the
	// recovery slot.
	rep, err = r.RotateMaster(ctx, RotateOptions{DropOthers: true})
	require.NoError(t, err)
	assert.Equal(t, uint32(2), rep.Epoch)
	assert.Len(t, rep.Slots, 1)
	_, err = Open(ctx, b, other, epochOptions(clock))
	assert.ErrorIs(t, err, ErrWrongKey)
	o, err := Open(ctx, b, testKey, epochOptions(clock))
	require.NoError(t, err)
	assert.Equal(t, []uint32{0, 1, 2}, o.Epochs())
	o.Close()
}

// rotatedUnderAnother opens a repository twice, as two processes would,
// and rotates its master key through the first.
func rotatedUnderAnother(t *testing.T) (clock *epochClock, b *blob.Bucket, r1, r2 *Repo) {
	t.Helper()
	ctx := t.Context()
	clock = &epochClock{t: time.Unix(1.7e9, 0)}
	b = memBucket(t)
	r1, err := Init(ctx, b, testKey, testFormat, epochOptions(clock))
	require.NoError(t, err)
	t.Cleanup(func() { r1.Close() })
	r2, err = Open(ctx, b, testKey, epochOptions(clock))
	require.NoError(t, err)
	t.Cleanup(func() { r2.Close() })
	_, err = r1.RotateMaster(ctx, RotateOptions{})
	require.NoError(t, err)
	return clock, b, r1, r2
}

// TestRotationReachesOtherWriters: a Repo opened before another process
// rotated seals under the new epoch once KeyCheckInterval has passed.
func TestRotationReachesOtherWriters(t *testing.T) {
	ctx := t.Context()
	clock, b, r1, r2 := rotatedUnderAnother(t)
	_, err := r2.PutSealed(ctx, "wal/1", nil, []byte("x"))
	require.NoError(t, err)
	clock.add(time.Minute)
	_, err = r2.PutSealed(ctx, "wal/2", nil, []byte("x"))
	require.NoError(t, err)
	epochs := objectEpochs(t, b)
	assert.Equal(t, uint32(0), epochs["wal/1"], "within KeyCheckInterval")
	assert.Equal(t, uint32(1), epochs["wal/2"], "after KeyCheckInterval")
	assert.Equal(t, r1.SlotID(), r2.SlotID())
}

// TestRotationReachesOtherReaders: a Repo opened before another process
// rotated reads what is sealed under the new epoch at once: meeting an
// epoch it does not hold, it looks for the new keys.
func TestRotationReachesOtherReaders(t *testing.T) {
	ctx := t.Context()
	_, _, r1, r2 := rotatedUnderAnother(t)
	state := randomState(3, 100<<10)
	m, _ := save(t, r1, state)
	_, err := r1.PutSealed(ctx, "wal/new", nil, []byte("after"))
	require.NoError(t, err)

	_, body, err := r2.GetSealed(ctx, "wal/new", 0, 1<<10)
	require.NoError(t, err)
	assert.Equal(t, "after", string(body))
	assert.Equal(t, []uint32{0, 1}, r2.Epochs())
	assert.Equal(t, state, restore(t, r2, m.ID))
}

// reencryptFixture builds a repository with snapshots, sealed objects of
// two layouts and index objects under epoch 0, rotated to epoch 1, with
// one more snapshot under epoch 1.
type reencryptFixture struct {
	b      *blob.Bucket
	clock  *epochClock
	states map[ID][]byte
	sealed map[string]string
	before map[string][]byte // the slots before rotation
}

func newReencryptFixture(t *testing.T) *reencryptFixture {
	ctx := t.Context()
	f := &reencryptFixture{b: memBucket(t), clock: &epochClock{t: time.Unix(1.7e9, 0)}, states: map[ID][]byte{}, sealed: map[string]string{}}
	r, err := Init(ctx, f.b, testKey, testFormat, epochOptions(f.clock))
	require.NoError(t, err)
	defer r.Close()
	for i := range 3 {
		s := randomState(uint64(10+i), 150<<10)
		m, _ := save(t, r, s)
		f.states[m.ID] = s
	}
	for i := range 3 {
		name := fmt.Sprintf("wal/seg-%d", i)
		_, err := r.PutSealed(ctx, name, []byte("0123456789"), []byte("records "+name))
		require.NoError(t, err)
		f.sealed[name] = "records " + name
		_, err = r.PutSealed(ctx, "wal/head/"+name[8:], nil, []byte("head "+name))
		require.NoError(t, err)
		f.sealed["wal/head/"+name[8:]] = "head " + name
	}
	f.before = slotCopies(t, f.b)
	_, err = r.RotateMaster(ctx, RotateOptions{})
	require.NoError(t, err)
	s := randomState(20, 100<<10)
	m, _ := save(t, r, s)
	f.states[m.ID] = s
	return f
}

func (f *reencryptFixture) prefix(name string) (int, bool) {
	switch {
	case strings.HasPrefix(name, "wal/head/"):
		return 0, true
	case strings.HasPrefix(name, "wal/seg-"):
		return 10, true
	}
	return 0, false
}

// check opens the repository afresh and reads everything.
func (f *reencryptFixture) check(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	r, err := Open(ctx, f.b, testKey, epochOptions(f.clock))
	require.NoError(t, err)
	defer r.Close()
	for id, s := range f.states {
		require.Equal(t, s, restore(t, r, id), "snapshot %s", id.Short())
	}
	for name, want := range f.sealed {
		p := 10
		if strings.HasPrefix(name, "wal/head/") {
			p = 0
		}
		_, body, err := r.GetSealed(ctx, name, p, 1<<10)
		require.NoError(t, err, name)
		require.Equal(t, want, string(body))
	}
	rep, err := r.Verify(ctx, VerifyOptions{ReadData: true})
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
}

// TestReencryptResumes interrupts the pass at every object it writes or
// deletes; after each interruption everything still reads, and a second
// pass finishes the work. Then Retire deletes the old epoch's key: the
// slot from before the rotation opens nothing that remains.
func TestReencryptResumes(t *testing.T) {
	ctx := t.Context()
	errStop := errors.New("interrupted")
	for stop := 1; ; stop++ {
		f := newReencryptFixture(t)
		r, err := Open(ctx, f.b, testKey, epochOptions(f.clock))
		require.NoError(t, err)
		n := 0
		r.fault = func(op, name string) error {
			n++
			if n == stop {
				return fmt.Errorf("%w at %s %s", errStop, op, name)
			}
			return nil
		}
		_, err = r.Reencrypt(ctx, ReencryptOptions{SealedPrefix: f.prefix})
		r.fault = nil
		if err == nil {
			require.Less(t, 10, stop, "the pass writes more than this")
			t.Logf("interrupted at each of the pass's %d writes and deletes; each resumed", stop-1)
			r.Close()
			break
		}
		require.ErrorIs(t, err, errStop)
		f.check(t)
		rep, err := r.Reencrypt(ctx, ReencryptOptions{SealedPrefix: f.prefix})
		require.NoError(t, err, "resume after stop %d", stop)
		require.Empty(t, rep.Left)
		for name, e := range objectEpochs(t, f.b) {
			require.Equal(t, uint32(1), e, "%s after stop %d", name, stop)
		}
		f.check(t)
		r.Close()
	}

	// A full pass, then retirement once the epoch is old enough.
	f := newReencryptFixture(t)
	r, err := Open(ctx, f.b, testKey, epochOptions(f.clock))
	require.NoError(t, err)
	defer r.Close()
	rep, err := r.Reencrypt(ctx, ReencryptOptions{Retire: true})
	require.NoError(t, err, "without SealedPrefix the sealed objects are left")
	assert.Len(t, rep.Left, len(f.sealed))
	assert.Empty(t, rep.Retired)
	rep, err = r.Reencrypt(ctx, ReencryptOptions{SealedPrefix: f.prefix, Retire: true})
	require.NoError(t, err)
	assert.Equal(t, len(f.sealed), rep.Resealed)
	assert.False(t, rep.RetireAfter.IsZero(), "the epoch is too young to retire the one before")
	assert.Empty(t, rep.Retired)
	f.clock.add(2 * time.Minute)
	rep, err = r.Reencrypt(ctx, ReencryptOptions{SealedPrefix: f.prefix, Retire: true})
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Resealed+rep.Repacked, "nothing left to reseal")
	assert.Equal(t, []uint32{0}, rep.Retired)
	assert.Equal(t, []uint32{1}, r.Epochs())
	f.check(t)

	// The slot from before the rotation: every object is beyond it.
	putBackOnly(t, f.b, f.before)
	old, err := Open(ctx, f.b, testKey, epochOptions(f.clock))
	if err == nil {
		defer old.Close()
		for id := range f.states {
			assert.ErrorIs(t, old.Restore(ctx, id, &bytes.Buffer{}), ErrKeyEpoch)
		}
		for name := range f.sealed {
			_, _, err := old.GetSealed(ctx, name, 0, 1<<10)
			assert.ErrorIs(t, err, ErrKeyEpoch, name)
		}
	} else {
		// The config is resealed too: the old slot opens, but not it.
		assert.ErrorIs(t, err, ErrKeyEpoch)
	}
}

// TestDestroyAfterRotation: DestroyKeys on a rotated repository leaves
// nothing that opens.
func TestDestroyAfterRotation(t *testing.T) {
	ctx := t.Context()
	f := newReencryptFixture(t)
	r, err := Open(ctx, f.b, testKey, epochOptions(f.clock))
	require.NoError(t, err)
	_, err = r.DestroyKeys(ctx, DestroyOptions{Confirm: r.ID()})
	require.NoError(t, err)
	r.Close()
	_, err = Open(ctx, f.b, testKey, epochOptions(f.clock))
	assert.ErrorIs(t, err, ErrDestroyed)
	names, err := listNames(ctx, f.b, epochsPrefix)
	require.NoError(t, err)
	assert.Empty(t, names, "the retained epochs go with the slots")
}
