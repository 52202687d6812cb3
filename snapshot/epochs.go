package snapshot

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"
)

// Key epochs on disk.
//
// A repository never rotated has format 1 or 2 key slots wrapping the
// 64-byte epoch-0 master key, from which every key is derived. The first
// RotateMaster turns its slots into format 3 slots, which wrap a key set
// instead (keySetSize bytes, little-endian):
//
//	| off | size | field                          |
//	|   0 |    1 | key set version, 1             |
//	|   1 |   32 | chunk-ID key                   |
//	|  33 |   32 | tree-ID key                    |
//	|  65 |   32 | gear seed                      |
//	|  97 |    4 | current epoch, uint32          |
//	| 101 |    8 | when it began, Unix ns         |
//	| 109 |   64 | the current epoch's master key |
//
// The older epochs' master keys, kept to read what they sealed, are in
// one object, epochs/<current epoch as 8 hex digits>, sealed (kind 9)
// under the current epoch's key: a count, uint32, then per epoch the
// epoch, uint32, and its master key (64). A key slot from before a
// rotation opens only the older epochs, never a later one's objects.
// Reencrypt retires the older epochs by deleting that object once
// nothing is sealed under them.
const (
	keySetVersion = 1
	keySetSize    = 1 + 3*32 + 4 + 8 + masterKeySize
	epochsPrefix  = "epochs/"
	kindEpochs    = byte(9)
	// maxRetained bounds the older epochs one object may hold.
	maxRetained = 1024
)

func epochsName(epoch uint32) string { return fmt.Sprintf("%s%08x", epochsPrefix, epoch) }

// slotSecret is what a new key slot wraps: the epoch-0 master key while
// the repository was never rotated (so older builds still open it), the
// key set after.
func (k *keyring) slotSecret() []byte {
	if k.legacy {
		return k.masters[0]
	}
	e := encoder{B: make([]byte, 0, keySetSize)}
	e.U8(keySetVersion)
	e.Raw(k.dataID[:])
	e.Raw(k.treeID[:])
	e.Raw(k.gear[:])
	e.U32(k.current)
	e.U64(uint64(k.created.UnixNano()))
	e.Raw(k.masters[k.current])
	return e.B
}

// slotFormat is the key slot format a new slot of k is written in.
func (k *keyring) slotFormat() uint16 {
	if k.legacy {
		return 2
	}
	return 3
}

// macRoot is the secret a slot's metadata MAC key derives from: the
// current epoch's master key.
func (k *keyring) macRoot() []byte { return k.masters[k.current] }

// keyringFromSecret builds the keyring from what a slot of the given
// format unwrapped. It does not read the retained older epochs.
func keyringFromSecret(secret []byte, format uint16, repoID [repoIDSize]byte) (*keyring, error) {
	if format < 3 {
		if len(secret) != masterKeySize {
			return nil, fmt.Errorf("%w: a format %d slot unwrapped %d bytes, not a master key", ErrWrongKey, format, len(secret))
		}
		return deriveKeyring(secret, repoID)
	}
	d := decoder{B: secret}
	if v := d.U8(); d.Err == nil && v != keySetVersion {
		return nil, fmt.Errorf("key set version %d, want %d", v, keySetVersion)
	}
	k := &keyring{repoID: repoID, masters: map[uint32][]byte{}, enc: map[uint32]*[32]byte{}}
	copy(k.dataID[:], d.Take(32))
	copy(k.treeID[:], d.Take(32))
	copy(k.gear[:], d.Take(32))
	k.current = d.U32()
	k.created = time.Unix(0, int64(d.U64())).UTC()
	master := append([]byte(nil), d.Take(masterKeySize)...)
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	if k.current == 0 {
		return nil, errors.New("key set: epoch 0 (format 3 slots begin at epoch 1)")
	}
	if err := k.hold(k.current, master); err != nil {
		return nil, err
	}
	return k, nil
}

// encodeRetained and decodeRetained are the sealed body of an epochs/
// object: the older epochs' master keys, each below current.
func encodeRetained(k *keyring) []byte {
	var e encoder
	var old []uint32
	for _, ep := range k.epochs() {
		if ep != k.current {
			old = append(old, ep)
		}
	}
	e.U32(uint32(len(old)))
	for _, ep := range old {
		e.U32(ep)
		e.Raw(k.masters[ep])
	}
	return e.B
}

func decodeRetained(b []byte, current uint32) (map[uint32][]byte, error) {
	d := decoder{B: b}
	n := d.Count(4+masterKeySize, maxRetained)
	out := make(map[uint32][]byte, n)
	for i := 0; i < n && d.Err == nil; i++ {
		ep := d.U32()
		m := d.Take(masterKeySize)
		if d.Err == nil && ep >= current {
			d.Fail(fmt.Errorf("retained epoch %d not below the current %d", ep, current))
		}
		if d.Err == nil {
			out[ep] = append([]byte(nil), m...)
		}
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	return out, nil
}

// readRetained adds the older epochs' keys retained under k's current
// epoch. Without the object (never rotated, or retired), k holds only
// its current epoch.
func readRetained(ctx context.Context, bucket *blob.Bucket, k *keyring) error {
	if k.current == 0 {
		return nil
	}
	name := epochsName(k.current)
	raw, err := getObjectMax(ctx, bucket, name, 1<<20)
	if errors.Is(err, ErrMissing) {
		return nil
	} else if err != nil {
		return err
	}
	body, err := k.openObject(name, kindEpochs, 0, raw)
	if err != nil {
		return err
	}
	old, err := decodeRetained(body, k.current)
	if err != nil {
		return corrupt(name, -1, err.Error())
	}
	for ep, m := range old {
		if err := k.hold(ep, m); err != nil {
			return err
		}
	}
	return nil
}

// rotated returns a keyring for a new epoch after k's: a new random
// master key; k's epochs retained.
func (k *keyring) rotated(now time.Time) (*keyring, error) {
	n := &keyring{repoID: k.repoID, current: k.current + 1, created: now.UTC().Round(0),
		masters: maps.Clone(k.masters), enc: maps.Clone(k.enc),
		dataID: k.dataID, treeID: k.treeID, gear: k.gear}
	master := make([]byte, masterKeySize)
	rand.Read(master)
	if err := n.hold(n.current, master); err != nil {
		return nil, err
	}
	return n, nil
}

// retired returns k holding its current epoch only.
func (k *keyring) retired() *keyring {
	n := *k
	n.masters = map[uint32][]byte{k.current: k.masters[k.current]}
	n.enc = map[uint32]*[32]byte{k.current: k.enc[k.current]}
	return &n
}

// newestEpochNamed returns the highest epoch an epochs/ object is named
// for (names are not authenticated: a higher one only makes a Repo try
// its key on the slots again).
func newestEpochNamed(names []string) uint32 {
	var newest uint32
	for _, n := range names {
		v, err := strconv.ParseUint(strings.TrimPrefix(n, epochsPrefix), 16, 32)
		if err == nil {
			newest = max(newest, uint32(v))
		}
	}
	return newest
}

// freshKeys makes sure the keyring is the repository's current one
// before this Repo seals anything: at most every KeyCheckInterval (or
// always, with force) it lists epochs/, and when a later epoch is named
// there it opens the key slots again with its own key. Another process's
// RotateMaster so reaches every writer within KeyCheckInterval, which is
// what Reencrypt waits for before it retires an epoch.
func (r *Repo) freshKeys(ctx context.Context, force bool) error {
	r.keysMu.Lock()
	defer r.keysMu.Unlock()
	now := r.opts.Now()
	if !force && now.Sub(r.keysChecked) < r.opts.KeyCheckInterval {
		return nil
	}
	names, err := listNames(ctx, r.bucket, epochsPrefix)
	if err != nil {
		return fmt.Errorf("snapshot: check the key epoch: %w", err)
	}
	r.keysChecked = now
	kr := r.kr()
	newest := newestEpochNamed(names)
	if newest <= kr.current {
		return nil
	}
	nk, slot, _, err := openKeys(ctx, r.bucket, kr.repoID, r.provider, r.opts.MaxKeySlots)
	if err != nil {
		return fmt.Errorf("snapshot: the master key was rotated (epoch %d is named) and this key no longer opens a slot: %w", newest, err)
	}
	if nk.current <= kr.current {
		r.log.Warn("an epochs/ object names a later key epoch than any slot of this key opens; ignoring it",
			"named", newest, "current", kr.current)
		return nil
	}
	r.keys.Store(nk)
	r.slotID = slot.ID
	r.log.Info("key epoch changed by another process", "epoch", nk.current, "slot", slot.ID)
	return nil
}

// getSealed is keyring.getSealed under the Repo's keys, following a
// rotation: an object under an epoch the keyring does not hold makes it
// look for a newer epoch (another process may have rotated since this
// Repo opened) and, if the keyring changed, read again. Readers so
// follow a rotation as soon as they meet its objects.
func (r *Repo) getSealed(ctx context.Context, name string, kind byte, prefixLen int, maxBody int64, nameAD bool) (header, []byte, []byte, error) {
	kr := r.kr()
	h, prefix, body, err := kr.getSealed(ctx, r.bucket, name, kind, prefixLen, maxBody, nameAD)
	if !errors.Is(err, ErrKeyEpoch) {
		return h, prefix, body, err
	}
	if ferr := r.freshKeys(ctx, true); ferr != nil {
		r.log.Warn("an object is sealed under a key epoch this key does not hold, and looking for a newer epoch failed", "object", name, "err", ferr)
		return h, prefix, body, err
	}
	if nk := r.kr(); nk != kr {
		return nk.getSealed(ctx, r.bucket, name, kind, prefixLen, maxBody, nameAD)
	}
	return h, prefix, body, err
}

// lockKeys takes the exclusive lock for an operation that changes which
// key seals what (RotateMaster, Reencrypt), and makes sure the keyring
// is the repository's current one under it.
func (r *Repo) lockKeys(ctx context.Context, op string) (*repoLock, error) {
	if err := r.checkWritable(); err != nil {
		return nil, err
	}
	lk, err := r.lock(ctx, op, true)
	if err != nil {
		return nil, err
	}
	if err := r.freshKeys(lk.ctx(), true); err != nil {
		lk.release()
		return nil, err
	}
	return lk, nil
}

// RotateOptions are RotateMaster's.
type RotateOptions struct {
	// Keys re-wrap the new key set for other slots than the one this
	// Repo was opened with, by slot ID. Each must open its slot now.
	Keys map[string]KeyProvider
	// DropOthers deletes the slots Keys does not name: their keys stop
	// opening the repository. Without it, RotateMaster refuses to leave
	// them behind (ErrSlotsLeft).
	DropOthers bool
}

// RotateReport is what RotateMaster did.
type RotateReport struct {
	Epoch   uint32    // the new current epoch
	Slots   []KeySlot // the new slots, wrapping the new key set
	Removed []string  // the IDs of the slots replaced or dropped
	// RetireAfter is when Reencrypt may retire the older epochs: the
	// new one is then 2×KeyCheckInterval old.
	RetireAfter time.Time
}

// RotateMaster starts a new key epoch: a new random master key under
// which every object written from now on is sealed, here at once and in
// other processes within KeyCheckInterval. Objects sealed before stay
// readable through the older epochs' keys, which the repository retains
// (sealed under the new key) until Reencrypt reseals them and retires
// those epochs. Every key slot is replaced by one wrapping the new key
// set: this Repo's own with its key, the others with the keys in opts
// (or dropped, with DropOthers). A key slot kept from before (a copy, an
// old version in a versioned bucket) opens the old epochs only.
//
// It holds the exclusive lock. A crash leaves the old slots, or old and
// new slots side by side: both open, and objects sealed under either
// epoch stay readable.
func (r *Repo) RotateMaster(ctx context.Context, opts RotateOptions) (RotateReport, error) {
	var rep RotateReport
	lk, err := r.lockKeys(ctx, "rotate-master")
	if err != nil {
		return rep, err
	}
	defer lk.release()
	ctx = lk.ctx()
	kr, opened := r.kr(), r.SlotID()
	slots, _, err := listSlots(ctx, r.bucket)
	if err != nil {
		return rep, err
	}
	type rewrap struct {
		old  KeySlot
		keys KeyProvider
	}
	var plan []rewrap
	var left []string
	for _, s := range slots {
		keys := opts.Keys[s.ID]
		if s.ID == opened {
			keys = r.provider
		}
		switch {
		case keys != nil:
			// The key must open its slot to the current keys: a mistyped
			// passphrase would otherwise wrap the new key set unusably.
			got, err := keys.Unwrap(ctx, s.params, s.wrapped, slotAD(kr.repoID, s.ID, s.version))
			if err != nil {
				return rep, fmt.Errorf("snapshot: rotate: the key given for slot %s does not open it: %w", s.ID, err)
			}
			if nk, err := keyringFromSecret(got, s.version, kr.repoID); err != nil || nk.current != kr.current {
				return rep, fmt.Errorf("snapshot: rotate: slot %s opens a key of another epoch; run RotateMaster again from a Repo opened with it", s.ID)
			}
			plan = append(plan, rewrap{s, keys})
		case opts.DropOthers:
		default:
			left = append(left, fmt.Sprintf("%s (%s %q)", s.ID, s.Kind, s.Label))
		}
	}
	if len(left) > 0 {
		return rep, fmt.Errorf("%w: %s; give their keys (RotateOptions.Keys), or drop them (DropOthers) and add them again after", ErrSlotsLeft, strings.Join(left, ", "))
	}
	own := false
	for _, p := range plan {
		own = own || p.old.ID == opened
	}
	if !own {
		return rep, fmt.Errorf("snapshot: rotate: the key slot this Repo opened with (%s) is gone; open the repository again", opened)
	}
	nk, err := kr.rotated(r.opts.Now())
	if err != nil {
		return rep, err
	}
	// 1. The older epochs, sealed under the new one; 2. the new slots;
	// 3. the old slots and the superseded epochs object go.
	obj, err := nk.sealObject(kindEpochs, nil, encodeRetained(nk))
	if err != nil {
		return rep, err
	}
	if err := r.replace(ctx, epochsName(nk.current), obj); err != nil {
		return rep, fmt.Errorf("snapshot: rotate: write %s: %w", epochsName(nk.current), err)
	}
	ownSlot := ""
	for _, p := range plan {
		s, err := addSlot(ctx, r.bucket, nk, p.keys, p.old.Label, r.opts.Now())
		if err != nil {
			return rep, fmt.Errorf("snapshot: rotate: re-wrap slot %s: %w (the old slots still open the repository)", p.old.ID, err)
		}
		rep.Slots = append(rep.Slots, s)
		if p.old.ID == opened {
			ownSlot = s.ID
		}
	}
	r.keysMu.Lock()
	r.keys.Store(nk)
	r.slotID = ownSlot
	r.keysMu.Unlock()
	for _, s := range slots {
		if err := r.del(ctx, keysPrefix+s.ID); err != nil {
			return rep, fmt.Errorf("snapshot: rotate: epoch %d is current; deleting old slot %s failed (delete it with RemoveKey): %w", nk.current, s.ID, err)
		}
		rep.Removed = append(rep.Removed, s.ID)
	}
	if kr.current > 0 {
		if err := r.del(ctx, epochsName(kr.current)); err != nil {
			return rep, err
		}
	}
	rep.Epoch = nk.current
	rep.RetireAfter = nk.created.Add(2 * r.opts.KeyCheckInterval)
	r.log.Info("master key rotated", "epoch", nk.current, "slots", len(rep.Slots), "removed", len(rep.Removed))
	return rep, nil
}

// Epochs returns the key epochs this Repo holds, oldest first; the last
// is the one new objects are sealed under.
func (r *Repo) Epochs() []uint32 { return r.kr().epochs() }

// openKeys opens the key slots with keys and returns the repository's
// keyring (with the older epochs it retains), the slot that opened, and
// how many slots of the kind were left untried.
func openKeys(ctx context.Context, bucket *blob.Bucket, repoID [repoIDSize]byte, keys KeyProvider, limit int) (*keyring, KeySlot, int, error) {
	secret, slot, more, err := unwrapMaster(ctx, bucket, repoID, keys, limit)
	if err != nil {
		return nil, KeySlot{}, 0, err
	}
	kr, err := keyringFromSecret(secret, slot.version, repoID)
	if err != nil {
		return nil, KeySlot{}, 0, corrupt(keysPrefix+slot.ID, -1, err.Error())
	}
	if err := readRetained(ctx, bucket, kr); err != nil {
		return nil, KeySlot{}, 0, fmt.Errorf("snapshot: open: the older key epochs: %w", err)
	}
	return kr, slot, more, nil
}
