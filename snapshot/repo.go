package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/internal/blobcount"
	"github.com/continuity-go/continuity/internal/blobview"
	"github.com/continuity-go/continuity/internal/cdc"
)

// Repo is an open snapshot repository in a bucket. It is safe for
// concurrent use: several Saves and Restores may run at once.
type Repo struct {
	bucket *blob.Bucket
	opts   Options
	log    *slog.Logger
	format Format
	chunk  *cdc.Chunker

	// keys is the keyring: replaced whole by RotateMaster, by
	// freshKeys when another process rotated, and by a retiring
	// Reencrypt. keysMu serializes the replacements and guards slotID
	// and keysChecked.
	keys        atomic.Pointer[keyring]
	keysMu      sync.Mutex
	keysChecked time.Time
	slotID      string
	provider    KeyProvider // the key this Repo was opened with, kept to follow rotations

	// fault, set only by tests, is called before every object write or
	// delete of Save, Forget and Prune; an error stops the operation
	// there, as if the process had died.
	fault func(op, name string) error

	// packBufs recycles pack buffers (PackBytes and then some) between
	// Saves and across a Save's packs: allocating them zeroed costs as
	// much as sealing their contents.
	packBufs sync.Pool

	// lockAware: the bucket has Object Lock enabled, so deletes ask
	// first whether an object is retained (also without
	// Options.ObjectLock, as ctl opens it).
	lockAware bool
	// With Options.ObjectLock: the S3 bucket, for extending the dates
	// of reused packs; lockDates are dates known (lockMu); extended
	// counts extensions (Stats.LocksExtended).
	s3        s3Bucket
	lockMu    sync.Mutex
	lockDates map[string]time.Time
	lockedDst map[*blob.Bucket]s3Bucket // copies' buckets found lockable (newCopyLock)
	extended  atomic.Int64

	// requests counts what this Repo asks of its bucket (Requests).
	requests *blobcount.Counter

	// uploads and reads throttle pack transfers (Options.UploadLimit,
	// ReadLimit); nil when unlimited.
	uploads, reads *throttle

	refreshMu sync.Mutex // serializes refreshIndex
	idxMu     sync.RWMutex
	idx       *index

	mu        sync.Mutex
	closed    bool
	destroyed bool // by DestroyKeys: calls return ErrDestroyed
}

// repoConfig is the decoded config object.
type repoConfig struct {
	repoID  [repoIDSize]byte
	created time.Time
	format  Format
}

// encodeConfigBody encodes the sealed part of the config object.
func encodeConfigBody(c repoConfig) []byte {
	var e encoder
	e.U64(uint64(c.created.UnixNano()))
	e.U32(uint32(c.format.ChunkMin))
	e.U32(uint32(c.format.ChunkAvg))
	e.U32(uint32(c.format.ChunkMax))
	e.U8(byte(c.format.Codec))
	e.U8(1) // chunk ID algorithm: keyed BLAKE3-256
	return e.B
}

// decodeConfigBody decodes the sealed part of the config object and
// validates the format it describes.
func decodeConfigBody(b []byte) (repoConfig, error) {
	var c repoConfig
	d := decoder{B: b}
	c.created = time.Unix(0, int64(d.U64())).UTC()
	c.format.ChunkMin = int(d.U32())
	c.format.ChunkAvg = int(d.U32())
	c.format.ChunkMax = int(d.U32())
	c.format.Codec = Codec(d.U8())
	alg := d.U8()
	if err := d.Done(); err != nil {
		return c, err
	}
	if alg != 1 {
		return c, fmt.Errorf("unknown chunk ID algorithm %d", alg)
	}
	if c.format.ChunkMin == 0 {
		return c, errors.New("chunker parameters missing")
	}
	if err := c.format.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Init creates a repository in bucket (which must not hold one), with a
// new random master key wrapped by keys in the first key slot, and opens
// it. The bucket may be shared with other data under other prefixes; use
// blob.PrefixedBucket to place the repository under a prefix.
func Init(ctx context.Context, bucket *blob.Bucket, keys KeyProvider, f Format, opts Options) (*Repo, error) {
	if err := errors.Join(f.Validate(), opts.Validate()); err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		return nil, fmt.Errorf("%w: Init", ErrReadOnly)
	}
	if opts.ObjectLock != nil {
		if _, err := checkObjectLock(ctx, bucket); err != nil {
			return nil, err
		}
	}
	f = f.withDefaults()
	if ok, err := bucket.Exists(ctx, configName); err != nil {
		return nil, fmt.Errorf("snapshot: init: %w", err)
	} else if ok {
		return nil, ErrExists
	}
	if destroyed(ctx, bucket) {
		// The destroyed repository's packs, indexes and manifests are
		// still here: a new repository beside them could not read its
		// index, and would mix the two.
		return nil, fmt.Errorf("snapshot: init: %w: its remains (data/, index/, snapshots/, the %q marker) are still in the bucket; delete them, or init under another prefix", ErrDestroyed, tombstoneName)
	}
	master := make([]byte, masterKeySize)
	rand.Read(master)
	var cfg repoConfig
	rand.Read(cfg.repoID[:])
	cfg.created = opts.withDefaults().Now().UTC()
	cfg.format = f
	kr, err := deriveKeyring(master, cfg.repoID)
	if err != nil {
		return nil, err
	}
	// The first slot goes in before the config: a crash between the two
	// leaves a stray slot, never a repository nobody can open.
	if _, err := addSlot(ctx, bucket, kr, keys, "initial key", cfg.created); err != nil {
		return nil, fmt.Errorf("snapshot: init: %w", err)
	}
	obj, err := kr.sealObject(kindConfig, cfg.repoID[:], encodeConfigBody(cfg))
	if err != nil {
		return nil, err
	}
	if err := putObject(ctx, bucket, configName, obj); err != nil {
		if gcerrors.Code(err) == gcerrors.FailedPrecondition {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("snapshot: init: write config: %w", err)
	}
	return Open(ctx, bucket, keys, opts)
}

// Open opens the repository in bucket with keys. It returns ErrNoRepository
// if there is none, ErrDestroyed if DestroyKeys deleted its key slots, and an error wrapping ErrWrongKey if no key slot opens
// with keys. It tries at most Options.MaxKeySlots slots of keys' kind,
// newest first; when none of them opens and there are more, the error
// wraps ErrTooManySlots. Passphrase slots asking for costs above
// MaxPassphraseParams are refused untried (ErrSlotCost), and a slot that
// opens but whose metadata was altered in the bucket is refused with an
// *ObjectError wrapping ErrCorrupt. It loads the repository's index into memory (about 80 bytes
// per stored chunk).
func Open(ctx context.Context, bucket *blob.Bucket, keys KeyProvider, opts Options) (*Repo, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	requests := new(blobcount.Counter)
	bucket = blobcount.Wrap(bucket, requests)
	lockAware := false
	var s3b s3Bucket
	var err error
	switch {
	case opts.ReadOnly:
	case opts.ObjectLock != nil:
		if s3b, err = checkObjectLock(ctx, bucket); err != nil {
			return nil, err
		}
		lockAware = true
	default:
		lockAware = lockEnabled(ctx, bucket)
	}
	raw, err := getObjectMax(ctx, bucket, configName, maxConfigBytes)
	if errors.Is(err, ErrMissing) {
		if destroyed(ctx, bucket) {
			return nil, ErrDestroyed
		}
		return nil, ErrNoRepository
	} else if err != nil {
		return nil, fmt.Errorf("snapshot: open: %w", err)
	}
	if _, err := parseHeader(configName, raw, kindConfig); err != nil {
		return nil, err
	}
	if len(raw) < headerSize+repoIDSize {
		return nil, objErr(configName, -1, ErrTruncated)
	}
	var repoID [repoIDSize]byte
	copy(repoID[:], raw[headerSize:])

	kr, slot, more, err := openKeys(ctx, bucket, repoID, keys, opts.MaxKeySlots)
	if err != nil {
		if destroyed(ctx, bucket) {
			return nil, fmt.Errorf("%w (%v)", ErrDestroyed, err)
		}
		return nil, err
	}
	slotID := slot.ID
	body, err := kr.openObject(configName, kindConfig, repoIDSize, raw)
	if errors.Is(err, ErrKeyEpoch) {
		return nil, fmt.Errorf("snapshot: open: the key opened slot %.8s, which is from before a master-key rotation whose older epochs were retired: open with a current slot: %w", slotID, err)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: open: the key opened slot %.8s, but the config object does not authenticate: it is damaged; restore it from a copy of the archive: %w", slotID, err)
	}
	cfg, err := decodeConfigBody(body)
	if err != nil {
		return nil, corrupt(configName, -1, err.Error())
	}
	ch, err := cdc.New(cdc.Params{Min: cfg.format.ChunkMin, Avg: cfg.format.ChunkAvg, Max: cfg.format.ChunkMax}, cdc.NewTable(kr.gear))
	if err != nil {
		return nil, corrupt(configName, -1, err.Error())
	}
	r := &Repo{
		bucket:      bucket,
		opts:        opts,
		log:         opts.Logger.With("component", "snapshot"),
		format:      cfg.format,
		chunk:       ch,
		slotID:      slotID,
		provider:    keys,
		keysChecked: opts.Now(),
		idx:         newIndex(),
		lockAware:   lockAware,
		s3:          s3b,
		requests:    requests,
		uploads:     newThrottle(opts.UploadLimit, opts),
		reads:       newThrottle(opts.ReadLimit, opts),
	}
	r.keys.Store(kr)
	if err := r.refreshIndex(ctx, false); err != nil {
		if errors.Is(err, ErrKeyEpoch) {
			return nil, fmt.Errorf("snapshot: open: the key opened slot %.8s, which is from before a master-key rotation: open with a current slot: %w", slotID, err)
		}
		return nil, err
	}
	if slot.version < 2 {
		r.log.Warn("key slot has format 1: its label and parameters are not authenticated; RotateKey rewrites it",
			"slot", slotID, "version", slot.version)
	}
	if more > 0 {
		r.log.Warn("more key slots of this kind than Options.MaxKeySlots; remove stale ones",
			"kind", keys.Kind(), "untried", more, "max", opts.MaxKeySlots)
	}
	r.log.Info("repository open", "repo", hex.EncodeToString(repoID[:]), "slot", slotID,
		"packs", len(r.idx.packs), "blobs", r.idx.len(), "codec", cfg.format.Codec, "key_epoch", kr.current)
	return r, nil
}

// unwrapMaster tries the slots of keys' kind, newest first, at most limit
// of them, and returns the master key, the slot that opened, and how
// many slots of the kind were left untried.
//
// Only the kind's slots are tried: keys cannot open another kind's, and
// each try costs a derivation or a KMS call. Newest first, because the
// newest slot is the likeliest to hold the current secret (RotateKey
// adds a slot; old ones are often stale). Created is not authenticated
// before a slot opens, so a planted slot may claim to be newest: that
// costs one try of at most MaxPassphraseParams, and at most limit tries
// are made whatever the bucket holds. Passphrase slots asking for more
// are refused when decoded, before any derivation.
func unwrapMaster(ctx context.Context, bucket *blob.Bucket, repoID [repoIDSize]byte, keys KeyProvider, limit int) (master []byte, slot KeySlot, untried int, err error) {
	slots, damaged, err := listSlots(ctx, bucket)
	if err != nil {
		return nil, KeySlot{}, 0, err
	}
	var errs []error
	if keys.Kind() == passphraseKind {
		for _, d := range damaged {
			if errors.Is(d, ErrSlotCost) {
				errs = append(errs, d) // a slot of ours, refused untried
			}
		}
	}
	var cands []KeySlot
	for _, s := range slots {
		if s.Kind == keys.Kind() {
			cands = append(cands, s)
		}
	}
	slices.SortFunc(cands, func(a, b KeySlot) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	tried := min(len(cands), limit)
	for _, s := range cands[:tried] {
		m, err := keys.Unwrap(ctx, s.params, s.wrapped, slotAD(repoID, s.ID, s.version))
		if err == nil && (s.version < 3 && len(m) == masterKeySize || s.version >= 3 && len(m) == keySetSize) {
			if s.version >= 2 && !verifySlot(slotMACRoot(m, s.version), repoID, s) {
				// The key is right but the slot's metadata was altered
				// in the bucket: refuse the slot, say so.
				errs = append(errs, corrupt(keysPrefix+s.ID, -1,
					"key slot metadata (kind, label, created, params) does not authenticate: altered in the bucket"))
				continue
			}
			return m, s, len(cands) - tried, nil
		}
		if err != nil && !errors.Is(err, ErrWrongKey) {
			// Not a wrong key: the KMS unreachable, ctx done, a slot
			// with impossible parameters. Say so, with the cause.
			errs = append(errs, fmt.Errorf("slot %s: %w", s.ID, err))
		}
	}
	if len(cands) > tried {
		errs = append([]error{fmt.Errorf("%w: %d %s slots, the newest %d tried", ErrTooManySlots, len(cands), keys.Kind(), tried)}, errs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, KeySlot{}, 0, fmt.Errorf("snapshot: open: no key slot opened, and %d could not be tried: %w", len(errs), err)
	}
	msg := fmt.Sprintf("%d %s slots tried of %d", tried, keys.Kind(), len(slots))
	if len(damaged) > 0 {
		msg += fmt.Sprintf("; %d damaged slots skipped: %v", len(damaged), errors.Join(damaged...))
	}
	return nil, KeySlot{}, 0, fmt.Errorf("%w (%s)", ErrWrongKey, msg)
}

// listSlots returns the decodable key slots, and the errors of those that
// are not.
func listSlots(ctx context.Context, bucket *blob.Bucket) (slots []KeySlot, damaged []error, err error) {
	names, err := listNames(ctx, bucket, keysPrefix)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		b, err := getObjectMax(ctx, bucket, n, maxSlotBytes)
		if errors.Is(err, ErrMissing) {
			continue // removed meanwhile
		} else if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) {
			// Oversized or cut short: damaged like a slot that does not
			// decode, so it must not lock the other slots' owners out.
			damaged = append(damaged, err)
			continue
		} else if err != nil {
			return nil, nil, err
		}
		s, err := decodeSlot(n, b)
		if err != nil {
			// One damaged or foreign slot must not lock the owners of the
			// others out; without a good slot, Open says ErrWrongKey.
			damaged = append(damaged, err)
			continue
		}
		slots = append(slots, s)
	}
	return slots, damaged, nil
}

// addSlot writes a key slot wrapping kr's slot secret with keys.
func addSlot(ctx context.Context, bucket *blob.Bucket, kr *keyring, keys KeyProvider, label string, now time.Time) (KeySlot, error) {
	s := KeySlot{ID: randomName(), Kind: keys.Kind(), Label: label, Created: now.UTC().Round(0), version: kr.slotFormat()}
	var err error
	s.params, s.wrapped, err = keys.Wrap(ctx, kr.slotSecret(), slotAD(kr.repoID, s.ID, s.version))
	if err != nil {
		return KeySlot{}, fmt.Errorf("wrap key: %w", err)
	}
	if s.mac, err = slotMAC(kr.macRoot(), kr.repoID, s); err != nil {
		return KeySlot{}, err
	}
	s.Verified = true
	if err := putObject(ctx, bucket, keysPrefix+s.ID, encodeSlot(s)); err != nil {
		return KeySlot{}, fmt.Errorf("write key slot: %w", err)
	}
	return s, nil
}

// Keys lists the repository's key slots, with Verified set on those
// whose metadata authenticates under the master key. Slots that cannot
// be decoded (damaged, asking for argon2id costs above the limit, or
// written by a newer release) are not listed; they are logged, as are
// format 2 slots whose metadata was altered (listed unverified).
func (r *Repo) Keys(ctx context.Context) ([]KeySlot, error) {
	if err := r.checkOpen(); err != nil {
		return nil, err
	}
	slots, damaged, err := listSlots(ctx, r.bucket)
	for _, d := range damaged {
		r.log.Warn("key slot skipped", "err", d)
	}
	for i := range slots {
		slots[i].Verified = verifySlot(r.kr().macRoot(), r.kr().repoID, slots[i])
		if !slots[i].Verified && slots[i].version >= 2 {
			r.log.Warn("key slot metadata does not authenticate: altered in the bucket", "slot", slots[i].ID)
		}
	}
	return slots, err
}

// SlotID is the ID of the key slot this Repo was opened with (or, after
// a rotation, the slot that replaced it).
func (r *Repo) SlotID() string {
	r.keysMu.Lock()
	defer r.keysMu.Unlock()
	return r.slotID
}

// kr returns the current keyring.
func (r *Repo) kr() *keyring { return r.keys.Load() }

// AddKey adds a key slot wrapping the repository's master key with keys.
// Nothing else is written: no data is re-encrypted.
func (r *Repo) AddKey(ctx context.Context, keys KeyProvider, label string) (KeySlot, error) {
	if err := r.checkWritable(); err != nil {
		return KeySlot{}, err
	}
	return addSlot(ctx, r.bucket, r.kr(), keys, label, r.opts.Now())
}

// RemoveKey deletes a key slot. It refuses (ErrLastKey) to delete the
// only slot. Removing the slot this Repo was opened with is allowed
// while another exists; the open Repo keeps working. If two processes
// remove the last two slots at once, the slot removed here is written
// back when none is left.
func (r *Repo) RemoveKey(ctx context.Context, slotID string) error {
	if err := r.checkWritable(); err != nil {
		return err
	}
	slots, _, err := listSlots(ctx, r.bucket)
	if err != nil {
		return err
	}
	var victim *KeySlot
	for i := range slots {
		if slots[i].ID == slotID {
			victim = &slots[i]
		}
	}
	if victim == nil {
		return fmt.Errorf("snapshot: remove key: no slot %q (Keys lists them)", slotID)
	}
	if len(slots) == 1 {
		return ErrLastKey
	}
	if err := r.bucket.Delete(ctx, keysPrefix+slotID); err != nil {
		return fmt.Errorf("snapshot: remove key: %w", err)
	}
	left, _, err := listSlots(ctx, r.bucket)
	if err != nil {
		return err
	}
	if len(left) == 0 {
		if err := putObject(ctx, r.bucket, keysPrefix+slotID, encodeSlot(*victim)); err != nil {
			return fmt.Errorf("snapshot: remove key raced with another removal and no slot is left; writing slot %s back failed: %w", slotID, err)
		}
		return ErrLastKey
	}
	return nil
}

// RotateKey replaces slot slotID with a new slot wrapped by keys (a new
// passphrase, a new KMS key): the new slot is written before the old one
// is deleted, so a crash leaves both, never neither.
func (r *Repo) RotateKey(ctx context.Context, slotID string, keys KeyProvider, label string) (KeySlot, error) {
	s, err := r.AddKey(ctx, keys, label)
	if err != nil {
		return KeySlot{}, err
	}
	if err := r.RemoveKey(ctx, slotID); err != nil {
		return s, fmt.Errorf("snapshot: rotate key: new slot %s added, old slot not removed: %w", s.ID, err)
	}
	return s, nil
}

// Format returns the repository's chunker and codec choices.
func (r *Repo) Format() Format { return r.format }

// ID returns the repository's random ID as 32 hex digits.
func (r *Repo) ID() string { return hex.EncodeToString(r.kr().repoID[:]) }

// Close releases the Repo. It does not close the bucket, and it does not
// stop operations already running (cancel their contexts for that): they
// finish or fail on their own. Calls after Close return ErrClosed; Close
// is safe to call twice.
func (r *Repo) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// Requests are the requests a Repo made of its bucket since Open, by
// operation as S3 bills them (a LIST is one page; a GET whole or a
// range; a HEAD an Attributes or Exists), and the object bytes they
// moved.
type Requests struct {
	Put, Get, List, Delete, Head int64
	BytesUp, BytesDown           int64
}

// Requests returns the requests made so far.
func (r *Repo) Requests() Requests {
	c := r.requests.Counts()
	return Requests{Put: c.Put, Get: c.Get, List: c.List, Delete: c.Delete, Head: c.Head, BytesUp: c.BytesUp, BytesDown: c.BytesDown}
}

// checkWritable is checkOpen for calls that write.
func (r *Repo) checkWritable() error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	if r.opts.ReadOnly {
		return ErrReadOnly
	}
	return nil
}

func (r *Repo) checkOpen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.destroyed {
		return ErrDestroyed
	}
	if r.closed {
		return ErrClosed
	}
	return nil
}

// randomName returns 16 random bytes as 32 hex digits.
func randomName() string {
	var b [objNameBytes]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// packCapacity is the buffer size a pack needs: PackBytes plus room for
// the blob that crosses it and the trailer.
func (r *Repo) packCapacity() int { return r.opts.PackBytes + r.format.ChunkMax + r.opts.PackBytes/8 }

// newPackWriter starts a pack in a recycled buffer.
func (r *Repo) newPackWriter() (*packWriter, error) {
	var buf []byte
	if b, ok := r.packBufs.Get().(*[]byte); ok {
		buf = *b
	}
	return r.kr().newPackWriter(buf, r.packCapacity())
}

// recyclePack returns a finished pack's buffer for reuse.
func (r *Repo) recyclePack(buf []byte) {
	if cap(buf) >= r.packCapacity() {
		buf = buf[:0]
		r.packBufs.Put(&buf)
	}
}

// put writes a repository object once (see putObject).
func (r *Repo) put(ctx context.Context, name string, data []byte) error {
	if r.fault != nil {
		if err := r.fault("put", name); err != nil {
			return err
		}
	}
	return writeThrottled(ctx, r.bucket, name, data, true, nil, r.lockedWrite(name))
}

// putPack writes a pack (Save, Prune) once, at Options.UploadLimit.
func (r *Repo) putPack(ctx context.Context, name string, data []byte) error {
	if r.fault != nil {
		if err := r.fault("put", name); err != nil {
			return err
		}
	}
	return writeThrottled(ctx, r.bucket, name, data, true, r.uploads, r.lockedWrite(name))
}

// replace writes an object over whatever is under its name (Reencrypt,
// RotateMaster): the store writes it whole or not at all.
func (r *Repo) replace(ctx context.Context, name string, data []byte) error {
	if r.fault != nil {
		if err := r.fault("put", name); err != nil {
			return err
		}
	}
	return writeThrottled(ctx, r.bucket, name, data, false, nil, r.lockedWrite(name))
}

// del deletes an object; one already gone is not an error. One under
// Object Lock whose date has not passed is not deleted: the error wraps
// a *RetainedError (ErrRetained).
func (r *Repo) del(ctx context.Context, name string) error { return r.deleteObject(ctx, name, false) }

// deleteObject is del; lockChecked says the caller has just asked
// whether name is retained (Prune, deciding what to delete), so it is
// not asked again.
func (r *Repo) deleteObject(ctx context.Context, name string, lockChecked bool) error {
	if r.fault != nil {
		if err := r.fault("delete", name); err != nil {
			return err
		}
	}
	if !lockChecked && r.mayBeLocked(name) {
		// Deleting a locked object in a versioned bucket would only
		// hide it behind a delete marker: ask first.
		if err := r.retained(ctx, name); errors.Is(err, ErrMissing) {
			return nil
		} else if err != nil {
			return fmt.Errorf("delete %w", objErr(name, -1, err))
		}
	}
	if err := r.bucket.Delete(ctx, name); err != nil {
		if err := storageErr(name, err); !errors.Is(err, ErrMissing) {
			return fmt.Errorf("delete %w", err)
		}
	}
	return nil
}

// putObject writes an object once: with IfNotExist, so history is never
// overwritten on stores that support it. It does not ask the store to
// check an MD5 of the content (Bucket.WriteAll would, hashing the data
// twice at about 600 MB/s): every object is authenticated by AES-GCM, and
// Verify reads it back.
func putObject(ctx context.Context, bucket *blob.Bucket, name string, data []byte) error {
	return writeObject(ctx, bucket, name, data, true)
}

// writeObject writes data as name, only if name does not exist yet when
// ifNotExist is set.
func writeObject(ctx context.Context, bucket *blob.Bucket, name string, data []byte, ifNotExist bool) error {
	return writeThrottled(ctx, bucket, name, data, ifNotExist, nil, nil)
}

// writeThrottled is writeObject, passing t (nil: no limit) a piece at a
// time, with the BeforeWrite hook before (nil: none).
func writeThrottled(ctx context.Context, bucket *blob.Bucket, name string, data []byte, ifNotExist bool, t *throttle, before func(func(any) bool) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // aborts the write if it did not complete
	w, err := bucket.NewWriter(ctx, name, &blob.WriterOptions{
		IfNotExist:  ifNotExist,
		ContentType: "application/octet-stream",
		BeforeWrite: before,
	})
	if err != nil {
		return err
	}
	piece := len(data)
	if t != nil {
		piece = throttlePiece
	}
	for len(data) > 0 {
		n := min(len(data), piece)
		err := t.wait(ctx, n)
		if err == nil {
			_, err = w.Write(data[:n])
		}
		if err != nil {
			cancel()
			_ = w.Close()
			return err
		}
		data = data[n:]
	}
	return w.Close()
}

// Size limits for objects read whole before they are authenticated, so a
// planted object cannot make a reader allocate without bound.
const (
	maxSlotBytes     = 1 << 20
	maxLockBytes     = 1 << 20
	maxConfigBytes   = 1 << 20
	maxManifestBytes = 16 << 20
	maxIndexBytes    = 1 << 30
	// maxPackBytes bounds a pack no index names (RepairIndex): the
	// largest PackBytes, the blob that crosses it and room for the
	// trailer, as packCapacity. Packs an index names are read with the
	// size the index records.
	maxPackBytes = 1<<30 + maxChunk + 1<<30/8
)

// getObjectMax reads a whole object of at most max bytes: a larger one
// is ErrCorrupt, before anything is allocated for it.
func getObjectMax(ctx context.Context, bucket *blob.Bucket, name string, max int64) ([]byte, error) {
	return getThrottled(ctx, bucket, name, max, nil)
}

// readPack reads a whole pack (Verify, Prune) at Options.ReadLimit.
func (r *Repo) readPack(ctx context.Context, p packInfo) ([]byte, error) {
	return getThrottled(ctx, r.bucket, p.name(), p.size, r.reads)
}

// getThrottled is getObjectMax, reading through t (nil: no limit) a
// piece at a time.
func getThrottled(ctx context.Context, bucket *blob.Bucket, name string, max int64, t *throttle) ([]byte, error) {
	rd, err := bucket.NewReader(ctx, name, nil)
	if err != nil {
		return nil, storageErr(name, err)
	}
	defer rd.Close()
	if rd.Size() > max || rd.Size() < 0 {
		return nil, corrupt(name, -1, fmt.Sprintf("%d bytes, more than the %d expected", rd.Size(), max))
	}
	b := make([]byte, rd.Size())
	src := io.Reader(rd)
	if t != nil {
		src = &throttledReader{ctx: ctx, r: rd, t: t}
	}
	if _, err := io.ReadFull(src, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, objErr(name, -1, ErrTruncated)
		}
		return nil, storageErr(name, err)
	}
	return b, nil
}

// readRange reads exactly n bytes at off of an object.
func readRange(ctx context.Context, bucket *blob.Bucket, name string, off, n int64, buf []byte) ([]byte, error) {
	rd, err := openRange(ctx, bucket, name, off, n)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return readAll(rd, name, off, n, buf)
}

// readRangeLent is readRange where the bucket may lend the range's bytes
// (blobview): they are then returned read-only, with lent true, and stay
// valid until release is called; otherwise they are read into buf(),
// called only then. The caller calls release either way, once it is done
// with the bytes.
func readRangeLent(ctx context.Context, bucket *blob.Bucket, name string, off, n int64, buf func() []byte) (data []byte, lent bool, release func() error, err error) {
	rd, err := openRange(ctx, bucket, name, off, n)
	if err != nil {
		return nil, false, nil, err
	}
	var v blobview.View
	if rd.As(&v) && int64(len(v.Bytes)) == n {
		return v.Bytes, true, rd.Close, nil
	}
	data, err = readAll(rd, name, off, n, buf())
	rd.Close()
	return data, false, func() error { return nil }, err
}

// openRange opens a range reader of n bytes of object name from off.
func openRange(ctx context.Context, bucket *blob.Bucket, name string, off, n int64) (*blob.Reader, error) {
	rd, err := bucket.NewRangeReader(ctx, name, off, n, nil)
	if err != nil {
		// S3 answers a range that starts past the object's end with 416
		// InvalidRange: the object is shorter than the index says.
		var ae interface{ ErrorCode() string }
		if errors.As(err, &ae) && ae.ErrorCode() == "InvalidRange" {
			return nil, objErr(name, off, fmt.Errorf("%w: wanted %d bytes at offset %d, past the object's end", ErrTruncated, n, off))
		}
		return nil, storageErr(name, err)
	}
	return rd, nil
}

// readAll reads the n bytes of rd's range into buf (grown if short).
func readAll(rd *blob.Reader, name string, off, n int64, buf []byte) ([]byte, error) {
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	m, err := io.ReadFull(rd, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return nil, objErr(name, off+int64(m), fmt.Errorf("%w: wanted %d bytes at offset %d, got %d", ErrTruncated, n, off, m))
	}
	if err != nil {
		return nil, storageErr(name, err)
	}
	return buf, nil
}

func storageErr(name string, err error) error {
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return objErr(name, -1, ErrMissing)
	case gcerrors.PermissionDenied:
		return objErr(name, -1, fmt.Errorf("%w: %w", ErrDenied, err))
	}
	return objErr(name, -1, err)
}

// listObjects lists the objects under prefix in name order (with a
// delimiter, the directories below prefix too, as blob.ListOptions). Some stores
// (fileblob) fail a listing when an object vanishes while they list; such
// a listing is restarted, a few times.
func listObjects(ctx context.Context, bucket *blob.Bucket, prefix, delimiter string) ([]*blob.ListObject, error) {
	for attempt := 0; ; attempt++ {
		var objs []*blob.ListObject
		it := bucket.List(&blob.ListOptions{Prefix: prefix, Delimiter: delimiter})
		var err error
		for {
			var o *blob.ListObject
			o, err = it.Next(ctx)
			if err != nil {
				break
			}
			if !o.IsDir || delimiter != "" {
				objs = append(objs, o)
			}
		}
		if err == io.EOF {
			return objs, nil
		}
		if gcerrors.Code(err) != gcerrors.NotFound || attempt == 4 {
			return nil, fmt.Errorf("snapshot: list %s: %w", prefix, err)
		}
	}
}

// listNames lists object names under prefix, sorted.
func listNames(ctx context.Context, bucket *blob.Bucket, prefix string) ([]string, error) {
	objs, err := listObjects(ctx, bucket, prefix, "")
	if err != nil {
		return nil, err
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Key
	}
	return names, nil
}
