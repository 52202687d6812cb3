package tenant

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/wal"
)

// sealOld seals in format 1 or 2, which this build reads but no longer
// writes: both name the tenant's tag before the key ID; format 1 spells
// the numbers in 8 bytes little-endian, format 2 as uvarints. Only tests
// write them, to check that what a log or an archive of an earlier build
// holds still opens.
func sealOld(version byte, k *Key, g Generation, counter uint64, event []byte) ([]byte, error) {
	aead, err := k.record(g)
	if err != nil {
		return nil, err
	}
	h := []byte{version}
	h = append(h, k.Tag[:]...)
	h = append(h, k.ID[:]...)
	for _, n := range []uint64{g.Epoch, g.LSN, counter} {
		if version == envelopeV1 {
			h = binary.LittleEndian.AppendUint64(h, n)
		} else {
			h = binary.AppendUvarint(h, n)
		}
	}
	var nonce [12]byte
	binary.LittleEndian.PutUint64(nonce[:], counter)
	return aead.Seal(h, nonce[:], event, h), nil
}

// oldEnvelopes were written by Seal under fuzzKey(0): format 1 at
// ca814ee and format 2 at c1dbb61, the last builds that wrote them.
var oldEnvelopes = []struct {
	version byte
	gen     Generation
	counter uint64
	event   string
	hex     string
}{
	{1, Generation{Epoch: 1, LSN: 1}, 0, "", "015ebd1d0c7ed5c79e8a66ba8f2ac85356f00001020304050601000000000000000100000000000000000000000000000099228e7afe6a30bf90be7e6091db5672"},
	{1, Generation{Epoch: 2, LSN: 77}, 5, "an event of acme", "015ebd1d0c7ed5c79e8a66ba8f2ac85356f00001020304050602000000000000004d0000000000000005000000000000007442c9296fdf93f12ad40aaeec5efb046dfcdd2fa7c875dd25187831cbbb23bd"},
	{1, Generation{Epoch: 1 << 33, LSN: 1 << 50}, ^uint64(0) - 1, "the last seal of a generation", "015ebd1d0c7ed5c79e8a66ba8f2ac85356f00001020304050600000000020000000000000000000400feffffffffffffff39d50250204b2931b0866d971003a64e8bad54a9826674725f5f3df11655a87b78a8353077587bdc770719a242"},
	{2, Generation{Epoch: 1, LSN: 1}, 0, "", "025ebd1d0c7ed5c79e8a66ba8f2ac85356f000010203040506010100267848ab9784e6e4baf5c09bb7d72a04"},
	{2, Generation{Epoch: 2, LSN: 77}, 5, "an event of acme", "025ebd1d0c7ed5c79e8a66ba8f2ac85356f000010203040506024d057442c9296fdf93f12ad40aaeec5efb0451f6dc2369060b9dd06f198bbe65a1b6"},
	{2, Generation{Epoch: 1 << 33, LSN: 1 << 50}, ^uint64(0) - 1, "the last seal of a generation", "025ebd1d0c7ed5c79e8a66ba8f2ac85356f00001020304050680808080208080808080808002feffffffffffffffff0139d50250204b2931b0866d971003a64e8bad54a9826674725f5f3df11603fb0baab36a512259421ad551e09864"},
}

// TestEnvelopeOldFormats opens envelopes earlier builds wrote in formats
// 1 and 2, directly, through a registry and as the archive measures
// them, and checks that sealOld writes them byte for byte.
func TestEnvelopeOldFormats(t *testing.T) {
	k := fuzzKey(0)
	reg := NewRegistry(fuzzLoad)
	_, err := reg.ApplyKey(t.Context(), must(KeyRecord{Tag: k.Tag, Key: k.ID, Created: fuzzCreated, ID: "acme"}.Encode(k)))
	require.NoError(t, err)
	for _, v := range oldEnvelopes {
		env, err := hex.DecodeString(v.hex)
		require.NoError(t, err)
		require.Equal(t, v.version, env[0])
		e := parseNames(t, env, k, v.gen, v.counter)
		out, err := e.Open(nil, k)
		require.NoError(t, err)
		assert.Equal(t, v.event, string(out))
		tn, out, err := reg.Open(nil, env)
		require.NoError(t, err)
		assert.Equal(t, "acme", tn.ID)
		assert.Equal(t, k.Tag, tn.Tag)
		assert.Equal(t, v.event, string(out))
		assert.Equal(t, len(v.event)+tagSize, Ciphertext(wal.Record{Kind: KindSealed, Data: env}))

		again, err := sealOld(v.version, k, v.gen, v.counter, []byte(v.event))
		require.NoError(t, err)
		assert.Equal(t, env, again, "sealOld writes another format %d", v.version)

		// Format 3 of the same seal is shorter, and other bytes: its
		// header, which the AEAD authenticates, differs.
		v3, err := Seal(nil, k, v.gen, v.counter, []byte(v.event))
		require.NoError(t, err)
		assert.Less(t, len(v3), len(env))
		for bit := range 8 * len(env) {
			bad := flipBit(env, bit)
			if _, out, err := reg.Open(nil, bad); err == nil {
				t.Fatalf("format %d, bit %d flipped: opens to %q", v.version, bit, out)
			}
		}
	}

	// An old event under a key the registry does not know, of a tenant
	// it knows (a key replaced before a base snapshot that did not list
	// retired keys): its tag names the tenant, and it reads as shredded.
	old := NewKey(k.Tag)
	env, err := sealOld(envelopeV2, old, Generation{Epoch: 1, LSN: 1}, 0, []byte("before"))
	require.NoError(t, err)
	_, _, err = reg.Open(nil, env)
	assert.ErrorIs(t, err, ErrShredded)
}
