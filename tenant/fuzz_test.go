package tenant

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"

	"github.com/continuity-go/continuity/internal/binenc"
)

// The fuzz targets use fixed keys, so that the committed seeds open under
// them: fuzzKey(0) and fuzzKey(1) have slots (fuzzLoad), fuzzKey(2) has
// none.
const fuzzKeys = 3

func fuzzKey(i int) *Key {
	material := sha256.Sum256(fmt.Appendf(nil, "continuity tenant fuzz key %d", i))
	k, err := keyFrom(testTag(fmt.Sprintf("fuzz-%d", i)), KeyID{0xf0, byte(i), 1, 2, 3, 4, 5, 6}, material[:])
	if err != nil {
		panic(err)
	}
	return k
}

// fuzzLoad is a Loader serving fuzzKey(0) and fuzzKey(1), a fresh Key on
// every call.
func fuzzLoad(_ context.Context, tag Tag, id KeyID) (*Key, error) {
	for i := range 2 {
		if k := fuzzKey(i); k.Tag == tag && k.ID == id {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNoSlot, SlotName(tag, id))
}

// fuzzKeeper is the keeper FuzzSlot unwraps with, whatever its name.
var fuzzKeeper = localsecrets.NewKeeper(sha256.Sum256([]byte("continuity tenant fuzz keeper")))

func fuzzKeepers(context.Context, string) (*secrets.Keeper, error) { return fuzzKeeper, nil }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

var fuzzCreated = time.Unix(0, 1_767_225_600_000_000_042)

func seedEnvelopes() [][]byte {
	k := fuzzKey(0)
	return [][]byte{
		must(Seal(nil, k, Generation{Epoch: 1, LSN: 1}, 0, nil)),
		must(Seal(nil, k, Generation{Epoch: 2, LSN: 77}, 5, []byte("an event"))),
		must(Seal(nil, k, Generation{Epoch: 1 << 33, LSN: 1 << 50}, ^uint64(0)-1, bytes.Repeat([]byte{0xee}, 300))),
		must(Seal(nil, fuzzKey(1), Generation{Epoch: 3, LSN: 9}, 1, []byte("globex"))),
		// Formats 1 and 2, which earlier builds wrote.
		must(sealOld(envelopeV1, k, Generation{Epoch: 2, LSN: 77}, 5, []byte("an event"))),
		must(sealOld(envelopeV1, fuzzKey(1), Generation{Epoch: 1 << 33, LSN: 1 << 50}, ^uint64(0)-1, []byte("globex"))),
		must(sealOld(envelopeV2, k, Generation{Epoch: 2, LSN: 77}, 5, []byte("an event"))),
		must(sealOld(envelopeV2, fuzzKey(1), Generation{Epoch: 1 << 33, LSN: 1 << 50}, ^uint64(0)-1, []byte("globex"))),
	}
}

func seedKeyRecords() [][]byte {
	k := fuzzKey(0)
	return [][]byte{
		must(KeyRecord{Tag: k.Tag, Key: k.ID, Created: fuzzCreated, ID: "acme"}.Encode(k)),
		must(KeyRecord{Tag: k.Tag, Key: k.ID, Created: fuzzCreated, Keeper: "kms-acme", ID: "ACME Corp., Zürich"}.Encode(k)),
		must(KeyRecord{Tag: k.Tag, Key: k.ID, Created: time.Unix(0, 0), ID: strings.Repeat("i", MaxIDBytes)}.Encode(k)),
	}
}

func seedForgetRecords() [][]byte {
	k := fuzzKey(0)
	return [][]byte{
		must(ForgetRecord{Tag: k.Tag, Key: k.ID, Time: fuzzCreated}.Encode(k)),
		must(ForgetRecord{Tag: k.Tag, Key: k.ID, Time: fuzzCreated, Reason: "GDPR erasure #42"}.Encode(k)),
		must(ForgetRecord{Tag: k.Tag, Key: k.ID, Time: time.Unix(0, -1), Reason: "\xff"}.Encode(k)),
	}
}

func seedSlots() [][]byte {
	ctx := context.Background()
	k := fuzzKey(0)
	return [][]byte{
		must(WrapSlot(ctx, k, "", nil)),
		must(WrapSlot(ctx, k, "kms-acme", fuzzKeepers)),
		must(WrapSlot(ctx, fuzzKey(2), "", nil)),
	}
}

func seedSnapshots() [][]byte {
	ctx := context.Background()
	snap := func(build func(g *Registry)) []byte {
		g := NewRegistry(fuzzLoad)
		build(g)
		var b bytes.Buffer
		must(g.WriteTo(&b))
		return b.Bytes()
	}
	keyRec := func(i int) []byte {
		k := fuzzKey(i)
		return must(KeyRecord{Tag: k.Tag, Key: k.ID, Created: fuzzCreated, ID: fmt.Sprintf("tenant-%d", i)}.Encode(k))
	}
	return [][]byte{
		snap(func(*Registry) {}),
		snap(func(g *Registry) { must(g.ApplyKey(ctx, keyRec(0))) }),
		snap(func(g *Registry) {
			for i := range fuzzKeys {
				must(g.ApplyKey(ctx, keyRec(i))) // fuzzKey(2): unavailable
			}
			k := fuzzKey(1)
			_, _, _, err := g.ApplyForget(must(ForgetRecord{Tag: k.Tag, Key: k.ID, Time: fuzzCreated}.Encode(k)))
			if err != nil {
				panic(err)
			}
		}),
		snap(func(g *Registry) {
			// A retired key: one the tenant does not have now, named by a
			// forget record.
			must(g.ApplyKey(ctx, keyRec(0)))
			k := fuzzKey(0)
			old, err := keyFrom(k.Tag, KeyID{0xf1, 0, 1, 2, 3, 4, 5, 6}, make([]byte, 32))
			if err != nil {
				panic(err)
			}
			if _, _, _, err := g.ApplyForget(must(ForgetRecord{Tag: k.Tag, Key: old.ID, Time: fuzzCreated}.Encode(old))); err != nil {
				panic(err)
			}
		}),
	}
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz")

func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzEnvelope": seedEnvelopes(), "FuzzKeyRecord": seedKeyRecords(), "FuzzForgetRecord": seedForgetRecords(),
		"FuzzSlot": seedSlots(), "FuzzRegistrySnapshot": seedSnapshots(),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, s := range seeds {
			err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s), 0o644)
			require.NoError(t, err)
		}
	}
}

// TestFuzzSeedsAreValid checks that the seeds reach the fuzz targets'
// round trips: each opens, checks or reads under the fixed keys.
func TestFuzzSeedsAreValid(t *testing.T) {
	ctx := t.Context()
	for i, b := range seedEnvelopes() {
		e, err := ParseEnvelope(b)
		require.NoError(t, err)
		k := fuzzKey(0)
		if e.Key != k.ID {
			k = fuzzKey(1)
		}
		_, err = e.Open(nil, k)
		require.NoError(t, err, "envelope seed %d", i)
	}
	for i, b := range seedKeyRecords() {
		h, err := ParseKeyRecord(b)
		require.NoError(t, err)
		_, err = h.Open(fuzzKey(0))
		require.NoError(t, err, "key record seed %d", i)
	}
	for i, b := range seedForgetRecords() {
		h, err := ParseForgetRecord(b)
		require.NoError(t, err)
		require.NoError(t, h.Check(fuzzKey(0)), "forget record seed %d", i)
	}
	for i, b := range seedSlots() {
		_, err := UnwrapSlot(ctx, b, Tag(b[1:17]), KeyID(b[17:25]), fuzzKeepers)
		require.NoError(t, err, "slot seed %d", i)
	}
	for i, b := range seedSnapshots() {
		g := NewRegistry(fuzzLoad)
		require.NoError(t, g.ReadFrom(ctx, bytes.NewReader(b)), "snapshot seed %d", i)
		assert.Len(t, g.Tenants(), []int{0, 1, 3, 1}[i], "snapshot seed %d", i)
	}
}

// FuzzEnvelope parses arbitrary sealed events and opens them under a
// fixed key, directly and through a registry: never a panic, and what
// opens seals again, in its format (sealOld for formats 1 and 2) and under the
// same generation and counter, to the same bytes.
func FuzzEnvelope(f *testing.F) {
	for _, s := range seedEnvelopes() {
		f.Add(s)
	}
	k := fuzzKey(0)
	reg := NewRegistry(fuzzLoad)
	for i := range 2 {
		ki := fuzzKey(i)
		_, err := reg.ApplyKey(context.Background(), must(KeyRecord{Tag: ki.Tag, Key: ki.ID, Created: fuzzCreated, ID: "t"}.Encode(ki)))
		require.NoError(f, err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			require.ErrorIs(t, err, ErrDamaged)
			_, _, err = reg.Open(nil, b)
			require.ErrorIs(t, err, ErrDamaged, "the registry opens what does not parse")
			return
		}
		_, regOut, regErr := reg.Open(nil, b)
		out, err := e.Open(nil, k)
		if err != nil {
			if e.Key == k.ID && (!e.tagged() || e.Tag == k.Tag) {
				require.ErrorIs(t, err, ErrDamaged)
				require.ErrorIs(t, regErr, ErrDamaged, "the registry opens what the key does not")
			}
			return
		}
		require.NoError(t, regErr, "the key opens what the registry does not")
		require.True(t, bytes.Equal(out, regOut), "the registry opens another event")
		seal := Seal
		if b[0] != envelopeVersion {
			seal = func(_ []byte, k *Key, g Generation, c uint64, ev []byte) ([]byte, error) {
				return sealOld(b[0], k, g, c, ev)
			}
		}
		again, err := seal(nil, k, e.Gen, e.Counter, out)
		require.NoError(t, err)
		require.Equal(t, b, again, "an opened event seals again to other bytes")
	})
}

// FuzzKeyRecord parses arbitrary key records and opens them under a fixed
// key: never a panic, and what opens encodes again to the same bytes.
func FuzzKeyRecord(f *testing.F) {
	for _, s := range seedKeyRecords() {
		f.Add(s)
	}
	k := fuzzKey(0)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseKeyRecord(b)
		if err != nil {
			require.ErrorIs(t, err, ErrDamaged)
			return
		}
		r, err := h.Open(k)
		if err != nil {
			if h.Tag == k.Tag && h.Key == k.ID {
				require.ErrorIs(t, err, ErrDamaged)
			}
			return
		}
		require.NoError(t, CheckID(r.ID))
		again, err := r.Encode(k)
		require.NoError(t, err, "an opened key record does not encode")
		require.Equal(t, b, again, "an opened key record encodes to other bytes")
	})
}

// FuzzForgetRecord parses arbitrary forget records and checks them under
// a fixed key: never a panic, and what checks encodes again to the same
// bytes.
func FuzzForgetRecord(f *testing.F) {
	for _, s := range seedForgetRecords() {
		f.Add(s)
	}
	k := fuzzKey(0)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseForgetRecord(b)
		if err != nil {
			require.ErrorIs(t, err, ErrDamaged)
			return
		}
		if err := h.Check(k); err != nil {
			if h.Tag == k.Tag && h.Key == k.ID {
				require.ErrorIs(t, err, ErrDamaged)
			}
			return
		}
		again, err := h.ForgetRecord.Encode(k)
		require.NoError(t, err, "a checked forget record does not encode")
		require.Equal(t, b, again, "a checked forget record encodes to other bytes")
	})
}

// FuzzSlot unwraps arbitrary slot bodies, under the names they claim and
// under fixed ones, with no keepers and with a fixed keeper: never a
// panic; a keeper-wrapped key never unwraps without the keeper; what
// unwraps wraps again to a slot that unwraps to the same key.
func FuzzSlot(f *testing.F) {
	for _, s := range seedSlots() {
		f.Add(s)
	}
	fixed := fuzzKey(0)
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		names := [][2][]byte{{fixed.Tag[:], fixed.ID[:]}}
		if len(b) >= 25 {
			names = append(names, [2][]byte{b[1:17], b[17:25]})
		}
		for _, n := range names {
			tag, id := Tag(n[0]), KeyID(n[1])
			plain, plainErr := UnwrapSlot(ctx, b, tag, id, nil)
			kept, keptErr := UnwrapSlot(ctx, b, tag, id, fuzzKeepers)
			if plainErr == nil {
				// The repository key wraps it: keepers are not asked.
				require.NoError(t, keptErr, "a slot unwraps without keepers, not with them")
				require.Equal(t, plain.data, kept.data)
				again, err := WrapSlot(ctx, plain, "", nil)
				require.NoError(t, err)
				require.Equal(t, b, again, "a repository-wrapped slot wraps again to other bytes")
				continue
			}
			if keptErr != nil {
				continue
			}
			var ku *KeyUnavailableError
			require.ErrorAs(t, plainErr, &ku, "a keeper-wrapped slot without keepers")
			require.Equal(t, tag, kept.Tag)
			require.Equal(t, id, kept.ID)
			d := binenc.Decoder{B: b, Off: 25}
			keeper := d.Str(maxKeeperBytes)
			require.NoError(t, d.Err)
			again, err := WrapSlot(ctx, kept, keeper, fuzzKeepers)
			require.NoError(t, err)
			back, err := UnwrapSlot(ctx, again, tag, id, fuzzKeepers)
			require.NoError(t, err)
			require.Equal(t, kept.data, back.data, "a keeper-wrapped slot wraps again to another key")
		}
	})
}

// FuzzRegistrySnapshot reads arbitrary registry snapshots with a Loader
// serving fixed keys: never a panic, an error only wrapping ErrDamaged,
// allocation bounded by the input's size, and what reads writes back to
// a snapshot that reads to the same tenants and writes the same bytes.
func FuzzRegistrySnapshot(f *testing.F) {
	for _, s := range seedSnapshots() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		g := NewRegistry(fuzzLoad)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := g.ReadFrom(ctx, bytes.NewReader(b))
		runtime.ReadMemStats(&after)
		// Each entry costs at least 25 bytes of input; a live one at
		// most a key, its AEAD and a record of maxKeyRecord bytes.
		limit := 1<<20 + 512*uint64(len(b))
		require.LessOrEqual(t, after.TotalAlloc-before.TotalAlloc, limit, "ReadFrom of %d bytes allocated beyond the bound", len(b))
		if err != nil {
			require.ErrorIs(t, err, ErrDamaged)
			assert.Empty(t, g.Tenants(), "a failed ReadFrom changed the registry")
			return
		}
		var w bytes.Buffer
		_, err = g.WriteTo(&w)
		require.NoError(t, err)
		g2 := NewRegistry(fuzzLoad)
		require.NoError(t, g2.ReadFrom(ctx, bytes.NewReader(w.Bytes())), "a registry's own snapshot does not read")
		require.Equal(t, viewOf(g.Tenants()), viewOf(g2.Tenants()), "tenants after a round trip")
		var w2 bytes.Buffer
		_, err = g2.WriteTo(&w2)
		require.NoError(t, err)
		require.Equal(t, w.Bytes(), w2.Bytes(), "a round trip changes the snapshot")
	})
}
