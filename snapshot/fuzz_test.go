package snapshot

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz")

func seedManifests() [][]byte {
	m := Manifest{
		ID: ID{1, 2, 3}, Parent: ID{4}, Time: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		Host: "db-1", Tags: []string{"daily", "prod"}, Labels: map[string]string{"app": "orders", "region": "eu"},
		LSN: 1234, Epoch: 3, Size: 1 << 30, Chunks: 16384, NewBytes: 1 << 20, StoredBytes: 400 << 10,
		depth: 1, root: []blobID{{1}, {2}, {3}},
	}
	return [][]byte{encodeManifestBody(m), encodeManifestBody(Manifest{}), {}}
}

func seedIndexes() [][]byte {
	p := indexPack{packInfo: packInfo{id: [16]byte{9}, salt: [32]byte{8}, size: 1 << 20},
		blobs: []blobEntry{
			{typ: blobData, codec: codecLZ4, id: blobID{1}, off: headerSize, length: 100, raw: 300},
			{typ: blobTree, codec: codecRaw, id: blobID{2}, off: headerSize + 100, length: 64 + tagSize, raw: 64},
		}}
	return [][]byte{encodeIndexBody([]indexPack{p}, false), encodeIndexBody(nil, false), {0xff, 0xff, 0xff, 0x7f}}
}

func seedConfigs() [][]byte {
	return [][]byte{encodeConfigBody(repoConfig{created: time.Unix(1, 0), format: testFormat.withDefaults()}), {}}
}

func seedSlots() [][]byte {
	salt := make([]byte, passphraseSaltSize)
	return [][]byte{
		// Format 1: no MAC.
		encodeSlot(KeySlot{Kind: "raw", Label: "ops", Created: time.Unix(5, 0), params: []byte{1, 2, 3}, wrapped: make([]byte, 60), version: 1}),
		[]byte(magic),
		// Format 2 passphrase slots: costs in range, and above the limit.
		encodeSlot(KeySlot{Kind: passphraseKind, Label: "ops", Created: time.Unix(5, 0), version: 2,
			params: encodePassphraseParams(DefaultPassphraseParams(), salt), wrapped: make([]byte, 60), mac: make([]byte, slotMACSize)}),
		encodeSlot(KeySlot{Kind: passphraseKind, Created: time.Unix(6, 0), version: 2,
			params: encodePassphraseParams(PassphraseParams{Time: 16, MemoryKiB: 1 << 20, Threads: 1}, salt), wrapped: make([]byte, 60), mac: make([]byte, slotMACSize)}),
		// Bare passphrase params, for the params decoder.
		encodePassphraseParams(MaxPassphraseParams(), salt),
	}
}

func seedTrailers() [][]byte {
	var e encoder
	e.U32(1)
	putBlob(&e, blobEntry{typ: blobData, codec: codecLZ4, id: blobID{1}, off: headerSize, length: 100, raw: 300})
	return [][]byte{e.B, {0, 0, 0, 0}}
}

func seedLocks() [][]byte {
	return [][]byte{encodeLockBody(lockInfo{exclusive: true, host: "h", pid: 42, time: time.Unix(7, 0), op: "prune"}), {}}
}

func addSeeds(f *testing.F, seeds [][]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
}

func FuzzManifest(f *testing.F) {
	addSeeds(f, seedManifests())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifestBody(b)
		if err != nil {
			return
		}
		m2, err := decodeManifestBody(encodeManifestBody(m))
		require.NoError(t, err)
		if len(m.Labels) == 0 {
			m.Labels = nil
		}
		require.Equal(t, m, m2, "round trip differs")
	})
}

func FuzzIndex(f *testing.F) {
	addSeeds(f, seedIndexes())
	f.Fuzz(func(t *testing.T, b []byte) {
		// Both layouts: version 1 bodies (every pack epoch 0) and
		// version 2 (each pack's epoch).
		for _, epochs := range []bool{false, true} {
			ps, err := decodeIndexBody(b, epochs)
			if err != nil {
				continue
			}
			ps2, err := decodeIndexBody(encodeIndexBody(ps, epochs), epochs)
			require.NoError(t, err)
			require.Equal(t, ps, ps2)
		}
		ps, err := decodeIndexBody(b, false)
		if err != nil {
			return
		}
		x := newIndex()
		for _, p := range ps {
			x.addPack(p)
			for _, e := range p.blobs {
				_, ok := x.lookup(e.id)
				require.True(t, ok)
			}
		}
	})
}

func FuzzConfig(f *testing.F) {
	addSeeds(f, seedConfigs())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeConfigBody(b)
		if err != nil {
			return
		}
		c2, err := decodeConfigBody(encodeConfigBody(c))
		require.NoError(t, err)
		require.Equal(t, c, c2)
	})
}

func FuzzKeySlot(f *testing.F) {
	addSeeds(f, seedSlots())
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, salt, err := decodePassphraseParams(b); err == nil {
			require.NoError(t, p.checkMax())
			require.Equal(t, b, encodePassphraseParams(p, salt))
		}
		s, err := decodeSlot(keysPrefix+"x", b)
		if err != nil {
			return
		}
		s2, err := decodeSlot(keysPrefix+"x", encodeSlot(s))
		require.NoError(t, err)
		require.Equal(t, s, s2)
	})
}

func FuzzPackTrailer(f *testing.F) {
	addSeeds(f, seedTrailers())
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := decodePackTrailer(b, 1<<20)
		if err != nil {
			return
		}
		for _, e := range bs {
			require.NoError(t, e.check(1<<20))
		}
	})
}

func FuzzLock(f *testing.F) {
	addSeeds(f, seedLocks())
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLockBody(b)
		if err != nil {
			return
		}
		l2, err := decodeLockBody(encodeLockBody(l))
		require.NoError(t, err)
		require.Equal(t, l, l2)
	})
}

// FuzzOpenObject feeds arbitrary bytes to the sealed-object opener with a
// real key: it must fail cleanly, never panic.
func FuzzOpenObject(f *testing.F) {
	kr, err := deriveKeyring(make([]byte, masterKeySize), [16]byte{1})
	require.NoError(f, err)
	for _, body := range seedManifests() {
		obj, err := kr.sealObject(kindManifest, nil, body)
		require.NoError(f, err)
		f.Add(obj)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := kr.openObject("snapshots/x", kindManifest, 0, b)
		if err != nil {
			require.True(t, isDamage(err), "%v", err)
			return
		}
		_, _ = decodeManifestBody(body)
	})
}

func seedKeySets() [][]byte {
	k, err := deriveKeyring(make([]byte, masterKeySize), [16]byte{1})
	if err != nil {
		panic(err)
	}
	n, err := k.rotated(time.Unix(1.7e9, 0))
	if err != nil {
		panic(err)
	}
	return [][]byte{n.slotSecret(), make([]byte, keySetSize), {keySetVersion}}
}

func seedRetained() [][]byte {
	k, err := deriveKeyring(make([]byte, masterKeySize), [16]byte{1})
	if err != nil {
		panic(err)
	}
	n, _ := k.rotated(time.Unix(1.7e9, 0))
	n2, _ := n.rotated(time.Unix(1.8e9, 0))
	return [][]byte{encodeRetained(n), encodeRetained(n2), {0xff, 0xff, 0xff, 0xff}}
}

// FuzzKeySet: what a format 3 slot unwraps (authenticated by the slot's
// key, but decoded all the same) never panics, and a key set that
// decodes re-encodes to the same bytes.
func FuzzKeySet(f *testing.F) {
	addSeeds(f, seedKeySets())
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := keyringFromSecret(b, 3, [16]byte{1})
		if err != nil {
			return
		}
		require.Equal(t, b, k.slotSecret())
		require.Equal(t, []uint32{k.current}, k.epochs())
	})
}

// FuzzRetained: the older epochs' keys, as an epochs/ object's body.
func FuzzRetained(f *testing.F) {
	addSeeds(f, seedRetained())
	f.Fuzz(func(t *testing.T, b []byte) {
		old, err := decodeRetained(b, 1<<20)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(old), maxRetained)
		for ep, m := range old {
			require.Less(t, ep, uint32(1<<20))
			require.Len(t, m, masterKeySize)
		}
	})
}

// TestWriteFuzzCorpus writes the seeds to testdata/fuzz so that plain
// `go test` runs them and `go test -fuzz` starts from them.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzManifest": seedManifests(), "FuzzIndex": seedIndexes(), "FuzzConfig": seedConfigs(),
		"FuzzKeySlot": seedSlots(), "FuzzPackTrailer": seedTrailers(), "FuzzLock": seedLocks(),
		"FuzzKeySet": seedKeySets(), "FuzzRetained": seedRetained(),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, s := range seeds {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(content), 0o644))
		}
	}
}
