package tenant

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"

	"github.com/continuity-go/continuity/wal"
)

// testNameKey is the repository name key of the tests' tags.
var testNameKey = [32]byte{'n', 'a', 'm', 'e', 31: 1}

// testCreated is the creation time of the tests' key records.
var testCreated = time.Unix(0, 1_767_225_600_123_456_789)

func testTag(id string) Tag { return NewTagger(testNameKey).Tag(id) }

// slotStore holds slot bodies by SlotName, as a node's copy of the slots
// does; its load is a Loader that unwraps a fresh Key on every call, as a
// real one does.
type slotStore struct {
	mu      sync.Mutex
	bodies  map[string][]byte
	keepers Keepers
}

func newSlotStore(keepers Keepers) *slotStore {
	return &slotStore{bodies: map[string][]byte{}, keepers: keepers}
}

func (s *slotStore) put(t testing.TB, k *Key, keeper string) {
	t.Helper()
	body, err := WrapSlot(t.Context(), k, keeper, s.keepers)
	require.NoError(t, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies[SlotName(k.Tag, k.ID)] = body
}

func (s *slotStore) remove(tag Tag, id KeyID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.bodies, SlotName(tag, id))
}

func (s *slotStore) load(ctx context.Context, tag Tag, id KeyID) (*Key, error) {
	s.mu.Lock()
	body, ok := s.bodies[SlotName(tag, id)]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoSlot, SlotName(tag, id))
	}
	return UnwrapSlot(ctx, body, tag, id, s.keepers)
}

// newTenant makes a key for the tenant id, stores its slot and returns
// the key and its KindKey payload.
func newTenant(t testing.TB, s *slotStore, id string) (*Key, []byte) {
	t.Helper()
	k := NewKey(testTag(id))
	s.put(t, k, "")
	rec, err := KeyRecord{Tag: k.Tag, Key: k.ID, Created: testCreated, ID: id}.Encode(k)
	require.NoError(t, err)
	return k, rec
}

// liveRegistry is a registry that has applied the key record of a new
// tenant id, whose slot s holds.
func liveRegistry(t testing.TB, id string) (*slotStore, *Key, *Registry) {
	t.Helper()
	s := newSlotStore(nil)
	k, rec := newTenant(t, s, id)
	g := NewRegistry(s.load)
	_, err := g.ApplyKey(t.Context(), rec)
	require.NoError(t, err)
	return s, k, g
}

func forgetPayload(t testing.TB, k *Key, reason string) []byte {
	t.Helper()
	b, err := ForgetRecord{Tag: k.Tag, Key: k.ID, Time: testCreated.Add(time.Hour), Reason: reason}.Encode(k)
	require.NoError(t, err)
	return b
}

// sameNames is a key with k's tag and ID but other key material, as
// someone without k would forge.
func sameNames(t testing.TB, k *Key) *Key {
	t.Helper()
	other, err := keyFrom(k.Tag, k.ID, bytes.Repeat([]byte{0xa5}, 32))
	require.NoError(t, err)
	return other
}

func seal(t testing.TB, k *Key, g Generation, counter uint64, event string) []byte {
	t.Helper()
	env, err := Seal(nil, k, g, counter, []byte(event))
	require.NoError(t, err)
	return env
}

// parseNames parses env and checks that its header names k (and its
// tag, in formats 1 and 2), the generation gen and the counter.
func parseNames(t *testing.T, env []byte, k *Key, gen Generation, counter uint64) Envelope {
	t.Helper()
	e, err := ParseEnvelope(env)
	require.NoError(t, err)
	if env[0] == envelopeVersion {
		assert.Zero(t, e.Tag, "format 3 names no tag")
	} else {
		assert.Equal(t, k.Tag, e.Tag)
	}
	assert.Equal(t, k.ID, e.Key)
	assert.Equal(t, gen, e.Gen)
	assert.Equal(t, counter, e.Counter)
	return e
}

// ciphertext is the sealed part of an envelope: what follows its header.
func ciphertext(env []byte) []byte {
	return env[len(env)-Ciphertext(wal.Record{Kind: KindSealed, Data: env}):]
}

func flipBit(b []byte, bit int) []byte {
	c := bytes.Clone(b)
	c[bit/8] ^= 1 << (bit % 8)
	return c
}

func TestEnvelopeRoundTrip(t *testing.T) {
	k := NewKey(testTag("acme"))
	for _, tc := range []struct {
		name    string
		gen     Generation
		counter uint64
		event   []byte
	}{
		{"empty", Generation{Epoch: 1, LSN: 1}, 0, nil},
		{"short", Generation{Epoch: 3, LSN: 77}, 5, []byte("hello")},
		{"large", Generation{Epoch: 1 << 40, LSN: 1<<63 + 9}, ^uint64(0) - 1, bytes.Repeat([]byte("x"), 64<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			env, err := Seal(bytes.Clone(prefix), k, tc.gen, tc.counter, tc.event)
			require.NoError(t, err)
			require.Equal(t, prefix, env[:len(prefix)], "Seal appends to dst")
			env = env[len(prefix):]
			assert.Len(t, env, Overhead(tc.gen, tc.counter)+len(tc.event))
			if len(tc.event) >= 8 {
				assert.NotContains(t, string(env), string(tc.event), "the event is in the clear")
			}

			e := parseNames(t, env, k, tc.gen, tc.counter)
			out, err := e.Open(bytes.Clone(prefix), k)
			require.NoError(t, err)
			assert.Equal(t, prefix, out[:len(prefix)], "Open appends to dst")
			assert.True(t, bytes.Equal(tc.event, out[len(prefix):]), "opened event differs")

			// What follows the clear header is all ciphertext: the
			// archive stores it uncompressed.
			rec := wal.Record{Kind: KindSealed, Data: env}
			assert.Equal(t, len(tc.event)+tagSize, Ciphertext(rec))
			assert.Equal(t, env[Overhead(tc.gen, tc.counter)-tagSize:], env[len(env)-Ciphertext(rec):])
			rec.Kind = KindKey
			assert.Zero(t, Ciphertext(rec), "a record of another kind")
			assert.Zero(t, Ciphertext(wal.Record{Kind: KindSealed, Data: env[:len(env)-len(tc.event)-1]}), "a sealed event too short to parse")
			assert.Zero(t, Ciphertext(wal.Record{Kind: KindSealed, Data: append([]byte{envelopeVersion + 1}, env[1:]...)}), "another envelope format")

			// The same (key, generation, counter) seals the same event
			// to the same bytes: the nonce is a function of them only.
			again, err := Seal(nil, k, tc.gen, tc.counter, tc.event)
			require.NoError(t, err)
			assert.Equal(t, env, again)
		})
	}
}

// TestEnvelopeNonceInputs checks that each of the generation's epoch, its
// LSN and the counter changes the ciphertext of one event: the nonce or
// the record key depends on every one of them.
func TestEnvelopeNonceInputs(t *testing.T) {
	k := NewKey(testTag("acme"))
	base := seal(t, k, Generation{Epoch: 2, LSN: 10}, 7, "event")
	for name, env := range map[string][]byte{
		"epoch":   seal(t, k, Generation{Epoch: 3, LSN: 10}, 7, "event"),
		"lsn":     seal(t, k, Generation{Epoch: 2, LSN: 11}, 7, "event"),
		"counter": seal(t, k, Generation{Epoch: 2, LSN: 10}, 8, "event"),
		"key":     seal(t, NewKey(k.Tag), Generation{Epoch: 2, LSN: 10}, 7, "event"),
	} {
		assert.NotEqual(t, ciphertext(base), ciphertext(env), "changing the %s leaves the ciphertext as it was", name)
	}
}

// TestEnvelopeBitFlip flips every bit of an envelope in turn. A flip in
// the version, the generation, the counter or the sealed bytes fails to
// authenticate (ErrDamaged). A flip in the key ID makes the envelope
// name another key, which Open refuses before trying it, and which the
// registry, knowing every key its log named, finds damaged; so may a
// flip of format 3 to 2, if the bytes after it parse as format 2's
// tag, key ID and numbers.
func TestEnvelopeBitFlip(t *testing.T) {
	_, k, g := liveRegistry(t, "acme")

	gen, counter := Generation{Epoch: 4, LSN: 40}, uint64(3)
	env := seal(t, k, gen, counter, "an event of acme")
	_, out, err := g.Open(nil, env)
	require.NoError(t, err, "the unflipped envelope")
	require.Equal(t, "an event of acme", string(out))

	for bit := range 8 * len(env) {
		bad := flipBit(env, bit)
		off := bit / 8
		e, err := ParseEnvelope(bad)
		if err == nil {
			_, err = e.Open(nil, k)
		}
		require.Error(t, err, "bit %d (byte %d) flipped: the envelope opens", bit, off)
		_, _, regErr := g.Open(nil, bad)
		require.Error(t, regErr, "bit %d (byte %d) flipped: the registry opens it", bit, off)
		switch {
		case off == 0: // version: another format reads other bytes as its tag and key ID
			assert.ErrorIs(t, regErr, ErrDamaged, "bit %d flipped in the version", bit)
		case off >= 1 && off < 9: // key ID
			assert.ErrorIs(t, regErr, ErrDamaged, "bit %d flipped in the key ID", bit)
			assert.ErrorIs(t, regErr, ErrUnknownKey, "bit %d flipped in the key ID", bit)
		default:
			assert.ErrorIs(t, err, ErrDamaged, "bit %d (byte %d) flipped", bit, off)
			assert.ErrorIs(t, regErr, ErrDamaged, "bit %d (byte %d) flipped, through the registry", bit, off)
		}
	}
	for n := range env {
		_, err := ParseEnvelope(env[:n])
		if n >= Overhead(gen, counter) {
			var e Envelope
			e, err = ParseEnvelope(env[:n])
			require.NoError(t, err)
			_, err = e.Open(nil, k)
		}
		assert.ErrorIs(t, err, ErrDamaged, "envelope cut to %d of %d bytes", n, len(env))
	}
	_, err = ParseEnvelope(append(bytes.Clone(env), 0))
	require.NoError(t, err)
}

// TestEnvelopeNumbers checks format 3's numbers: each is the shortest
// uvarint of its value, so one seal has one header; a longer spelling of
// the same number, or one of more than 64 bits, does not parse.
func TestEnvelopeNumbers(t *testing.T) {
	k := NewKey(testTag("acme"))
	gen, counter := Generation{Epoch: 1, LSN: 300}, uint64(70_000)
	env := seal(t, k, gen, counter, "an event")
	require.Equal(t, fixedSize+1+2+3+len("an event")+tagSize, len(env))
	e, err := ParseEnvelope(env)
	require.NoError(t, err)
	assert.Equal(t, gen, e.Gen)
	assert.Equal(t, counter, e.Counter)

	header := func(numbers ...[]byte) []byte {
		h := bytes.Clone(env[:fixedSize])
		for _, n := range numbers {
			h = append(h, n...)
		}
		return append(h, env[fixedSize+6:]...)
	}
	lsn, count := env[fixedSize+1:fixedSize+3], env[fixedSize+3:fixedSize+6]
	for name, bad := range map[string][]byte{
		"epoch 1 in two bytes":   header([]byte{0x81, 0x00}, lsn, count),
		"the LSN in three bytes": header([]byte{1}, append(bytes.Clone(lsn[:1]), lsn[1]|0x80, 0), count),
		"a number of 11 bytes":   header(bytes.Repeat([]byte{0xff}, 10), []byte{1}, lsn, count),
		"a counter over 64 bits": header([]byte{1}, lsn, append(bytes.Repeat([]byte{0xff}, 9), 0x02)),
	} {
		_, err := ParseEnvelope(bad)
		assert.ErrorIs(t, err, ErrDamaged, name)
		assert.ErrorContains(t, err, "malformed number", name)
	}
}

func TestEnvelopeWrongKey(t *testing.T) {
	k := NewKey(testTag("acme"))
	env := seal(t, k, Generation{Epoch: 1, LSN: 2}, 0, "secret")
	e, err := ParseEnvelope(env)
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		key     *Key
		damaged bool
	}{
		{"another tenant's key", NewKey(testTag("globex")), false},
		{"another key of the tenant", NewKey(k.Tag), false},
		{"the key's names, other material", sameNames(t, k), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := e.Open(nil, tc.key)
			require.Error(t, err)
			assert.Nil(t, out)
			if tc.damaged {
				assert.ErrorIs(t, err, ErrDamaged)
			}
		})
	}
}

func TestKeyDestroy(t *testing.T) {
	k := NewKey(testTag("acme"))
	g := Generation{Epoch: 1, LSN: 1}
	env := seal(t, k, g, 0, "before")
	e, err := ParseEnvelope(env)
	require.NoError(t, err)
	rs, err := k.RecordSealer(g)
	require.NoError(t, err)
	require.True(t, rs.Seals(k, g))
	require.False(t, rs.Seals(k, Generation{Epoch: 1, LSN: 2}))
	k.Destroy()

	_, err = e.Open(nil, k)
	var shredded *ShreddedError
	require.ErrorAs(t, err, &shredded, "Open with a destroyed key")
	assert.Equal(t, k.ID, shredded.Key)
	_, err = Seal(nil, k, g, 1, []byte("after"))
	assert.ErrorIs(t, err, ErrShredded, "Seal with a destroyed key")
	_, err = Seal(nil, k, Generation{Epoch: 9, LSN: 9}, 0, []byte("after"))
	assert.ErrorIs(t, err, ErrShredded, "Seal with a destroyed key, a generation it never met")
	_, err = rs.Seal(nil, 2, []byte("after"))
	assert.ErrorIs(t, err, ErrShredded, "a RecordSealer taken before the key was destroyed")
	_, err = KeyRecord{Tag: k.Tag, Key: k.ID, Created: testCreated, ID: "acme"}.Encode(k)
	assert.ErrorIs(t, err, ErrShredded, "KeyRecord.Encode with a destroyed key")
	_, err = ForgetRecord{Tag: k.Tag, Key: k.ID, Time: testCreated}.Encode(k)
	assert.ErrorIs(t, err, ErrShredded, "ForgetRecord.Encode with a destroyed key")
	_, err = WrapSlot(t.Context(), k, "", nil)
	assert.ErrorIs(t, err, ErrShredded, "WrapSlot of a destroyed key")
}

// TestKeyConcurrentDestroy uses one key from many goroutines while it is
// destroyed, as an applier destroys a key that writers still hold (run
// with -race). Every call either works or reports the key shredded.
func TestKeyConcurrentDestroy(t *testing.T) {
	k := NewKey(testTag("acme"))
	fr, err := ForgetRecord{Tag: k.Tag, Key: k.ID, Time: testCreated}.Encode(k)
	require.NoError(t, err)
	fh, err := ParseForgetRecord(fr)
	require.NoError(t, err)
	kr, err := KeyRecord{Tag: k.Tag, Key: k.ID, Created: testCreated, ID: "acme"}.Encode(k)
	require.NoError(t, err)
	kh, err := ParseKeyRecord(kr)
	require.NoError(t, err)

	rs, err := k.RecordSealer(Generation{Epoch: 1, LSN: 7})
	require.NoError(t, err)
	ops := map[string]func(i int) error{
		"RecordSealer.Seal": func(i int) error {
			_, err := rs.Seal(nil, uint64(i), []byte("e"))
			return err
		},
		"Seal": func(i int) error {
			_, err := Seal(nil, k, Generation{Epoch: 1, LSN: uint64(i % 3)}, uint64(i), []byte("e"))
			return err
		},
		"ForgetRecord.Encode": func(int) error {
			_, err := ForgetRecord{Tag: k.Tag, Key: k.ID, Time: testCreated}.Encode(k)
			return err
		},
		"ForgetRecordHeader.Check": func(int) error { return fh.Check(k) },
		"KeyRecord.Encode": func(int) error {
			_, err := KeyRecord{Tag: k.Tag, Key: k.ID, Created: testCreated, ID: "acme"}.Encode(k)
			return err
		},
		"KeyRecordHeader.Open": func(int) error { _, err := kh.Open(k); return err },
		"WrapSlot":             func(int) error { _, err := WrapSlot(context.Background(), k, "", nil); return err },
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 64*len(ops))
	for name, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range 64 {
				if err := op(i); err != nil && !errors.Is(err, ErrShredded) {
					errs <- fmt.Errorf("%s: %w", name, err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		k.Destroy()
	}()
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for name, op := range ops {
		assert.ErrorIs(t, op(0), ErrShredded, "%s after Destroy", name)
	}
}

func TestTagger(t *testing.T) {
	a := NewTagger(testNameKey)
	b := NewTagger(testNameKey)
	other := NewTagger([32]byte{'o', 't', 'h', 'e', 'r'})

	assert.Equal(t, a.Tag("acme"), a.Tag("acme"), "one tagger, one ID")
	assert.Equal(t, a.Tag("acme"), b.Tag("acme"), "two taggers of one name key")
	assert.NotEqual(t, a.Tag("acme"), a.Tag("globex"), "two IDs")
	assert.NotEqual(t, a.Tag("acme"), a.Tag("acme "), "IDs differing in a trailing space")
	assert.NotEqual(t, a.Tag("acme"), other.Tag("acme"), "two name keys")
	assert.NotEqual(t, Tag{}, a.Tag(""), "the empty ID")

	seen := map[Tag]string{}
	for i := range 1000 {
		id := fmt.Sprintf("tenant-%d", i)
		tag := a.Tag(id)
		require.NotContains(t, seen, tag, "%q and %q share a tag", id, seen[tag])
		seen[tag] = id
	}

	tag := a.Tag("acme")
	assert.Len(t, tag.String(), 32)
	parsed, err := ParseTag(tag.String())
	require.NoError(t, err)
	assert.Equal(t, tag, parsed)
	for _, bad := range []string{"", tag.String()[:31], tag.String() + "0", strings.Repeat("zz", 16)} {
		_, err := ParseTag(bad)
		assert.Error(t, err, "ParseTag(%q)", bad)
	}
}

func TestCheckID(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   string
		ok   bool
	}{
		{"empty", "", false},
		{"one byte", "a", true},
		{"max bytes", strings.Repeat("a", MaxIDBytes), true},
		{"max bytes of multi-byte runes", strings.Repeat("é", MaxIDBytes/2), true},
		{"one byte over", strings.Repeat("a", MaxIDBytes+1), false},
		{"not UTF-8", "acme\xff", false},
		{"a rune cut short", strings.Repeat("é", 10)[:19], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckID(tc.id)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestKindsAndGenerationRecord(t *testing.T) {
	assert.False(t, Ours(0), "the host's KindEvent")
	for _, k := range []wal.Kind{KindSealed, KindKey, KindForget, KindGeneration} {
		assert.True(t, Ours(k), "kind %d", k)
	}
	assert.False(t, Ours(KindGeneration+1))
	assert.NotEmpty(t, GenerationRecord())
}

func TestKeyRecordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, keeper, id string
	}{
		{"repository key", "", "acme"},
		{"keeper", "kms-acme", "ACME Corp., Zürich"},
		{"longest ID", "", strings.Repeat("i", MaxIDBytes)},
		{"longest keeper", strings.Repeat("k", maxKeeperBytes), "acme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := NewKey(testTag(tc.id))
			r := KeyRecord{Tag: k.Tag, Key: k.ID, Created: testCreated, Keeper: tc.keeper, ID: tc.id}
			b, err := r.Encode(k)
			require.NoError(t, err)
			assert.NotContains(t, string(b), tc.id, "the tenant ID is in the clear")

			h, err := ParseKeyRecord(b)
			require.NoError(t, err)
			assert.Equal(t, r.Tag, h.Tag)
			assert.Equal(t, r.Key, h.Key)
			assert.True(t, r.Created.Equal(h.Created), "created %v, was %v", h.Created, r.Created)
			assert.Equal(t, r.Keeper, h.Keeper)

			got, err := h.Open(k)
			require.NoError(t, err)
			assert.Equal(t, r.ID, got.ID)
			assert.Equal(t, r.Keeper, got.Keeper)
			assert.True(t, r.Created.Equal(got.Created))

			// The key from the slot opens it, as a registry's does.
			s := newSlotStore(nil)
			s.put(t, k, "")
			k2, err := s.load(t.Context(), k.Tag, k.ID)
			require.NoError(t, err)
			got, err = h.Open(k2)
			require.NoError(t, err)
			assert.Equal(t, r.ID, got.ID)
		})
	}
}

func TestKeyRecordEncodeRefuses(t *testing.T) {
	k := NewKey(testTag("acme"))
	ok := KeyRecord{Tag: k.Tag, Key: k.ID, Created: testCreated, ID: "acme"}
	for _, tc := range []struct {
		name string
		edit func(*KeyRecord)
		key  *Key
	}{
		{"another key", func(*KeyRecord) {}, NewKey(k.Tag)},
		{"another tenant's key", func(*KeyRecord) {}, NewKey(testTag("globex"))},
		{"keeper name too long", func(r *KeyRecord) { r.Keeper = strings.Repeat("k", maxKeeperBytes+1) }, k},
		{"empty ID", func(r *KeyRecord) { r.ID = "" }, k},
		{"ID too long", func(r *KeyRecord) { r.ID = strings.Repeat("i", MaxIDBytes+1) }, k},
		{"ID not UTF-8", func(r *KeyRecord) { r.ID = "\xc3" }, k},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			_, err := r.Encode(tc.key)
			assert.Error(t, err)
		})
	}
}

func TestKeyRecordDamage(t *testing.T) {
	k := NewKey(testTag("acme"))
	b, err := KeyRecord{Tag: k.Tag, Key: k.ID, Created: testCreated, Keeper: "kms", ID: "acme"}.Encode(k)
	require.NoError(t, err)

	t.Run("other key material", func(t *testing.T) {
		h, err := ParseKeyRecord(b)
		require.NoError(t, err)
		_, err = h.Open(sameNames(t, k))
		assert.ErrorIs(t, err, ErrDamaged)
	})
	t.Run("another tenant's key", func(t *testing.T) {
		h, err := ParseKeyRecord(b)
		require.NoError(t, err)
		_, err = h.Open(NewKey(testTag("globex")))
		assert.Error(t, err)
	})
	t.Run("bit flips", func(t *testing.T) {
		for bit := range 8 * len(b) {
			bad := flipBit(b, bit)
			h, err := ParseKeyRecord(bad)
			if err == nil {
				_, err = h.Open(k)
			}
			require.Error(t, err, "bit %d flipped: the record opens", bit)
			if off := bit / 8; off < 1 || off >= 25 {
				// A flip in the tag or key ID names another key,
				// which Open refuses before trying it.
				assert.ErrorIs(t, err, ErrDamaged, "bit %d (byte %d) flipped", bit, off)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for n := range b {
			_, err := ParseKeyRecord(b[:n])
			assert.ErrorIs(t, err, ErrDamaged, "cut to %d of %d bytes", n, len(b))
		}
		_, err := ParseKeyRecord(append(bytes.Clone(b), 0))
		assert.ErrorIs(t, err, ErrDamaged, "a trailing byte")
	})
}

func TestForgetRecordRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, reason string }{
		{"no reason", ""},
		{"reason", "GDPR erasure request #42"},
		{"longest reason", strings.Repeat("r", MaxReasonBytes)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := NewKey(testTag("acme"))
			r := ForgetRecord{Tag: k.Tag, Key: k.ID, Time: testCreated, Reason: tc.reason}
			b, err := r.Encode(k)
			require.NoError(t, err)
			h, err := ParseForgetRecord(b)
			require.NoError(t, err)
			assert.Equal(t, r.Tag, h.Tag)
			assert.Equal(t, r.Key, h.Key)
			assert.True(t, r.Time.Equal(h.Time))
			assert.Equal(t, r.Reason, h.Reason)
			require.NoError(t, h.Check(k))
		})
	}
	k := NewKey(testTag("acme"))
	_, err := ForgetRecord{Tag: k.Tag, Key: k.ID, Reason: strings.Repeat("r", MaxReasonBytes+1)}.Encode(k)
	assert.Error(t, err, "a reason too long")
	_, err = ForgetRecord{Tag: k.Tag, Key: k.ID}.Encode(NewKey(k.Tag))
	assert.Error(t, err, "another key")
}

func TestForgetRecordMAC(t *testing.T) {
	k := NewKey(testTag("acme"))
	b := forgetPayload(t, k, "erasure")
	h, err := ParseForgetRecord(b)
	require.NoError(t, err)

	assert.ErrorIs(t, h.Check(sameNames(t, k)), ErrDamaged, "the key's names, other material")
	assert.Error(t, h.Check(NewKey(k.Tag)), "another key of the tenant")
	assert.Error(t, h.Check(NewKey(testTag("globex"))), "another tenant's key")

	forged, err := ForgetRecord{Tag: k.Tag, Key: k.ID, Time: testCreated}.Encode(sameNames(t, k))
	require.NoError(t, err)
	fh, err := ParseForgetRecord(forged)
	require.NoError(t, err)
	assert.ErrorIs(t, fh.Check(k), ErrDamaged, "a record MACed by someone without the key")

	for bit := range 8 * len(b) {
		h, err := ParseForgetRecord(flipBit(b, bit))
		if err == nil {
			err = h.Check(k)
		}
		require.Error(t, err, "bit %d flipped: the record checks", bit)
		if off := bit / 8; off < 1 || off >= 25 {
			assert.ErrorIs(t, err, ErrDamaged, "bit %d (byte %d) flipped", bit, off)
		}
	}
	for n := range b {
		_, err := ParseForgetRecord(b[:n])
		assert.ErrorIs(t, err, ErrDamaged, "cut to %d of %d bytes", n, len(b))
	}
}

// keeperURL is a localsecrets URL holding a fresh random key.
func keeperURL(t testing.TB) string {
	t.Helper()
	key, err := localsecrets.NewRandomKey()
	require.NoError(t, err)
	return "base64key://" + base64.URLEncoding.EncodeToString(key[:])
}

func openKeeperURL(t testing.TB, url string) *secrets.Keeper {
	t.Helper()
	kp, err := secrets.OpenKeeper(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() { kp.Close() })
	return kp
}

// keepersOf serves the named keepers; any other name is an error.
func keepersOf(m map[string]*secrets.Keeper) Keepers {
	return func(_ context.Context, name string) (*secrets.Keeper, error) {
		if kp, ok := m[name]; ok {
			return kp, nil
		}
		return nil, fmt.Errorf("no keeper %q: %w", name, errKeeperGone)
	}
}

var errKeeperGone = errors.New("keeper gone")

// sameKey checks that a and b hold the same data key, by sealing with one
// and opening with the other.
func sameKey(t testing.TB, a, b *Key) {
	t.Helper()
	require.Equal(t, a.Tag, b.Tag)
	require.Equal(t, a.ID, b.ID)
	env := seal(t, a, Generation{Epoch: 1, LSN: 1}, 0, "probe")
	e, err := ParseEnvelope(env)
	require.NoError(t, err)
	out, err := e.Open(nil, b)
	require.NoError(t, err, "the keys differ")
	require.Equal(t, "probe", string(out))
}

func TestSlot(t *testing.T) {
	ctx := t.Context()
	k := NewKey(testTag("acme"))
	url := keeperURL(t)
	kms := openKeeperURL(t, url)
	keepers := keepersOf(map[string]*secrets.Keeper{"kms-acme": kms})

	t.Run("repository key", func(t *testing.T) {
		body, err := WrapSlot(ctx, k, "", nil)
		require.NoError(t, err)
		got, err := UnwrapSlot(ctx, body, k.Tag, k.ID, nil)
		require.NoError(t, err)
		sameKey(t, k, got)
		// Keepers are not asked for a key the repository key wraps.
		got, err = UnwrapSlot(ctx, body, k.Tag, k.ID, keepersOf(nil))
		require.NoError(t, err)
		sameKey(t, k, got)
	})

	t.Run("keeper", func(t *testing.T) {
		body, err := WrapSlot(ctx, k, "kms-acme", keepers)
		require.NoError(t, err)
		assert.False(t, bytes.Contains(body, k.data[:]), "the keeper-wrapped slot holds the key in the clear")
		got, err := UnwrapSlot(ctx, body, k.Tag, k.ID, keepers)
		require.NoError(t, err)
		sameKey(t, k, got)

		// The same keeper opened again from its URL, as after a restart.
		again := keepersOf(map[string]*secrets.Keeper{"kms-acme": openKeeperURL(t, url)})
		got, err = UnwrapSlot(ctx, body, k.Tag, k.ID, again)
		require.NoError(t, err)
		sameKey(t, k, got)

		lost := []struct {
			name    string
			keepers Keepers
			is      error
		}{
			{"Keepers fails", keepersOf(nil), errKeeperGone},
			{"another keeper", keepersOf(map[string]*secrets.Keeper{"kms-acme": openKeeperURL(t, "base64key://")}), nil},
			{"Keepers returns none", func(context.Context, string) (*secrets.Keeper, error) { return nil, nil }, nil},
			{"no Keepers", nil, nil},
		}
		for _, tc := range lost {
			t.Run(tc.name, func(t *testing.T) {
				got, err := UnwrapSlot(ctx, body, k.Tag, k.ID, tc.keepers)
				assert.Nil(t, got)
				var ku *KeyUnavailableError
				require.ErrorAs(t, err, &ku)
				assert.Equal(t, k.Tag, ku.Tag)
				assert.Equal(t, k.ID, ku.Key)
				assert.Contains(t, err.Error(), k.ID.String(), "the message names the key")
				assert.Contains(t, err.Error(), k.Tag.String(), "the message names the tenant")
				assert.Contains(t, err.Error(), "kms-acme", "the message names the keeper")
				if tc.is != nil {
					assert.ErrorIs(t, err, tc.is)
				}
				assert.NotErrorIs(t, err, ErrDamaged)
			})
		}
	})

	t.Run("wrap without the keeper", func(t *testing.T) {
		for name, keepers := range map[string]Keepers{"no Keepers": nil, "Keepers fails": keepersOf(nil)} {
			_, err := WrapSlot(ctx, k, "kms-acme", keepers)
			var ku *KeyUnavailableError
			require.ErrorAs(t, err, &ku, name)
			assert.Equal(t, k.ID, ku.Key, name)
		}
		_, err := WrapSlot(ctx, k, strings.Repeat("k", maxKeeperBytes+1), keepers)
		assert.Error(t, err, "a keeper name too long")
	})

	t.Run("another key's name", func(t *testing.T) {
		body, err := WrapSlot(ctx, k, "", nil)
		require.NoError(t, err)
		other := NewKey(testTag("globex"))
		for name, names := range map[string]struct {
			tag Tag
			id  KeyID
		}{
			"another tenant":         {other.Tag, k.ID},
			"another key ID":         {k.Tag, other.ID},
			"another tenant and key": {other.Tag, other.ID},
		} {
			got, err := UnwrapSlot(ctx, body, names.tag, names.id, nil)
			assert.Nil(t, got, name)
			assert.ErrorIs(t, err, ErrDamaged, name)
		}
	})

	t.Run("damaged", func(t *testing.T) {
		for _, keeper := range []string{"", "kms-acme"} {
			body, err := WrapSlot(ctx, k, keeper, keepers)
			require.NoError(t, err)
			for n := range body {
				_, err := UnwrapSlot(ctx, body[:n], k.Tag, k.ID, keepers)
				assert.Error(t, err, "keeper %q, cut to %d of %d bytes", keeper, n, len(body))
			}
			_, err = UnwrapSlot(ctx, append(bytes.Clone(body), 0), k.Tag, k.ID, keepers)
			assert.ErrorIs(t, err, ErrDamaged, "keeper %q, a trailing byte", keeper)
			bad := bytes.Clone(body)
			bad[0] = slotVersion + 1
			_, err = UnwrapSlot(ctx, bad, k.Tag, k.ID, keepers)
			assert.ErrorIs(t, err, ErrDamaged, "keeper %q, another version", keeper)
		}
		// A repository-wrapped key of the wrong size.
		body, err := WrapSlot(ctx, k, "", nil)
		require.NoError(t, err)
		short := append(bytes.Clone(body[:len(body)-36]), 31, 0, 0, 0)
		short = append(short, k.data[:31]...)
		_, err = UnwrapSlot(ctx, short, k.Tag, k.ID, nil)
		assert.Error(t, err, "a 31-byte key")
	})

	assert.Equal(t, "tenants/"+k.Tag.String()+"/"+k.ID.String(), SlotName(k.Tag, k.ID))
}

func TestRegistry(t *testing.T) {
	ctx := t.Context()
	gen := Generation{Epoch: 1, LSN: 1}

	t.Run("key then open", func(t *testing.T) {
		s := newSlotStore(nil)
		k, rec := newTenant(t, s, "acme")
		g := NewRegistry(s.load)
		ten, err := g.ApplyKey(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, Tenant{Tag: k.Tag, ID: "acme", Key: k.ID, Created: ten.Created}, ten)
		assert.True(t, testCreated.Equal(ten.Created))

		got, out, err := g.Open([]byte("x"), seal(t, k, gen, 0, "hello"))
		require.NoError(t, err)
		assert.Equal(t, "xhello", string(out))
		assert.Equal(t, "acme", got.ID)

		held, lt, ok := g.Lookup(k.Tag)
		require.True(t, ok)
		require.NotNil(t, held)
		assert.Equal(t, ten, lt)
		sameKey(t, k, held)
		_, _, ok = g.Lookup(testTag("globex"))
		assert.False(t, ok)
		assert.Equal(t, []Tenant{ten}, g.Tenants())

		_, _, err = g.Open(nil, seal(t, NewKey(testTag("globex")), gen, 0, "x"))
		assert.ErrorIs(t, err, ErrDamaged, "an event of a tenant with no key record")
		_, _, err = g.Open(nil, []byte("short"))
		assert.ErrorIs(t, err, ErrDamaged, "a short payload")
	})

	t.Run("key record under a slot of other material", func(t *testing.T) {
		s := newSlotStore(nil)
		k, rec := newTenant(t, s, "acme")
		s.put(t, sameNames(t, k), "")
		_, err := NewRegistry(s.load).ApplyKey(ctx, rec)
		assert.ErrorIs(t, err, ErrDamaged)
		_, err = NewRegistry(s.load).ApplyKey(ctx, rec[:10])
		assert.ErrorIs(t, err, ErrDamaged, "a truncated key record")
	})

	t.Run("forget", func(t *testing.T) {
		s := newSlotStore(nil)
		k, rec := newTenant(t, s, "acme")
		other, otherRec := newTenant(t, s, "globex")
		g := NewRegistry(s.load)
		_, err := g.ApplyKey(ctx, rec)
		require.NoError(t, err)
		_, err = g.ApplyKey(ctx, otherRec)
		require.NoError(t, err)
		held, _, _ := g.Lookup(k.Tag)
		env := seal(t, k, gen, 0, "hello")

		fr, ten, verified, err := g.ApplyForget(forgetPayload(t, k, "erasure"))
		require.NoError(t, err)
		assert.True(t, verified)
		assert.Equal(t, "erasure", fr.Reason)
		assert.Equal(t, k.ID, fr.Key)
		assert.True(t, ten.Forgotten)
		assert.Equal(t, k.Tag, ten.Tag)

		_, _, err = g.Open(nil, env)
		var sh *ShreddedError
		require.ErrorAs(t, err, &sh)
		assert.ErrorIs(t, err, ErrShredded)
		assert.Equal(t, k.ID, sh.Key)
		assert.Contains(t, err.Error(), `"acme"`, "the message names the tenant while it is known")
		_, err = Seal(nil, held, gen, 1, []byte("after"))
		assert.ErrorIs(t, err, ErrShredded, "the key held before the forget record")
		k2, lt, ok := g.Lookup(k.Tag)
		assert.True(t, ok)
		assert.Nil(t, k2)
		assert.True(t, lt.Forgotten)

		// Every other tenant is whole.
		_, out, err := g.Open(nil, seal(t, other, gen, 0, "still here"))
		require.NoError(t, err)
		assert.Equal(t, "still here", string(out))
	})

	t.Run("forget with a bad MAC", func(t *testing.T) {
		_, k, g := liveRegistry(t, "acme")
		env := seal(t, k, gen, 0, "hello")

		forged := forgetPayload(t, sameNames(t, k), "forged")
		damaged := flipBit(forgetPayload(t, k, "erasure"), 8*30)
		for name, p := range map[string][]byte{"forged": forged, "damaged": damaged, "truncated": forged[:40]} {
			_, _, verified, err := g.ApplyForget(p)
			assert.ErrorIs(t, err, ErrDamaged, name)
			assert.False(t, verified, name)
			_, out, err := g.Open(nil, env)
			require.NoError(t, err, "%s: the tenant is not forgotten", name)
			assert.Equal(t, "hello", string(out))
			held, ten, _ := g.Lookup(k.Tag)
			require.NotNil(t, held, name)
			assert.False(t, ten.Forgotten, name)
			sameKey(t, k, held)
		}
	})

	t.Run("forget of another key", func(t *testing.T) {
		// A forget record naming a key the tenant does not have now (an
		// old key's, or one made up) cannot be checked: it must destroy
		// nothing held, nor hide the tenant's key.
		s, k, g := liveRegistry(t, "acme")
		env := seal(t, k, gen, 0, "hello")

		_, ten, verified, err := g.ApplyForget(forgetPayload(t, NewKey(k.Tag), "made up"))
		require.NoError(t, err)
		assert.False(t, verified)
		assert.True(t, ten.Forgotten, "the record's key is forgotten")
		_, out, err := g.Open(nil, env)
		require.NoError(t, err, "the tenant's live key")
		assert.Equal(t, "hello", string(out))
		held, lt, _ := g.Lookup(k.Tag)
		require.NotNil(t, held)
		assert.False(t, lt.Forgotten)
		assert.Equal(t, k.ID, lt.Key)

		var buf bytes.Buffer
		_, err = g.WriteTo(&buf)
		require.NoError(t, err)
		g2 := NewRegistry(s.load)
		require.NoError(t, g2.ReadFrom(ctx, &buf))
		_, out, err = g2.Open(nil, env)
		require.NoError(t, err, "the tenant's live key, after a snapshot")
		assert.Equal(t, "hello", string(out))
	})

	t.Run("forget of a key never seen", func(t *testing.T) {
		s := newSlotStore(nil)
		k := NewKey(testTag("acme"))
		g := NewRegistry(s.load)
		_, ten, verified, err := g.ApplyForget(forgetPayload(t, k, "before the snapshot"))
		require.NoError(t, err)
		assert.False(t, verified)
		assert.True(t, ten.Forgotten)
		_, _, err = g.Open(nil, seal(t, k, gen, 0, "x"))
		assert.ErrorIs(t, err, ErrShredded)
	})

	t.Run("missing slot", func(t *testing.T) {
		s := newSlotStore(nil)
		k, rec := newTenant(t, s, "acme")
		s.remove(k.Tag, k.ID)
		g := NewRegistry(s.load)
		ten, err := g.ApplyKey(ctx, rec)
		require.NoError(t, err, "a key that cannot be loaded is not an error of the record")
		assert.Empty(t, ten.ID)
		var ku *KeyUnavailableError
		require.ErrorAs(t, ten.Err, &ku)
		assert.ErrorIs(t, ten.Err, ErrNoSlot)

		_, _, err = g.Open(nil, seal(t, k, gen, 0, "hello"))
		require.ErrorAs(t, err, &ku)
		assert.ErrorIs(t, err, ErrNoSlot)
		assert.Equal(t, k.ID, ku.Key)
		assert.Contains(t, err.Error(), k.ID.String())
		held, _, ok := g.Lookup(k.Tag)
		assert.True(t, ok)
		assert.Nil(t, held)

		// Its forget record cannot be checked, and shreds it.
		_, _, verified, err := g.ApplyForget(forgetPayload(t, k, "erasure"))
		require.NoError(t, err)
		assert.False(t, verified)
		_, _, err = g.Open(nil, seal(t, k, gen, 1, "hello"))
		assert.ErrorIs(t, err, ErrShredded)
	})

	t.Run("keeper lost", func(t *testing.T) {
		kms := openKeeperURL(t, keeperURL(t))
		keepers := map[string]*secrets.Keeper{"kms": kms}
		s := newSlotStore(keepersOf(keepers))
		k := NewKey(testTag("acme"))
		s.put(t, k, "kms")
		rec, err := KeyRecord{Tag: k.Tag, Key: k.ID, Created: testCreated, Keeper: "kms", ID: "acme"}.Encode(k)
		require.NoError(t, err)
		env := seal(t, k, gen, 0, "hello")

		g := NewRegistry(s.load)
		ten, err := g.ApplyKey(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, "kms", ten.Keeper)
		_, out, err := g.Open(nil, env)
		require.NoError(t, err)
		assert.Equal(t, "hello", string(out))

		delete(keepers, "kms")
		g = NewRegistry(s.load)
		ten, err = g.ApplyKey(ctx, rec)
		require.NoError(t, err)
		assert.ErrorIs(t, ten.Err, errKeeperGone)
		_, _, err = g.Open(nil, env)
		var ku *KeyUnavailableError
		require.ErrorAs(t, err, &ku)
		assert.Contains(t, err.Error(), k.ID.String())
	})

	t.Run("re-create", func(t *testing.T) {
		s := newSlotStore(nil)
		k1, rec1 := newTenant(t, s, "acme")
		g := NewRegistry(s.load)
		_, err := g.ApplyKey(ctx, rec1)
		require.NoError(t, err)
		old := seal(t, k1, gen, 0, "old")
		_, _, _, err = g.ApplyForget(forgetPayload(t, k1, "erasure"))
		require.NoError(t, err)
		s.remove(k1.Tag, k1.ID)

		k2, rec2 := newTenant(t, s, "acme")
		require.Equal(t, k1.Tag, k2.Tag)
		require.NotEqual(t, k1.ID, k2.ID, "a new key has a new ID")
		before := g.Changes()
		ten, err := g.ApplyKey(ctx, rec2)
		assert.Greater(t, g.Changes(), before, "a key record changes the registry")
		require.NoError(t, err)
		assert.False(t, ten.Forgotten)
		assert.Equal(t, k2.ID, ten.Key)

		_, out, err := g.Open(nil, seal(t, k2, gen, 0, "new"))
		require.NoError(t, err)
		assert.Equal(t, "new", string(out))
		_, _, err = g.Open(nil, old)
		assert.ErrorIs(t, err, ErrShredded, "an event of the old key")
		assert.Len(t, g.Tenants(), 1)

		// The new key's own forget leaves the old key's events shredded.
		before = g.Changes()
		_, _, verified, err := g.ApplyForget(forgetPayload(t, k2, "again"))
		assert.Greater(t, g.Changes(), before, "a forget record changes the registry")
		require.NoError(t, err)
		assert.True(t, verified)
		_, _, err = g.Open(nil, old)
		assert.ErrorIs(t, err, ErrShredded)
	})

	t.Run("events name their key alone", func(t *testing.T) {
		s, acme, g := liveRegistry(t, "acme")
		assert.True(t, g.KnownKey(acme.ID))

		env := seal(t, acme, gen, 0, "an event")
		ten, _, err := g.Open(nil, env)
		require.NoError(t, err)
		assert.Equal(t, acme.Tag, ten.Tag)

		// A key no record named: damage, not a tenant's.
		stranger := NewKey(testTag("globex"))
		assert.False(t, g.KnownKey(stranger.ID))
		_, _, err = g.Open(nil, seal(t, stranger, gen, 0, "x"))
		assert.ErrorIs(t, err, ErrUnknownKey)
		assert.ErrorIs(t, err, ErrDamaged)
		assert.ErrorContains(t, err, stranger.ID.String())

		// A key record giving another tenant's key ID, even one that
		// authenticates, is damage: an event could not tell them apart.
		twin, err := keyFrom(testTag("globex"), acme.ID, bytes.Repeat([]byte{7}, 32))
		require.NoError(t, err)
		s.put(t, twin, "")
		twinRec, err := KeyRecord{Tag: twin.Tag, Key: twin.ID, Created: testCreated, ID: "globex"}.Encode(twin)
		require.NoError(t, err)
		_, err = g.ApplyKey(ctx, twinRec)
		assert.ErrorIs(t, err, ErrDamaged)
		_, _, ok := g.Lookup(twin.Tag)
		assert.False(t, ok, "the twin's record left an entry")
		_, _, _, err = g.ApplyForget(forgetPayload(t, twin, "x"))
		assert.ErrorIs(t, err, ErrDamaged, "a forget record naming another tenant's key")
		_, out, err := g.Open(nil, env)
		require.NoError(t, err, "acme after the twin's records")
		assert.Equal(t, "an event", string(out))

		// A forget record for a key the tenant no longer has, which
		// cannot be checked: that key's events read as shredded.
		old := NewKey(acme.Tag)
		_, _, verified, err := g.ApplyForget(forgetPayload(t, old, "x"))
		require.NoError(t, err)
		assert.False(t, verified)
		_, _, err = g.Open(nil, seal(t, old, gen, 0, "old"))
		assert.ErrorIs(t, err, ErrShredded)
	})

	t.Run("a new key record replaces a held key", func(t *testing.T) {
		s := newSlotStore(nil)
		k1, rec1 := newTenant(t, s, "acme")
		g := NewRegistry(s.load)
		_, err := g.ApplyKey(ctx, rec1)
		require.NoError(t, err)
		held, _, _ := g.Lookup(k1.Tag)
		_, rec2 := newTenant(t, s, "acme")
		_, err = g.ApplyKey(ctx, rec2)
		require.NoError(t, err)
		_, err = Seal(nil, held, gen, 0, nil)
		assert.ErrorIs(t, err, ErrShredded, "the replaced key is destroyed")
	})
}

// registryFixture is a registry holding a live tenant, a forgotten one,
// one whose slot is missing and one forgotten and created again, with an
// event of each key.
type registryFixture struct {
	slots  *slotStore
	reg    *Registry
	events map[string][]byte // by tenant ID (and "recreated-old")
}

func newRegistryFixture(t testing.TB) *registryFixture {
	t.Helper()
	ctx := t.Context()
	s := newSlotStore(nil)
	f := &registryFixture{slots: s, reg: NewRegistry(s.load), events: map[string][]byte{}}
	gen := Generation{Epoch: 2, LSN: 9}
	apply := func(rec []byte) {
		_, err := f.reg.ApplyKey(ctx, rec)
		require.NoError(t, err)
	}
	forget := func(k *Key) {
		_, _, _, err := f.reg.ApplyForget(forgetPayload(t, k, "erasure"))
		require.NoError(t, err)
		s.remove(k.Tag, k.ID)
	}

	live, rec := newTenant(t, s, "live")
	apply(rec)
	f.events["live"] = seal(t, live, gen, 0, "live event")

	gone, rec := newTenant(t, s, "forgotten")
	apply(rec)
	f.events["forgotten"] = seal(t, gone, gen, 0, "forgotten event")
	forget(gone)

	lost, rec := newTenant(t, s, "unavailable")
	s.remove(lost.Tag, lost.ID)
	apply(rec)
	f.events["unavailable"] = seal(t, lost, gen, 0, "unavailable event")

	old, rec := newTenant(t, s, "recreated")
	apply(rec)
	f.events["recreated-old"] = seal(t, old, gen, 0, "old event")
	forget(old)
	k2, rec := newTenant(t, s, "recreated")
	apply(rec)
	f.events["recreated"] = seal(t, k2, gen, 1, "new event")
	return f
}

// check checks what g opens of the fixture's events.
func (f *registryFixture) check(t testing.TB, g *Registry) {
	t.Helper()
	for name, env := range f.events {
		ten, out, err := g.Open(nil, env)
		switch name {
		case "live", "recreated":
			if assert.NoError(t, err, name) {
				assert.Equal(t, name, ten.ID)
				assert.Contains(t, string(out), "event", name)
			}
		case "forgotten", "recreated-old":
			assert.ErrorIs(t, err, ErrShredded, name)
		case "unavailable":
			var ku *KeyUnavailableError
			assert.ErrorAs(t, err, &ku, name)
			assert.ErrorIs(t, err, ErrNoSlot, name)
		}
	}
}

// snapshotView is what a registry snapshot keeps of a tenant: a forgotten
// tenant's ID and record are not kept.
type snapshotView struct {
	Tag       Tag
	ID        string
	Key       KeyID
	Keeper    string
	Created   int64
	Forgotten bool
	Err       string
}

func viewOf(ts []Tenant) []snapshotView {
	var out []snapshotView
	for _, t := range ts {
		v := snapshotView{Tag: t.Tag, Key: t.Key, Forgotten: t.Forgotten}
		if !t.Forgotten {
			v.ID, v.Keeper, v.Created = t.ID, t.Keeper, t.Created.UnixNano()
		}
		if t.Err != nil {
			v.Err = t.Err.Error()
		}
		out = append(out, v)
	}
	return out
}

func TestRegistrySnapshot(t *testing.T) {
	ctx := t.Context()
	f := newRegistryFixture(t)
	f.check(t, f.reg)
	var buf bytes.Buffer
	n, err := f.reg.WriteTo(&buf)
	require.NoError(t, err)
	snap := buf.Bytes()
	require.Equal(t, int64(len(snap)), n)

	t.Run("round trip", func(t *testing.T) {
		g := NewRegistry(f.slots.load)
		require.NoError(t, g.ReadFrom(ctx, bytes.NewReader(snap)))
		assert.Equal(t, viewOf(f.reg.Tenants()), viewOf(g.Tenants()))
		assert.Len(t, g.Tenants(), 4)
		f.check(t, g)

		var again bytes.Buffer
		_, err := g.WriteTo(&again)
		require.NoError(t, err)
		assert.Equal(t, snap, again.Bytes(), "a restored registry writes the same snapshot")
	})

	t.Run("reads exactly the snapshot", func(t *testing.T) {
		r := bytes.NewReader(append(bytes.Clone(snap), "host state"...))
		require.NoError(t, NewRegistry(f.slots.load).ReadFrom(ctx, r))
		rest := make([]byte, 20)
		m, _ := r.Read(rest)
		assert.Equal(t, "host state", string(rest[:m]))
	})

	t.Run("replaces what the registry held", func(t *testing.T) {
		k, rec := newTenant(t, f.slots, "dropped")
		g := NewRegistry(f.slots.load)
		_, err := g.ApplyKey(ctx, rec)
		require.NoError(t, err)
		held, _, _ := g.Lookup(k.Tag)
		require.NotNil(t, held)
		require.NoError(t, g.ReadFrom(ctx, bytes.NewReader(snap)))
		_, _, ok := g.Lookup(k.Tag)
		assert.False(t, ok, "a tenant the snapshot does not list")
		_, err = Seal(nil, held, Generation{Epoch: 1, LSN: 1}, 0, nil)
		assert.ErrorIs(t, err, ErrShredded, "the key of a tenant the snapshot does not list")
		f.check(t, g)
	})

	t.Run("truncated", func(t *testing.T) {
		for n := range snap {
			g := NewRegistry(f.slots.load)
			err := g.ReadFrom(ctx, bytes.NewReader(snap[:n]))
			require.ErrorIs(t, err, ErrDamaged, "cut to %d of %d bytes", n, len(snap))
			assert.Empty(t, g.Tenants(), "a failed ReadFrom changed the registry")
		}
	})

	t.Run("bit flips", func(t *testing.T) {
		// The snapshot has no checksum of its own (the snapshot stream
		// that carries it has): a flip in a forgotten entry's names or
		// in the count may read as another registry, and so may one in
		// the key record of a tenant whose key is unavailable, which
		// nothing can authenticate. A flip in a live entry whose key
		// loads is caught by its key record; no flip panics or reads as
		// anything but damage or a registry.
		live := liveEntrySpans(t, snap, testTag("unavailable"))
		damaged := 0
		for bit := range 8 * len(snap) {
			g := NewRegistry(f.slots.load)
			err := g.ReadFrom(ctx, bytes.NewReader(flipBit(snap, bit)))
			if err != nil {
				damaged++
				require.ErrorIs(t, err, ErrDamaged, "bit %d flipped", bit)
				assert.Empty(t, g.Tenants(), "bit %d flipped: a failed ReadFrom changed the registry", bit)
				continue
			}
			for _, sp := range live {
				// The state byte of a live entry is excluded: 0 → 1
				// makes a forgotten entry, whose fixed part is then
				// followed by what was the record.
				require.False(t, bit/8 > sp[0] && bit/8 < sp[1], "bit %d flipped in a live entry [%d, %d): it reads", bit, sp[0], sp[1])
			}
		}
		assert.Greater(t, damaged, 8*len(snap)/2, "most flips are caught")
	})

	t.Run("failed read keeps the registry", func(t *testing.T) {
		g := NewRegistry(f.slots.load)
		require.NoError(t, g.ReadFrom(ctx, bytes.NewReader(snap)))
		before := viewOf(g.Tenants())
		require.Error(t, g.ReadFrom(ctx, bytes.NewReader(snap[:len(snap)-1])))
		assert.Equal(t, before, viewOf(g.Tenants()))
		f.check(t, g)
	})

	t.Run("bad header", func(t *testing.T) {
		for name, b := range map[string][]byte{
			"empty":     nil,
			"magic":     append([]byte("CTENANT2"), snap[8:]...),
			"too many":  append([]byte(snapshotMagic), 0xff, 0xff, 0xff, 0xff),
			"state":     append(append([]byte(snapshotMagic), 1, 0, 0, 0, 3), make([]byte, 24)...),
			"huge keys": append(append([]byte(snapshotMagic), 1, 0, 0, 0, 0), append(make([]byte, 24), 0xff, 0xff, 0xff, 0x7f)...),
		} {
			err := NewRegistry(f.slots.load).ReadFrom(ctx, bytes.NewReader(b))
			assert.ErrorIs(t, err, ErrDamaged, name)
		}
	})

	t.Run("empty registry", func(t *testing.T) {
		var b bytes.Buffer
		_, err := NewRegistry(f.slots.load).WriteTo(&b)
		require.NoError(t, err)
		g := NewRegistry(f.slots.load)
		require.NoError(t, g.ReadFrom(ctx, &b))
		assert.Empty(t, g.Tenants())
	})
}

// liveEntrySpans returns the byte ranges [start, end) of a snapshot's
// live entries, but for the tenant tagged except.
func liveEntrySpans(t testing.TB, snap []byte, except Tag) [][2]int {
	t.Helper()
	var spans [][2]int
	off := 12
	for off < len(snap) {
		start := off
		state := snap[off]
		off += 25
		if state == 0 {
			n := int(snap[off]) | int(snap[off+1])<<8 | int(snap[off+2])<<16 | int(snap[off+3])<<24
			off += 4 + n
			if Tag(snap[start+1:start+17]) != except {
				spans = append(spans, [2]int{start, off})
			}
		}
	}
	require.Equal(t, len(snap), off)
	require.NotEmpty(t, spans)
	return spans
}

func TestSealer(t *testing.T) {
	t.Run("before Start", func(t *testing.T) {
		var s Sealer
		_, _, ok := s.Next(0)
		assert.False(t, ok, "epoch 0")
		_, _, ok = s.Next(1)
		assert.False(t, ok, "epoch 1")
	})
	t.Run("numbers from 0", func(t *testing.T) {
		var s Sealer
		g := Generation{Epoch: 3, LSN: 17}
		s.Start(g)
		for i := range uint64(5) {
			got, c, ok := s.Next(3)
			require.True(t, ok)
			assert.Equal(t, g, got)
			assert.Equal(t, i, c)
		}
	})
	t.Run("another epoch", func(t *testing.T) {
		var s Sealer
		s.Start(Generation{Epoch: 3, LSN: 17})
		_, c, ok := s.Next(3)
		require.True(t, ok)
		require.Zero(t, c)
		for _, e := range []uint64{0, 2, 4} {
			_, _, ok := s.Next(e)
			assert.False(t, ok, "epoch %d", e)
		}
		_, c, ok = s.Next(3)
		require.True(t, ok)
		assert.Equal(t, uint64(1), c, "a refused Next takes no number")
	})
	t.Run("Start resets", func(t *testing.T) {
		var s Sealer
		s.Start(Generation{Epoch: 3, LSN: 17})
		for range 3 {
			s.Next(3)
		}
		g := Generation{Epoch: 4, LSN: 30}
		s.Start(g)
		_, _, ok := s.Next(3)
		assert.False(t, ok, "the old epoch")
		got, c, ok := s.Next(4)
		require.True(t, ok)
		assert.Equal(t, g, got)
		assert.Zero(t, c)
	})
	t.Run("never wraps", func(t *testing.T) {
		var s Sealer
		g := Generation{Epoch: 1, LSN: 1}
		s.Start(g)
		s.cur.Load().next.Store(maxSeals - 1)
		_, c, ok := s.Next(1)
		require.True(t, ok)
		assert.Equal(t, uint64(maxSeals-1), c)
		for range 2 {
			_, _, ok = s.Next(1)
			assert.False(t, ok, "the last counter value is never used, and the sealer wants a new generation")
		}
		g2 := Generation{Epoch: 1, LSN: 9}
		s.Start(g2)
		got, c, ok := s.Next(1)
		require.True(t, ok)
		assert.Equal(t, g2, got)
		assert.Zero(t, c)
	})
	t.Run("concurrent", func(t *testing.T) {
		var s Sealer
		s.Start(Generation{Epoch: 1, LSN: 1})
		const workers, each = 8, 200
		got := make([][]uint64, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					_, c, ok := s.Next(1)
					if ok {
						got[w] = append(got[w], c)
					}
				}
			}()
		}
		wg.Wait()
		seen := map[uint64]bool{}
		for _, cs := range got {
			for _, c := range cs {
				require.False(t, seen[c], "counter %d handed out twice", c)
				seen[c] = true
			}
		}
		assert.Len(t, seen, workers*each)
		for c := range uint64(workers * each) {
			assert.True(t, seen[c], "counter %d never handed out", c)
		}
	})
}

func TestErrorMessages(t *testing.T) {
	tag := testTag("acme")
	id := KeyID{1, 2, 3, 4, 5, 6, 7, 8}
	sh := &ShreddedError{Tag: tag, Key: id}
	assert.Contains(t, sh.Error(), tag.String())
	assert.Contains(t, sh.Error(), id.String())
	sh.ID = "acme"
	assert.Contains(t, sh.Error(), `"acme"`)
	assert.ErrorIs(t, sh, ErrShredded)

	cause := errors.New("cause")
	ku := &KeyUnavailableError{Tag: tag, Key: id, Err: cause}
	assert.Contains(t, ku.Error(), tag.String())
	assert.Contains(t, ku.Error(), id.String())
	assert.Contains(t, ku.Error(), "cause")
	ku.ID = "acme"
	assert.Contains(t, ku.Error(), `"acme"`)
	assert.ErrorIs(t, ku, cause)
}
