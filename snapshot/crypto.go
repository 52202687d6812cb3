package snapshot

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/zeebo/blake3"
)

// masterKeySize is the size of a master key: the repository's first
// (key epoch 0, which also roots the ID keys) and each later epoch's.
const masterKeySize = 64

// keyring holds the keys derived from the master keys. Each purpose has
// its own key (HKDF-SHA-256 with the repository ID as salt), so no key
// serves two algorithms.
//
// Key epochs: RotateMaster starts epoch n+1 with a new random master key.
// New objects are sealed under the current epoch's encryption key (the
// header names the epoch); older epochs' keys are retained, to read
// what they sealed, until Reencrypt has resealed it and retires them.
// The ID keys (chunk and tree IDs, the chunker's gear) never change: they
// name what is stored, so snapshot IDs and deduplication survive
// rotation. They let a holder confirm a guessed chunk, never decrypt one.
type keyring struct {
	repoID  [repoIDSize]byte
	current uint32               // the epoch new objects are sealed under
	created time.Time            // when the current epoch began (zero for epoch 0)
	masters map[uint32][]byte    // each held epoch's master key
	enc     map[uint32]*[32]byte // base for per-object AES-256-GCM keys, per epoch
	dataID  [32]byte             // keyed BLAKE3 for chunk IDs
	treeID  [32]byte             // keyed BLAKE3 for tree block IDs (domain separated)
	gear    [32]byte             // seed of the chunker's gear table
	// legacy: the slots wrap the epoch-0 master key itself (slot format
	// 1 and 2); the repository was never rotated.
	legacy bool
}

func hkdf32(out []byte, secret []byte, repoID [repoIDSize]byte, info string) error {
	b, err := hkdf.Key(sha256.New, secret, repoID[:], info, 32)
	if err != nil {
		return fmt.Errorf("derive keys: %w", err)
	}
	copy(out, b)
	return nil
}

// deriveKeyring is the keyring of a repository whose slots wrap the
// epoch-0 master key (format 1 and 2 slots).
func deriveKeyring(master []byte, repoID [repoIDSize]byte) (*keyring, error) {
	k := &keyring{repoID: repoID, legacy: true, masters: map[uint32][]byte{}, enc: map[uint32]*[32]byte{}}
	for _, d := range []struct {
		out  []byte
		info string
	}{
		{k.dataID[:], "continuity/snapshot/v1/chunk-id"},
		{k.treeID[:], "continuity/snapshot/v1/tree-id"},
		{k.gear[:], "continuity/snapshot/v1/gear"},
	} {
		if err := hkdf32(d.out, master, repoID, d.info); err != nil {
			return nil, err
		}
	}
	if err := k.hold(0, master); err != nil {
		return nil, err
	}
	return k, nil
}

// hold adds an epoch's master key to the keyring.
func (k *keyring) hold(epoch uint32, master []byte) error {
	enc := new([32]byte)
	if err := hkdf32(enc[:], master, k.repoID, "continuity/snapshot/v1/encrypt"); err != nil {
		return err
	}
	k.masters[epoch] = master
	k.enc[epoch] = enc
	return nil
}

// epochs returns the held epochs, oldest first.
func (k *keyring) epochs() []uint32 {
	out := make([]uint32, 0, len(k.masters))
	for e := range k.masters {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// objectAEAD returns the AES-256-GCM instance for one object: its key is
// derived from its epoch's encryption key and the object's random 32-byte
// salt, so every object has its own key and nonces (a counter within the
// object) never repeat under a key. Two objects share a key only if their
// salts collide: probability n²/2^257 for n objects. An epoch the keyring
// does not hold gives ErrKeyEpoch.
func (k *keyring) objectAEAD(epoch uint32, kind byte, salt []byte) (cipher.AEAD, error) {
	enc, ok := k.enc[epoch]
	if !ok {
		return nil, fmt.Errorf("%w: sealed under key epoch %d; this key holds epochs %v", ErrKeyEpoch, epoch, k.epochs())
	}
	key, err := hkdf.Key(sha256.New, enc[:], salt, "continuity/snapshot/v1/object/"+string(rune('0'+kind)), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// nonce returns the GCM nonce for the n-th sealed message of an object.
func nonce(buf *[nonceSize]byte, n uint64) []byte {
	binary.LittleEndian.PutUint64(buf[:8], n)
	binary.LittleEndian.PutUint32(buf[8:], 0)
	return buf[:]
}

func newSalt() (s [saltSize]byte) {
	rand.Read(s[:])
	return s
}

// objectAD is the additional data of an object's sealed body: its header
// and the repository ID, so an object of another repository, or a header
// changed in any bit, fails authentication.
func (k *keyring) objectAD(hdr []byte) []byte {
	ad := make([]byte, 0, len(hdr)+repoIDSize)
	ad = append(ad, hdr...)
	return append(ad, k.repoID[:]...)
}

// sealObject builds header || prefix || body sealed in pieces (see
// pieces.go) for kind, with a fresh salt. prefix (possibly nil) is
// stored in the clear and authenticated with the header.
func (k *keyring) sealObject(kind byte, prefix, body []byte) ([]byte, error) {
	return k.sealPieces(kind, prefix, body, "")
}

// openObject authenticates and decrypts an object sealed by sealObject
// (or by an older build, in one piece) whose clear prefix has prefixLen
// bytes.
func (k *keyring) openObject(name string, kind byte, prefixLen int, b []byte) ([]byte, error) {
	_, _, body, err := k.openFrom(bytes.NewReader(b), int64(len(b)), name, kind, prefixLen, int64(len(b)), false)
	return body, err
}

// hasher computes keyed BLAKE3 IDs. Not safe for concurrent use: each
// worker has its own.
type hasher struct {
	data, tree *blake3.Hasher
}

func (k *keyring) newHasher() *hasher {
	d, err := blake3.NewKeyed(k.dataID[:])
	if err != nil {
		panic(err) // only for a key that is not 32 bytes
	}
	t, err := blake3.NewKeyed(k.treeID[:])
	if err != nil {
		panic(err)
	}
	return &hasher{data: d, tree: t}
}

func (h *hasher) sum(typ byte, p []byte) (id blobID) {
	x := h.data
	if typ == blobTree {
		x = h.tree
	}
	x.Reset()
	x.Write(p)
	x.Sum(id[:0])
	return id
}

// blobAD is the additional data of a blob sealed in a pack: the repository
// ID, the blob type and its ID, so a blob moved to another place in any
// pack, or presented as another blob, fails authentication.
func (k *keyring) blobAD(buf *[repoIDSize + 1 + blobIDSize]byte, typ byte, id blobID) []byte {
	copy(buf[:], k.repoID[:])
	buf[repoIDSize] = typ
	copy(buf[repoIDSize+1:], id[:])
	return buf[:]
}
