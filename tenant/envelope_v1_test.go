package tenant

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/wal"
)

// sealV1 seals in format 1, which this build reads but no longer writes:
// fixed 8-byte little-endian numbers. Only tests write it, to check that
// what a log or an archive of an earlier build holds still opens.
func sealV1(k *Key, g Generation, counter uint64, event []byte) ([]byte, error) {
	aead, err := k.record(g)
	if err != nil {
		return nil, err
	}
	h := []byte{envelopeV1}
	h = append(h, k.Tag[:]...)
	h = append(h, k.ID[:]...)
	h = binary.LittleEndian.AppendUint64(h, g.Epoch)
	h = binary.LittleEndian.AppendUint64(h, g.LSN)
	h = binary.LittleEndian.AppendUint64(h, counter)
	var nonce [12]byte
	binary.LittleEndian.PutUint64(nonce[:], counter)
	return aead.Seal(h, nonce[:], event, h), nil
}

// envelopesV1 were written by Seal at ca814ee, the last build that wrote
// format 1, under fuzzKey(0).
var envelopesV1 = []struct {
	gen     Generation
	counter uint64
	event   string
	hex     string
}{
	{Generation{Epoch: 1, LSN: 1}, 0, "", "015ebd1d0c7ed5c79e8a66ba8f2ac85356f00001020304050601000000000000000100000000000000000000000000000099228e7afe6a30bf90be7e6091db5672"},
	{Generation{Epoch: 2, LSN: 77}, 5, "an event of acme", "015ebd1d0c7ed5c79e8a66ba8f2ac85356f00001020304050602000000000000004d0000000000000005000000000000007442c9296fdf93f12ad40aaeec5efb046dfcdd2fa7c875dd25187831cbbb23bd"},
	{Generation{Epoch: 1 << 33, LSN: 1 << 50}, ^uint64(0) - 1, "the last seal of a generation", "015ebd1d0c7ed5c79e8a66ba8f2ac85356f00001020304050600000000020000000000000000000400feffffffffffffff39d50250204b2931b0866d971003a64e8bad54a9826674725f5f3df11655a87b78a8353077587bdc770719a242"},
}

// TestEnvelopeV1 opens envelopes an earlier build wrote in format 1,
// directly, through a registry and as the archive measures them, and
// checks that sealV1 writes them byte for byte.
func TestEnvelopeV1(t *testing.T) {
	k := fuzzKey(0)
	reg := NewRegistry(fuzzLoad)
	_, err := reg.ApplyKey(t.Context(), must(KeyRecord{Tag: k.Tag, Key: k.ID, Created: fuzzCreated, ID: "acme"}.Encode(k)))
	require.NoError(t, err)
	for _, v := range envelopesV1 {
		env, err := hex.DecodeString(v.hex)
		require.NoError(t, err)
		e := parseNames(t, env, k, v.gen, v.counter)
		out, err := e.Open(nil, k)
		require.NoError(t, err)
		assert.Equal(t, v.event, string(out))
		tn, out, err := reg.Open(nil, env)
		require.NoError(t, err)
		assert.Equal(t, "acme", tn.ID)
		assert.Equal(t, v.event, string(out))
		assert.Equal(t, len(v.event)+tagSize, Ciphertext(wal.Record{Kind: KindSealed, Data: env}))

		again, err := sealV1(k, v.gen, v.counter, []byte(v.event))
		require.NoError(t, err)
		assert.Equal(t, env, again, "sealV1 writes another format 1")

		// Format 2 of the same seal is shorter, and other bytes: its
		// header, which the AEAD authenticates, differs.
		v2, err := Seal(nil, k, v.gen, v.counter, []byte(v.event))
		require.NoError(t, err)
		assert.Less(t, len(v2), len(env))
		for bit := range 8 * len(env) {
			bad := flipBit(env, bit)
			if _, out, err := reg.Open(nil, bad); err == nil {
				t.Fatalf("format 1, bit %d flipped: opens to %q", bit, out)
			}
		}
	}
}
