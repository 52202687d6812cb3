package tenant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuity-go/continuity/internal/binenc"
)

// Loader finds and unwraps the key (tag, id): from the node's copy of its
// slot, else the archive's. A slot that exists nowhere gives an error
// wrapping ErrNoSlot.
type Loader func(ctx context.Context, tag Tag, id KeyID) (*Key, error)

// ErrNoSlot: a key's slot exists nowhere (the key was destroyed, or its
// slot deleted by someone else).
var ErrNoSlot = errors.New("tenant: no slot holds the key")

// Registry is what the log says about tenants, applied in LSN order: each
// tenant's key and whether it was forgotten. It holds the keys unwrapped,
// in memory. Safe for concurrent use.
type Registry struct {
	load Loader

	mu      sync.RWMutex
	tenants map[Tag]*entry
	// keys names the tenant of every key the registry has learned, its
	// tenants' current keys and the retired ones (replaced, or named by
	// a forget record that could not be checked): a format 3 sealed
	// event names only its key.
	keys map[KeyID]Tag
	// live holds the tenants' current keys that are loaded and not
	// forgotten, with their tenant's ID: Open finds most events' key
	// with one lookup, not three objects apart.
	live map[KeyID]liveKey
	// changes counts the applied key and forget records and snapshot
	// reads: what a caller keeping a key looked up here checks.
	changes atomic.Uint64
}

// entry is one tenant's state.
type entry struct {
	tag       Tag
	id        string // "" while the key is unavailable
	keyID     KeyID
	keeper    string
	created   time.Time
	key       *Key  // nil if unavailable or forgotten
	err       error // why key is nil (a *KeyUnavailableError), if not forgotten
	forgotten bool
	record    []byte // the KindKey payload, for snapshots
}

// liveKey is a live key and its tenant's ID.
type liveKey struct {
	key *Key
	id  string
}

// NewRegistry returns an empty registry that finds keys through load.
func NewRegistry(load Loader) *Registry {
	return &Registry{load: load, tenants: map[Tag]*entry{}, keys: map[KeyID]Tag{}, live: map[KeyID]liveKey{}}
}

// Tenant is what the registry knows of one tenant.
type Tenant struct {
	Tag       Tag
	ID        string // "" if the key is unavailable or destroyed before it was read
	Key       KeyID
	Keeper    string
	Created   time.Time
	Forgotten bool
	Err       error // why the key is unavailable, if it is
}

func (e *entry) info() Tenant {
	return Tenant{Tag: e.tag, ID: e.id, Key: e.keyID, Keeper: e.keeper, Created: e.created, Forgotten: e.forgotten, Err: e.err}
}

// ApplyKey applies a KindKey record: the tenant has this key from now
// on. A key that cannot be loaded leaves the tenant unavailable (its
// events give *KeyUnavailableError, or ShreddedError once a forget
// record follows); only a damaged record is an error.
func (g *Registry) ApplyKey(ctx context.Context, payload []byte) (Tenant, error) {
	h, err := ParseKeyRecord(payload)
	if err != nil {
		return Tenant{}, err
	}
	e := &entry{tag: h.Tag, keyID: h.Key, keeper: h.Keeper, created: h.Created, record: slices.Clone(payload)}
	k, err := g.load(ctx, h.Tag, h.Key)
	if err == nil {
		var r KeyRecord
		if r, err = h.Open(k); err != nil {
			return Tenant{}, err // the key's slot is real, the record is not
		}
		e.id, e.key = r.ID, k
	} else {
		e.err = &KeyUnavailableError{Tag: h.Tag, Key: h.Key, Err: err}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if owner, ok := g.keys[h.Key]; ok && owner != h.Tag {
		if k != nil {
			k.Destroy()
		}
		return Tenant{}, fmt.Errorf("%w: a key record gives tenant %s the key %s, which is tenant %s's", ErrDamaged, h.Tag, h.Key, owner)
	}
	if old, ok := g.tenants[h.Tag]; ok && old.keyID != h.Key {
		if old.key != nil {
			old.key.Destroy()
		}
		delete(g.live, old.keyID)
	}
	g.tenants[h.Tag] = e
	g.keys[h.Key] = h.Tag
	if e.key != nil {
		g.live[h.Key] = liveKey{key: e.key, id: e.id}
	} else {
		delete(g.live, h.Key)
	}
	g.changes.Add(1)
	return e.info(), nil
}

// ApplyForget applies a KindForget record: the tenant's key is destroyed
// in memory (the caller deletes its slots). The record's MAC is checked
// under the key when the key is held (verified); a record for a key
// already unavailable cannot be checked, and destroys nothing held.
func (g *Registry) ApplyForget(payload []byte) (ForgetRecord, Tenant, bool, error) {
	h, err := ParseForgetRecord(payload)
	if err != nil {
		return ForgetRecord{}, Tenant{}, false, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.changes.Add(1)
	if owner, ok := g.keys[h.Key]; ok && owner != h.Tag {
		return ForgetRecord{}, Tenant{}, false, fmt.Errorf("%w: a forget record names tenant %s's key %s for tenant %s", ErrDamaged, owner, h.Key, h.Tag)
	}
	e, ok := g.tenants[h.Tag]
	if ok && e.keyID != h.Key {
		// A key the tenant does not have now: the record cannot be
		// checked, so it must not touch the tenant's current key. Its
		// events read as shredded.
		g.keys[h.Key] = h.Tag
		return h.ForgetRecord, Tenant{Tag: h.Tag, Key: h.Key, Forgotten: true}, false, nil
	}
	if !ok {
		// A key this registry never saw (the record came after a base
		// snapshot that no longer lists it): nothing held.
		e = &entry{tag: h.Tag, keyID: h.Key}
		g.tenants[h.Tag] = e
		g.keys[h.Key] = h.Tag
	}
	verified := false
	if e.key != nil {
		if err := h.Check(e.key); err != nil {
			return ForgetRecord{}, Tenant{}, false, err
		}
		verified = true
		e.key.Destroy()
	}
	e.key, e.err, e.forgotten, e.record = nil, nil, true, nil
	delete(g.live, e.keyID)
	return h.ForgetRecord, e.info(), verified, nil
}

// Open opens a sealed event (a KindSealed payload) and returns the
// tenant's ID and the event. A forgotten tenant's gives a
// *ShreddedError; an unavailable key a *KeyUnavailableError.
func (g *Registry) Open(dst, payload []byte) (Tenant, []byte, error) {
	env, err := ParseEnvelope(payload)
	if err != nil {
		return Tenant{}, nil, err
	}
	g.mu.RLock()
	if l, ok := g.live[env.Key]; ok {
		g.mu.RUnlock()
		out, err := env.Open(dst, l.key)
		t := Tenant{Tag: l.key.Tag, ID: l.id, Key: env.Key}
		if errors.Is(err, ErrShredded) {
			return t, nil, &ShreddedError{Tag: t.Tag, Key: env.Key, ID: l.id}
		}
		return t, out, err
	}
	tag, known := g.keys[env.Key]
	if !known && env.tagged() {
		tag, known = env.Tag, true // an earlier build's event: it names the tenant
	}
	e, ok := g.tenants[tag]
	ok = ok && known
	var t Tenant
	var k *Key
	if ok {
		t, k = e.info(), e.key
	}
	g.mu.RUnlock()
	switch {
	case !known:
		return Tenant{}, nil, fmt.Errorf("%w (key %s)", ErrUnknownKey, env.Key)
	case !ok:
		return Tenant{Tag: tag}, nil, fmt.Errorf("%w: a sealed event of tenant %s, which has no key record before it", ErrDamaged, tag)
	case t.Key != env.Key || t.Forgotten:
		return t, nil, &ShreddedError{Tag: tag, Key: env.Key, ID: t.ID}
	case k == nil:
		return t, nil, t.Err
	}
	out, err := env.Open(dst, k)
	if errors.Is(err, ErrShredded) {
		return t, nil, &ShreddedError{Tag: tag, Key: env.Key, ID: t.ID}
	}
	return t, out, err
}

// KnownKey reports whether a key record or forget record applied here
// named the key id: a new key must not take the ID of one.
func (g *Registry) KnownKey(id KeyID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, ok := g.keys[id]
	return ok
}

// Changes counts what changed the registry (key and forget records
// applied, snapshots read): a key Key returned stays the tenant's live
// key while Changes, read before the call, is the same.
func (g *Registry) Changes() uint64 { return g.changes.Load() }

// Key returns the live key of the tenant tagged tag, if the registry
// holds one (Lookup says why not).
func (g *Registry) Key(tag Tag) *Key {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if e, ok := g.tenants[tag]; ok && !e.forgotten {
		return e.key
	}
	return nil
}

// Lookup returns what the registry knows of the tenant tagged tag, and
// its key if the key is live and held.
func (g *Registry) Lookup(tag Tag) (*Key, Tenant, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	e, ok := g.tenants[tag]
	if !ok {
		return nil, Tenant{}, false
	}
	return e.key, e.info(), true
}

// Tenants lists every tenant the registry knows, forgotten ones too, by
// tag.
func (g *Registry) Tenants() []Tenant {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]Tenant, 0, len(g.tenants))
	for _, e := range g.tenants {
		out = append(out, e.info())
	}
	slices.SortFunc(out, func(a, b Tenant) int { return slices.Compare(a.Tag[:], b.Tag[:]) })
	return out
}

// Registry snapshot: the registry as of a base snapshot, before the
// host's state in the snapshot stream.
//
//	off  size  field
//	  0     8  magic "CTENANT1"
//	  8     4  entry count
//	 12     .  entries: state u8, tag (16), key ID (8), then for a live
//	           entry its KindKey payload (4+n)
//
// State 0 is a tenant's live key, 1 its forgotten key, 2 a key it no
// longer has (retired: replaced, or named by a forget record that could
// not be checked), which format 3 sealed events need to be found
// shredded. The tenants' entries come first, by tag, then the retired
// keys by key ID. Builds before format 3 wrote no state 2 and reject it
// ("entry state 2").
const (
	snapshotMagic = "CTENANT1"
	maxTenants    = 1 << 24
	maxKeyRecord  = 4 << 10
)

// WriteTo writes the registry snapshot.
func (g *Registry) WriteTo(w io.Writer) (int64, error) {
	g.mu.RLock()
	e := binenc.Encoder{B: []byte(snapshotMagic)}
	retired := g.retiredLocked()
	e.U32(uint32(len(g.tenants) + len(retired)))
	for _, t := range g.sortedLocked() {
		if t.forgotten {
			e.U8(1)
		} else {
			e.U8(0)
		}
		e.Raw(t.tag[:])
		e.Raw(t.keyID[:])
		if !t.forgotten {
			e.Bytes(t.record)
		}
	}
	for _, id := range retired {
		tag := g.keys[id]
		e.U8(2)
		e.Raw(tag[:])
		e.Raw(id[:])
	}
	g.mu.RUnlock()
	n, err := w.Write(e.B)
	return int64(n), err
}

// retiredLocked lists the keys no tenant has now, by ID.
func (g *Registry) retiredLocked() []KeyID {
	var out []KeyID
	for id, tag := range g.keys {
		if e, ok := g.tenants[tag]; !ok || e.keyID != id {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b KeyID) int { return slices.Compare(a[:], b[:]) })
	return out
}

func (g *Registry) sortedLocked() []*entry {
	out := make([]*entry, 0, len(g.tenants))
	for _, e := range g.tenants {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *entry) int { return slices.Compare(a.tag[:], b.tag[:]) })
	return out
}

// ReadFrom replaces the registry with the snapshot read from r, loading
// every live key again. It reads exactly the snapshot's bytes.
func (g *Registry) ReadFrom(ctx context.Context, r io.Reader) error {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("%w: tenant registry: %v", ErrDamaged, err)
	}
	if string(hdr[:8]) != snapshotMagic {
		return fmt.Errorf("%w: tenant registry: bad magic", ErrDamaged)
	}
	d := binenc.Decoder{B: hdr[8:]}
	n := d.U32()
	if n > maxTenants {
		return fmt.Errorf("%w: tenant registry of %d entries, more than %d", ErrDamaged, n, maxTenants)
	}
	fresh := NewRegistry(g.load)
	var fixed [25]byte
	for range n {
		if _, err := io.ReadFull(r, fixed[:]); err != nil {
			return fmt.Errorf("%w: tenant registry: %v", ErrDamaged, err)
		}
		var tag Tag
		var id KeyID
		copy(tag[:], fixed[1:17])
		copy(id[:], fixed[17:25])
		if owner, ok := fresh.keys[id]; ok && owner != tag {
			return fmt.Errorf("%w: tenant registry: key %s of tenant %s is tenant %s's too", ErrDamaged, id, tag, owner)
		}
		switch fixed[0] {
		case 2:
			fresh.keys[id] = tag
		case 1:
			fresh.tenants[tag] = &entry{tag: tag, keyID: id, forgotten: true}
			fresh.keys[id] = tag
		case 0:
			rec, err := readBytes(r, maxKeyRecord)
			if err != nil {
				return fmt.Errorf("%w: tenant registry: %v", ErrDamaged, err)
			}
			t, err := fresh.ApplyKey(ctx, rec)
			if err != nil {
				return err
			}
			if t.Tag != tag || t.Key != id {
				return fmt.Errorf("%w: tenant registry: entry %s/%s holds the record of %s/%s", ErrDamaged, tag, id, t.Tag, t.Key)
			}
		default:
			return fmt.Errorf("%w: tenant registry: entry state %d", ErrDamaged, fixed[0])
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range g.tenants {
		if e.key != nil {
			e.key.Destroy()
		}
	}
	g.tenants, g.keys, g.live = fresh.tenants, fresh.keys, fresh.live
	g.changes.Add(1)
	return nil
}

func readBytes(r io.Reader, max int) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	d := binenc.Decoder{B: n[:]}
	size := d.U32()
	if size > uint32(max) {
		return nil, fmt.Errorf("a record of %d bytes, more than %d", size, max)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}

// SnapshotMagic starts every registry snapshot.
const SnapshotMagic = snapshotMagic

// EmptySnapshot is the snapshot of an empty registry.
func EmptySnapshot() []byte {
	e := binenc.Encoder{B: []byte(snapshotMagic)}
	e.U32(0)
	return e.B
}
