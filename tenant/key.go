package tenant

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
)

// KeyID names one data key of a tenant: a tenant forgotten and created
// again gets a new key under a new ID.
type KeyID [8]byte

// String is the ID in hex, as object names use it.
func (k KeyID) String() string { return hex.EncodeToString(k[:]) }

// Generation names a sealing generation: the epoch and LSN of its
// KindGeneration record (see the package doc).
type Generation struct {
	Epoch uint64
	LSN   uint64
}

// Key is a tenant's data key, unwrapped, in memory only. It caches the
// record keys of the generations it has met. Safe for concurrent use.
type Key struct {
	Tag Tag
	ID  KeyID
	// gone is set by Destroy before anything else; it is read with or
	// without mu (a RecordSealer checks it beside the ID it writes).
	gone atomic.Bool
	data [32]byte

	// last is the record key most recently used: every seal of a writer
	// uses its generation's, so most take it without the lock.
	last atomic.Pointer[recordKey]

	mu        sync.Mutex
	records   map[Generation]cipher.AEAD
	stateKeys *stateKeys
}

// recordKey is one generation's record key.
type recordKey struct {
	gen  Generation
	aead cipher.AEAD
}

// NewKey makes a fresh random data key for the tenant tagged tag.
func NewKey(tag Tag) *Key {
	k := &Key{Tag: tag}
	rand.Read(k.ID[:])
	rand.Read(k.data[:])
	return k
}

// keyFrom is the Key of a data key read from its slot.
func keyFrom(tag Tag, id KeyID, data []byte) (*Key, error) {
	if len(data) != 32 {
		return nil, fmt.Errorf("tenant %s: a data key of %d bytes, want 32", tag, len(data))
	}
	k := &Key{Tag: tag, ID: id}
	copy(k.data[:], data)
	return k, nil
}

// Destroy clears the key from memory; it opens nothing afterwards.
func (k *Key) Destroy() {
	k.gone.Store(true)
	k.last.Store(nil)
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.data[:])
	k.records, k.stateKeys = nil, nil
	// Again: a record call that held mu before us may have stored its
	// key after the first clear; none can store one from now on.
	k.last.Store(nil)
}

// material returns a copy of the data key, as a slot wraps it.
func (k *Key) material() ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gone.Load() {
		return nil, &ShreddedError{Tag: k.Tag, Key: k.ID}
	}
	return append([]byte(nil), k.data[:]...), nil
}

// deriveLocked is HKDF-SHA-256 of the data key for one purpose. k.mu is
// held, so that Destroy cannot clear the key while it is read.
func (k *Key) deriveLocked(info []byte) ([]byte, error) {
	if k.gone.Load() {
		return nil, &ShreddedError{Tag: k.Tag, Key: k.ID}
	}
	return hkdf.Key(sha256.New, k.data[:], nil, string(info), 32)
}

// record returns the AES-256-GCM instance of a generation's record key.
func (k *Key) record(g Generation) (cipher.AEAD, error) {
	if r := k.last.Load(); r != nil && r.gen == g {
		return r.aead, nil // Destroy clears last first
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gone.Load() {
		return nil, &ShreddedError{Tag: k.Tag, Key: k.ID}
	}
	if a, ok := k.records[g]; ok {
		k.last.Store(&recordKey{g, a})
		return a, nil
	}
	info := binary.LittleEndian.AppendUint64([]byte("continuity/tenant/v1/record"), g.Epoch)
	info = binary.LittleEndian.AppendUint64(info, g.LSN)
	a, err := k.gcmLocked(info)
	if err != nil {
		return nil, err
	}
	if k.records == nil {
		k.records = map[Generation]cipher.AEAD{}
	}
	k.records[g] = a
	k.last.Store(&recordKey{g, a})
	return a, nil
}

func (k *Key) gcm(info []byte) (cipher.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.gcmLocked(info)
}

func (k *Key) gcmLocked(info []byte) (cipher.AEAD, error) {
	key, err := k.deriveLocked(info)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// mac is HMAC-SHA-256 of msg under the key's MAC key for purpose.
func (k *Key) mac(purpose string, msg []byte) ([]byte, error) {
	k.mu.Lock()
	key, err := k.deriveLocked([]byte("continuity/tenant/v1/mac/" + purpose))
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil), nil
}
