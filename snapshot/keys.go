package snapshot

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"gocloud.dev/secrets"
	"golang.org/x/crypto/argon2"
)

// A KeyProvider wraps and unwraps the repository's master key. Each key
// slot of a repository holds the master key wrapped by one provider; any
// slot opens the repository. Adding, removing or re-wrapping a slot never
// rewrites data.
//
// Implementations: RawKey, Passphrase and Keeper. Wrap and Unwrap may be
// called concurrently.
type KeyProvider interface {
	// Kind names the provider's slot format ("raw", "passphrase",
	// "keeper"); Open tries only slots of the provider's kind.
	Kind() string
	// Wrap seals master for a new slot. ad must be authenticated with it:
	// Unwrap with any other ad must fail. It returns the slot's public
	// parameters and the wrapped key.
	Wrap(ctx context.Context, master, ad []byte) (params, wrapped []byte, err error)
	// Unwrap opens a slot this provider's Wrap made. It returns an error
	// wrapping ErrWrongKey when the slot was wrapped by another key.
	Unwrap(ctx context.Context, params, wrapped, ad []byte) (master []byte, err error)
}

// RawKey returns a KeyProvider for a 32-byte secret the host keeps itself
// (from its own secret store). The slot's wrapping key is derived from it
// with HKDF-SHA-256 and a per-slot salt.
func RawKey(key [32]byte) KeyProvider { return rawKey{key: key} }

type rawKey struct{ key [32]byte }

func (rawKey) Kind() string { return "raw" }

func (r rawKey) Wrap(_ context.Context, master, ad []byte) ([]byte, []byte, error) {
	salt := make([]byte, 32)
	rand.Read(salt)
	kek, err := hkdf.Key(sha256.New, r.key[:], salt, "continuity/snapshot/v1/raw-slot", 32)
	if err != nil {
		return nil, nil, err
	}
	w, err := gcmSeal(kek, master, ad)
	return salt, w, err
}

func (r rawKey) Unwrap(_ context.Context, params, wrapped, ad []byte) ([]byte, error) {
	kek, err := hkdf.Key(sha256.New, r.key[:], params, "continuity/snapshot/v1/raw-slot", 32)
	if err != nil {
		return nil, err
	}
	return gcmOpen(kek, wrapped, ad)
}

// PassphraseParams are argon2id's cost parameters. They are stored in each
// passphrase slot, so changing the defaults never locks out old slots.
type PassphraseParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes computed in parallel
}

// DefaultPassphraseParams returns RFC 9106's second recommended option:
// argon2id with t=3, 64 MiB, 4 lanes (about 0.2 s on one core of our
// build machine; an attacker pays the same per guess).
func DefaultPassphraseParams() PassphraseParams {
	return PassphraseParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}
}

// Passphrase returns a KeyProvider deriving the slot's wrapping key from a
// passphrase with argon2id and DefaultPassphraseParams.
func Passphrase(p string) KeyProvider {
	return PassphraseWith(p, DefaultPassphraseParams())
}

// PassphraseWith is Passphrase with explicit argon2id costs for new slots.
// Existing slots are opened with the costs stored in them.
func PassphraseWith(p string, params PassphraseParams) KeyProvider {
	return passphrase{p: p, params: params}
}

type passphrase struct {
	p      string
	params PassphraseParams
}

func (passphrase) Kind() string { return "passphrase" }

// Bounds on the argon2id costs a slot may ask for: slots are not
// authenticated before they are tried, so a planted slot must not make
// Open exhaust memory or run for minutes.
const (
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 16
	maxArgonThreads   = 64
)

func (pp passphrase) kek(params []byte) ([]byte, error) {
	d := decoder{B: params}
	t, m, th := d.U32(), d.U32(), d.U8()
	salt := d.Take(16)
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("passphrase slot parameters: %w", err)
	}
	if t == 0 || t > maxArgonTime || m < 8 || m > maxArgonMemoryKiB || th == 0 || th > maxArgonThreads {
		return nil, fmt.Errorf("passphrase slot parameters out of range: time %d, memory %d KiB, threads %d", t, m, th)
	}
	return argon2.IDKey([]byte(pp.p), salt, t, m, th, 32), nil
}

func (pp passphrase) Wrap(_ context.Context, master, ad []byte) ([]byte, []byte, error) {
	var e encoder
	e.U32(pp.params.Time)
	e.U32(pp.params.MemoryKiB)
	e.U8(pp.params.Threads)
	salt := make([]byte, 16)
	rand.Read(salt)
	e.Raw(salt)
	kek, err := pp.kek(e.B)
	if err != nil {
		return nil, nil, err
	}
	w, err := gcmSeal(kek, master, ad)
	return e.B, w, err
}

func (pp passphrase) Unwrap(_ context.Context, params, wrapped, ad []byte) ([]byte, error) {
	kek, err := pp.kek(params)
	if err != nil {
		return nil, err
	}
	return gcmOpen(kek, wrapped, ad)
}

// Keeper returns a KeyProvider for envelope encryption through a
// gocloud.dev/secrets keeper: AWS KMS, GCP KMS, Azure Key Vault, Vault
// (blank-import the driver) or base64key:// for local use. The master key
// never leaves the process unwrapped; the KMS holds the wrapping key, so
// rotating it there or disabling it is done without touching data.
func Keeper(k *secrets.Keeper) KeyProvider { return keeper{k: k} }

type keeper struct{ k *secrets.Keeper }

func (keeper) Kind() string { return "keeper" }

// Keepers do not take additional data, so the slot binds it inside the
// plaintext: master || SHA-256(ad).
func (kp keeper) Wrap(ctx context.Context, master, ad []byte) ([]byte, []byte, error) {
	adh := sha256.Sum256(ad)
	w, err := kp.k.Encrypt(ctx, append(append([]byte{}, master...), adh[:]...))
	if err != nil {
		return nil, nil, fmt.Errorf("keeper encrypt: %w", err)
	}
	return nil, w, nil
}

func (kp keeper) Unwrap(ctx context.Context, _, wrapped, ad []byte) ([]byte, error) {
	p, err := kp.k.Decrypt(ctx, wrapped)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		switch gcerrors.Code(err) {
		case gcerrors.PermissionDenied, gcerrors.DeadlineExceeded, gcerrors.Unimplemented,
			gcerrors.Canceled, gcerrors.ResourceExhausted, gcerrors.Internal, gcerrors.NotFound:
			// The KMS could not be asked, or refused us: not a wrong key.
			return nil, fmt.Errorf("keeper decrypt: %w", err)
		}
		return nil, fmt.Errorf("%w: keeper decrypt: %v", ErrWrongKey, err)
	}
	adh := sha256.Sum256(ad)
	if len(p) != masterKeySize+len(adh) || subtle.ConstantTimeCompare(p[masterKeySize:], adh[:]) != 1 {
		return nil, fmt.Errorf("%w: keeper slot bound to another repository", ErrWrongKey)
	}
	return p[:masterKeySize], nil
}

// newGCM is AES-256-GCM under a key-encryption key.
func newGCM(kek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func gcmSeal(kek, plain, ad []byte) ([]byte, error) {
	g, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	n := make([]byte, g.NonceSize())
	rand.Read(n) // one message per wrapping key: a random nonce is safe
	return g.Seal(n, n, plain, ad), nil
}

func gcmOpen(kek, wrapped, ad []byte) ([]byte, error) {
	g, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < g.NonceSize()+g.Overhead() {
		return nil, fmt.Errorf("%w: wrapped key too short", ErrWrongKey)
	}
	p, err := g.Open(nil, wrapped[:g.NonceSize()], wrapped[g.NonceSize():], ad)
	if err != nil {
		return nil, ErrWrongKey
	}
	return p, nil
}

// KeySlot describes one key slot of a repository.
type KeySlot struct {
	// ID names the slot (32 hex digits); RemoveKey takes it.
	ID string
	// Kind is the KeyProvider kind that opens it.
	Kind string
	// Label is free text from AddKey, e.g. "ops team passphrase".
	Label string
	// Created is when the slot was added.
	Created time.Time

	params, wrapped []byte
}

// encodeSlot builds a key slot object: header, then a clear body (the
// wrapped key is itself sealed) ending in an xxhash64 of everything
// before it, so damage is told from a wrong key.
func encodeSlot(s KeySlot) []byte {
	h := header{version: formatVersion, kind: kindKey}
	e := encoder{B: h.append(nil)}
	e.Str(s.Kind)
	e.Str(s.Label)
	e.U64(uint64(s.Created.UnixNano()))
	e.Bytes(s.params)
	e.Bytes(s.wrapped)
	e.U64(xxhash.Sum64(e.B))
	return e.B
}

// decodeSlot parses a key slot object. It never panics and allocates at
// most len(b) bytes.
func decodeSlot(name string, b []byte) (KeySlot, error) {
	var s KeySlot
	if _, err := parseHeader(name, b, kindKey); err != nil {
		return s, err
	}
	if len(b) < headerSize+8 {
		return s, objErr(name, -1, ErrTruncated)
	}
	body, sum := b[:len(b)-8], b[len(b)-8:]
	if xxhash.Sum64(body) != leU64(sum) {
		return s, corrupt(name, -1, "key slot checksum mismatch")
	}
	d := decoder{B: body, Off: headerSize}
	s.Kind = d.Str(64)
	s.Label = d.Str(1024)
	s.Created = time.Unix(0, int64(d.U64())).UTC()
	s.params = d.Bytes(4096)
	s.wrapped = d.Bytes(64 << 10)
	if err := d.Done(); err != nil {
		return KeySlot{}, corrupt(name, int64(d.Off), err.Error())
	}
	s.ID = name[len(keysPrefix):]
	return s, nil
}

func leU64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// slotAD binds a slot to its repository and name.
func slotAD(repoID [repoIDSize]byte, slotID string) []byte {
	return append(append([]byte("continuity/snapshot/v1/slot/"), repoID[:]...), slotID...)
}

// Inspection is what a bucket shows without a key: whether it holds a
// repository, and the key slots that open it.
type Inspection struct {
	Exists  bool      // the bucket holds a repository's config
	Slots   []KeySlot // the slots that decode (kinds and labels are in clear)
	Damaged int       // slots that do not decode
}

// Inspect reads what a bucket shows without a key, so that a caller can
// tell "no repository yet" from "a repository this key does not open"
// and say which keys would.
func Inspect(ctx context.Context, bucket *blob.Bucket) (Inspection, error) {
	var in Inspection
	ok, err := bucket.Exists(ctx, configName)
	if err != nil {
		return in, fmt.Errorf("snapshot: inspect: %w", err)
	}
	in.Exists = ok
	slots, damaged, err := listSlots(ctx, bucket)
	if err != nil {
		return in, fmt.Errorf("snapshot: inspect: %w", err)
	}
	in.Slots, in.Damaged = slots, len(damaged)
	return in, nil
}

// String names the slots' kinds and labels, e.g. `raw (slot 1f2e…,
// "node key"), passphrase (slot 9a8b…)`.
func (in Inspection) String() string {
	if len(in.Slots) == 0 {
		return "no readable key slot"
	}
	var b strings.Builder
	for i, s := range in.Slots {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s key (slot %.8s", s.Kind, s.ID)
		if s.Label != "" {
			fmt.Fprintf(&b, ", %q", s.Label)
		}
		b.WriteString(")")
	}
	return b.String()
}
