package snapshot

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
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

// MinPassphraseParams returns the least costs PassphraseWith accepts for
// new slots: RFC 9106's second recommended option's memory and passes
// (64 MiB, t=3). Lanes have no minimum: fewer lanes make a guess no
// cheaper for an attacker (the same memory is filled the same number of
// times), only slower for the owner.
func MinPassphraseParams() PassphraseParams {
	return PassphraseParams{Time: 3, MemoryKiB: 64 << 10, Threads: 1}
}

// MaxPassphraseParams returns the greatest costs a passphrase slot may
// ask for: 256 MiB, t=8, 16 lanes (about ten times the default cost).
// A slot asking for more is refused with ErrSlotCost when it is read,
// before any derivation: slots are not authenticated before they are
// tried, so a slot planted in the bucket must not make Open exhaust
// memory or run for minutes. PassphraseWith refuses such costs too, since no build
// would open the slot.
func MaxPassphraseParams() PassphraseParams {
	return PassphraseParams{Time: 8, MemoryKiB: 256 << 10, Threads: 16}
}

// Validate reports whether PassphraseWith accepts p for new slots: an
// error wrapping ErrWeakPassphrase below MinPassphraseParams, one
// wrapping ErrSlotCost above MaxPassphraseParams.
func (p PassphraseParams) Validate() error {
	lo := MinPassphraseParams()
	if p.Time < lo.Time || p.MemoryKiB < lo.MemoryKiB || p.Threads < lo.Threads {
		return fmt.Errorf("%w: time %d, memory %d KiB, threads %d; want at least time %d, memory %d KiB, threads %d",
			ErrWeakPassphrase, p.Time, p.MemoryKiB, p.Threads, lo.Time, lo.MemoryKiB, lo.Threads)
	}
	return p.checkMax()
}

// checkMax refuses costs above MaxPassphraseParams, and costs argon2id
// cannot take (no pass, no lane, less than 8 KiB per lane).
func (p PassphraseParams) checkMax() error {
	hi := MaxPassphraseParams()
	if p.Time > hi.Time || p.MemoryKiB > hi.MemoryKiB || p.Threads > hi.Threads {
		return fmt.Errorf("%w: time %d, memory %d KiB, threads %d; the limit is time %d, memory %d KiB, threads %d",
			ErrSlotCost, p.Time, p.MemoryKiB, p.Threads, hi.Time, hi.MemoryKiB, hi.Threads)
	}
	if p.Time == 0 || p.Threads == 0 || p.MemoryKiB < 8*uint32(p.Threads) {
		return fmt.Errorf("argon2id costs out of range: time %d, memory %d KiB, threads %d", p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// Passphrase returns a KeyProvider deriving the slot's wrapping key from a
// passphrase with argon2id and DefaultPassphraseParams.
func Passphrase(p string) KeyProvider {
	return passphrase{p: p, params: DefaultPassphraseParams()}
}

// PassphraseWith is Passphrase with explicit argon2id costs for new slots.
// Existing slots are opened with the costs stored in them. It returns an
// error wrapping ErrWeakPassphrase for costs below MinPassphraseParams
// and one wrapping ErrSlotCost for costs above MaxPassphraseParams.
func PassphraseWith(p string, params PassphraseParams) (KeyProvider, error) {
	if err := params.Validate(); err != nil {
		return nil, fmt.Errorf("snapshot: passphrase: %w", err)
	}
	return passphrase{p: p, params: params}, nil
}

// passphraseKind is the Kind of passphrase slots; their params are
// checked against MaxPassphraseParams when a slot is decoded.
const passphraseKind = "passphrase"

type passphrase struct {
	p      string
	params PassphraseParams
}

func (passphrase) Kind() string { return passphraseKind }

// passphraseSaltSize is the argon2id salt of a passphrase slot.
const passphraseSaltSize = 16

// encodePassphraseParams is a passphrase slot's params: time (uint32),
// memory in KiB (uint32), threads (uint8), salt (16 bytes).
func encodePassphraseParams(p PassphraseParams, salt []byte) []byte {
	var e encoder
	e.U32(p.Time)
	e.U32(p.MemoryKiB)
	e.U8(p.Threads)
	e.Raw(salt)
	return e.B
}

// decodePassphraseParams parses a passphrase slot's params and refuses
// costs above MaxPassphraseParams (ErrSlotCost). It allocates nothing;
// salt aliases b.
func decodePassphraseParams(b []byte) (p PassphraseParams, salt []byte, err error) {
	d := decoder{B: b}
	p.Time, p.MemoryKiB, p.Threads = d.U32(), d.U32(), d.U8()
	salt = d.Take(passphraseSaltSize)
	if err := d.Done(); err != nil {
		return p, nil, fmt.Errorf("passphrase slot parameters: %w", err)
	}
	if err := p.checkMax(); err != nil {
		return p, nil, fmt.Errorf("passphrase slot parameters: %w", err)
	}
	return p, salt, nil
}

func (pp passphrase) kek(params []byte) ([]byte, error) {
	p, salt, err := decodePassphraseParams(params)
	if err != nil {
		return nil, err
	}
	return argon2.IDKey([]byte(pp.p), salt, p.Time, p.MemoryKiB, p.Threads, 32), nil
}

func (pp passphrase) Wrap(_ context.Context, master, ad []byte) ([]byte, []byte, error) {
	salt := make([]byte, passphraseSaltSize)
	rand.Read(salt)
	params := encodePassphraseParams(pp.params, salt)
	kek, err := pp.kek(params)
	if err != nil {
		return nil, nil, err
	}
	w, err := gcmSeal(kek, master, ad)
	return params, w, err
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
	n := len(p) - len(adh)
	if n < 0 || subtle.ConstantTimeCompare(p[n:], adh[:]) != 1 {
		return nil, fmt.Errorf("%w: keeper slot bound to another repository", ErrWrongKey)
	}
	return p[:n], nil
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
	// Verified is set by Repo.Keys on slots whose kind, label, created
	// time and parameters authenticate under the repository's master
	// key. It is false for slots listed by Inspect (no key), for
	// format 1 slots (written before metadata was authenticated: their
	// label can be rewritten by anyone who can write to the bucket
	// until RotateKey replaces them), and for slots altered in the
	// bucket.
	Verified bool

	version         uint16 // slot format: 1 or 2 (slotVersion)
	params, wrapped []byte
	mac             []byte // version 2: slotMAC
}

// Key slot layout after the common header (version 1 or 2), all
// integers little-endian; part of the on-disk format:
//
//	kind     uint32 length | bytes (at most 64)
//	label    uint32 length | bytes (at most 1024)
//	created  uint64 Unix nanoseconds
//	params   uint32 length | bytes (at most 4096; passphrase: 25 bytes,
//	         time uint32, memory KiB uint32, threads uint8, salt 16)
//	wrapped  uint32 length | bytes (at most 64 KiB)
//	mac      32 bytes, version 2 only: slotMAC
//	xxhash64 of everything before it
//
// The xxhash tells damage from a wrong key; it authenticates nothing.
// The wrapped key is sealed with slotAD as additional data.
const slotMACSize = sha256.Size

// encodeSlot builds a key slot object (see the layout above). A slot
// without a version is written as version slotVersion.
func encodeSlot(s KeySlot) []byte {
	v := s.version
	if v == 0 {
		v = slotVersion
	}
	h := header{version: v, kind: kindKey}
	e := encoder{B: h.append(nil)}
	appendSlotMeta(&e, s)
	if v >= 2 {
		e.Raw(s.mac)
	}
	e.U64(xxhash.Sum64(e.B))
	return e.B
}

// appendSlotMeta encodes the fields slotMAC covers.
func appendSlotMeta(e *encoder, s KeySlot) {
	e.Str(s.Kind)
	e.Str(s.Label)
	e.U64(uint64(s.Created.UnixNano()))
	e.Bytes(s.params)
	e.Bytes(s.wrapped)
}

// decodeSlot parses a key slot object. It never panics and allocates at
// most len(b) bytes. A passphrase slot asking for argon2id costs above
// MaxPassphraseParams gives an *ObjectError with ErrSlotCost, so that it
// is refused before any derivation.
func decodeSlot(name string, b []byte) (KeySlot, error) {
	var s KeySlot
	h, err := parseHeaderRange(name, b, kindKey, minSlotVersion, maxSlotVersion)
	if err != nil {
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
	s.version = h.version
	s.Kind = d.Str(64)
	s.Label = d.Str(1024)
	s.Created = time.Unix(0, int64(d.U64())).UTC()
	paramsOff := d.Off
	s.params = d.Bytes(4096)
	s.wrapped = d.Bytes(64 << 10)
	if s.version >= 2 {
		s.mac = d.Take(slotMACSize)
	}
	if err := d.Done(); err != nil {
		return KeySlot{}, corrupt(name, int64(d.Off), err.Error())
	}
	if s.Kind == passphraseKind {
		if _, _, err := decodePassphraseParams(s.params); err != nil {
			if errors.Is(err, ErrSlotCost) {
				return KeySlot{}, objErr(name, int64(paramsOff), err)
			}
			return KeySlot{}, corrupt(name, int64(paramsOff), err.Error())
		}
	}
	s.ID = name[len(keysPrefix):]
	return s, nil
}

func leU64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// slotAD binds a slot's wrapped key to its repository, its name and its
// format version: a version 2 slot rewritten as version 1 (to drop its
// MAC and relabel it) no longer unwraps.
func slotAD(repoID [repoIDSize]byte, slotID string, version uint16) []byte {
	domain := "continuity/snapshot/v1/slot/"
	switch {
	case version >= 3:
		domain = "continuity/snapshot/v3/slot/"
	case version == 2:
		domain = "continuity/snapshot/v2/slot/"
	}
	return append(append([]byte(domain), repoID[:]...), slotID...)
}

// slotMAC authenticates a version 2 slot's metadata: HMAC-SHA-256, under
// a key derived from the master key, of the repository ID, the slot's
// name and every field before the MAC. The wrapped key's additional data
// cannot cover the params, which the provider's Wrap makes, and a keeper
// ignores params; a MAC checked once the master key is unwrapped covers
// them all for every kind, and tells a slot altered in the bucket
// (ErrCorrupt) from a wrong key.
func slotMAC(macRoot []byte, repoID [repoIDSize]byte, s KeySlot) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, macRoot, repoID[:], "continuity/snapshot/v2/slot-mac", 32)
	if err != nil {
		return nil, err
	}
	e := encoder{B: append([]byte("continuity/snapshot/v2/slot-mac/"), repoID[:]...)}
	e.Str(s.ID)
	appendSlotMeta(&e, s)
	m := hmac.New(sha256.New, key)
	m.Write(e.B)
	return m.Sum(nil), nil
}

// verifySlot reports whether slot s's metadata authenticates under
// master: always for version 2 slots with a good MAC, never for version
// 1 slots, which carry none.
func verifySlot(macRoot []byte, repoID [repoIDSize]byte, s KeySlot) bool {
	if s.version < 2 {
		return false
	}
	want, err := slotMAC(macRoot, repoID, s)
	return err == nil && hmac.Equal(want, s.mac)
}

// Inspection is what a bucket shows without a key: whether it holds a
// repository, and the key slots that open it.
type Inspection struct {
	Exists bool // the bucket holds a repository's config
	// Slots are the slots that decode. Their kinds, labels and times
	// are in clear and unauthenticated (Verified is false): anyone who
	// can write to the bucket can change them. Repo.Keys marks the
	// slots whose metadata authenticates.
	Slots   []KeySlot
	Damaged int // slots that do not decode
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

// String names the slots' kinds and labels, e.g. `raw key (slot
// 1f2e3d4c, unverified label "node key"), passphrase key (slot 9a8b7c6d)`:
// a label is marked unverified unless the slot's Verified is set.
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
		if s.Label != "" && s.Verified {
			fmt.Fprintf(&b, ", %q", s.Label)
		} else if s.Label != "" {
			fmt.Fprintf(&b, ", unverified label %q", s.Label)
		}
		b.WriteString(")")
	}
	return b.String()
}

// slotMACRoot is the secret a slot's MAC key derives from, given what the
// slot unwrapped: the master key itself (format 2), or the key set's
// current master key (format 3).
func slotMACRoot(secret []byte, version uint16) []byte {
	if version >= 3 && len(secret) == keySetSize {
		return secret[keySetSize-masterKeySize:]
	}
	return secret
}
