package continuity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// TenantStateMachine is a StateMachine whose state is partitioned by
// tenant. A node whose state machine implements it accepts
// AppendTenant: each tenant's events are sealed under the tenant's own
// key in the log, on standbys and in the archive, and each tenant's state
// in base snapshots is sealed under it too, so ForgetTenant shreds one
// tenant everywhere.
//
// The StateMachine methods cover what belongs to no tenant: Apply gets
// the events appended with Append, Snapshot writes the shared state
// only, and Restore replaces it and clears every tenant (RestoreTenant
// then brings back each tenant the snapshot holds). A tenant's state
// must live only in what SnapshotTenant writes, or it is not shredded.
type TenantStateMachine interface {
	StateMachine
	// ApplyTenant folds one event of the tenant into the state
	// (rec.Data is the event as appended). Deterministic, as Apply.
	ApplyTenant(tenant string, rec Record) error
	// SnapshotTenant writes the tenant's state.
	SnapshotTenant(tenant string, w io.Writer) error
	// RestoreTenant sets the tenant's state to one SnapshotTenant wrote.
	RestoreTenant(tenant string, r io.Reader) error
	// DropTenant deletes everything the state holds of the tenant: its
	// key was destroyed (ForgetTenant).
	DropTenant(tenant string) error
}

// TenantOptions are the choices made when a tenant is created.
type TenantOptions struct {
	// Keeper names the gocloud secrets keeper that wraps the tenant's
	// key (a customer-managed KMS key), opened by Config.TenantKeepers;
	// "" wraps it by the archive's key alone.
	Keeper string
}

// TenantInfo is what a node knows of a tenant.
type TenantInfo = tenant.Tenant

// ErrUnknownTenant: no key record names the tenant (or it was forgotten).
var ErrUnknownTenant = errors.New("continuity: no such tenant")

// ErrNoTenants: the node's state machine does not implement
// TenantStateMachine.
var ErrNoTenants = errors.New("continuity: the state machine does not implement TenantStateMachine; tenants need it")

// tenants is a node's tenant machinery: names, keys, sealing.
type tenants struct {
	n       *Node
	tagger  *tenant.Tagger
	reg     *tenant.Registry
	local   *blob.Bucket // this node's copies of key slots, Dir/tenant-keys
	keepers tenant.Keepers
	sealer  tenant.Sealer

	known    sync.Map       // tenant ID → *knownTenant
	genMu    sync.Mutex     // one generation record at a time
	createMu [64]sync.Mutex // one creation at a time per tenant (striped by tag)
}

// knownTenant is what a node keeps of a tenant ID it has met: its tag,
// computed once, its gate, and its live key as the registry last gave it
// (nil until then). AppendTenant takes no lock for the key, and reaches
// the AES-GCM state through as few pointers as it can: with many
// tenants' writers taking turns, each is a cache miss on the writers'
// path, which every group commit waits for.
//
// The gate orders a tenant's appends and its forget record.
// AppendTenant holds it shared from its key lookup until its events are
// appended; ForgetTenant holds it alone from before its forget record is
// appended until the record is applied. So an event sealed under the key
// a forget destroys is appended before the forget record (and shredded
// with the tenant), and an append that waited looks its key up again,
// finds the tenant forgotten and creates it anew: no append is
// acknowledged after the forget record and then skipped as shredded.
type knownTenant struct {
	tag  tenant.Tag
	gate sync.RWMutex
	live atomic.Pointer[liveKey]
}

// liveKey is a tenant's live key, valid while the registry's Changes()
// is still changes (read before the lookup), and the sealer of one
// generation under it (zero until an append needs it). Never modified:
// a new lookup or generation stores a new one.
type liveKey struct {
	key     *tenant.Key
	changes uint64
	sealer  tenant.RecordSealer
}

// openTenants sets up the tenant machinery (the archive is open).
func (n *Node) openTenants() (*tenants, error) {
	key, err := n.repo.NameKey("tenant-tag")
	if err != nil {
		return nil, err
	}
	local, err := localblob.OpenBucket(filepath.Join(n.cfg.Dir, "tenant-keys"), &localblob.Options{Logger: n.cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("continuity: open the tenant key copies: %w", err)
	}
	t := &tenants{n: n, tagger: tenant.NewTagger(key), local: local, keepers: n.cfg.TenantKeepers}
	t.reg = tenant.NewRegistry(t.load)
	return t, nil
}

func (t *tenants) close() error { return t.local.Close() }

// live returns the tenant's live key, creating the tenant (with opts) if
// the log names none and create is set. kt is the tenant's knownTenant.
func (t *tenants) live(ctx context.Context, id string, kt *knownTenant, opts TenantOptions, create bool) (*liveKey, error) {
	changes := t.reg.Changes()
	if lk := kt.live.Load(); lk != nil && lk.changes == changes {
		return lk, nil
	}
	k, err := t.lookup(ctx, id, kt.tag, opts, create)
	if err != nil {
		return nil, err
	}
	lk := &liveKey{key: k, changes: changes}
	kt.live.Store(lk)
	return lk, nil
}

// sealer returns lk's sealer of the generation g, making one if lk has
// another (the first append, or a new generation).
func (kt *knownTenant) sealer(lk *liveKey, g tenant.Generation) (*liveKey, error) {
	if lk.sealer.Seals(lk.key, g) {
		return lk, nil
	}
	s, err := lk.key.RecordSealer(g)
	if err != nil {
		return nil, err
	}
	next := &liveKey{key: lk.key, changes: lk.changes, sealer: s}
	kt.live.CompareAndSwap(lk, next) // unless a newer lookup replaced it
	return next, nil
}

// lookup returns the tenant's live key from the registry, creating the
// tenant if the log names none and create is set.
func (t *tenants) lookup(ctx context.Context, id string, tag tenant.Tag, opts TenantOptions, create bool) (*tenant.Key, error) {
	if k := t.reg.Key(tag); k != nil {
		return k, nil
	}
	if k, info, ok := t.reg.Lookup(tag); ok && !info.Forgotten {
		if k == nil {
			return nil, named(info.Err, id)
		}
		return k, nil
	}
	if !create {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTenant, id)
	}
	mu := &t.createMu[tag[0]%uint8(len(t.createMu))]
	mu.Lock()
	defer mu.Unlock()
	if k, info, ok := t.reg.Lookup(tag); ok && !info.Forgotten && k != nil {
		return k, nil // created meanwhile
	}
	k := tenant.NewKey(tag)
	for t.reg.KnownKey(k.ID) { // a format 3 event names its key alone
		k = tenant.NewKey(tag)
	}
	body, err := tenant.WrapSlot(ctx, k, opts.Keeper, t.keepers)
	if err != nil {
		return nil, err
	}
	name := tenant.SlotName(tag, k.ID)
	if _, err := t.n.repo.PutSealed(ctx, name, nil, body); err != nil {
		return nil, fmt.Errorf("continuity: store tenant %q's key in the archive: %w", id, err)
	}
	t.n.wrote(name) // copies need it to read the tenant's events
	undo := func() { _, _, _ = t.deleteSlots(context.WithoutCancel(ctx), tag, k.ID) }
	if err := t.keepCopy(ctx, name, body); err != nil {
		undo()
		return nil, fmt.Errorf("continuity: keep tenant %q's key on this node: %w", id, err)
	}
	rec, err := tenant.KeyRecord{Tag: tag, Key: k.ID, Created: time.Now(), Keeper: opts.Keeper, ID: id}.Encode(k)
	if err != nil {
		undo()
		return nil, err
	}
	_, last, err := t.n.appendKind(ctx, tenant.KindKey, [][]byte{rec})
	if err != nil {
		undo()
		return nil, err
	}
	if err := t.n.WaitFor(ctx, last); err != nil {
		return nil, err
	}
	t.n.record(ctx, audit.Entry{Action: "tenant.create", Subject: tag.String(), LSN: uint64(last),
		Details: map[string]string{"key": k.ID.String(), "keeper": opts.Keeper}})
	got, info, ok := t.reg.Lookup(tag)
	switch {
	case !ok || info.Key != k.ID:
		return nil, fmt.Errorf("continuity: tenant %q's key record at LSN %d did not reach the registry", id, last)
	case got == nil:
		return nil, named(info.Err, id)
	}
	return got, nil
}

// named fills the tenant ID into a *tenant.KeyUnavailableError: the
// registry knows tenants whose key it cannot read by tag only.
func named(err error, id string) error {
	var ku *tenant.KeyUnavailableError
	if errors.As(err, &ku) && ku.ID == "" {
		c := *ku
		c.ID = id
		return &c
	}
	return err
}

// knownTenant returns what the node keeps of id, once id is known to be
// a tenant ID.
func (t *tenants) knownTenant(id string) (*knownTenant, error) {
	if v, ok := t.known.Load(id); ok {
		return v.(*knownTenant), nil
	}
	if err := tenant.CheckID(id); err != nil {
		return nil, err
	}
	v, _ := t.known.LoadOrStore(id, &knownTenant{tag: t.tagger.Tag(id)})
	return v.(*knownTenant), nil
}

// next returns the generation and counter of the next seal, taking a new
// generation when this process has none in the log's epoch: a
// KindGeneration record, made durable before any seal uses it.
func (t *tenants) next(ctx context.Context) (tenant.Generation, uint64, error) {
	for {
		if g, c, ok := t.sealer.Next(t.n.log.Epoch()); ok {
			return g, c, nil
		}
		if err := t.startGeneration(ctx); err != nil {
			return tenant.Generation{}, 0, err
		}
	}
}

// ready returns once the node may act on its registry: it has a sealing
// generation in the log's epoch, so its state has applied every record
// its log held before (startGeneration). Open returns, and a new primary
// takes writes, while the applier still replays: a key or forget record
// it has not applied yet would otherwise go unseen, and AppendTenant
// would create a second key for a tenant that has one, or seal under a
// key whose forget record precedes the event.
func (t *tenants) ready(ctx context.Context) error {
	for !t.sealer.Ready(t.n.log.Epoch()) {
		if err := t.startGeneration(ctx); err != nil {
			return err
		}
	}
	return nil
}

// startGeneration appends a KindGeneration record, makes it durable and
// waits until the state has applied it, then starts sealing under it.
func (t *tenants) startGeneration(ctx context.Context) error {
	t.genMu.Lock()
	defer t.genMu.Unlock()
	if _, _, ok := t.sealer.Next(t.n.log.Epoch()); ok {
		return nil // another writer started one (the counter value is skipped)
	}
	_, lsn, err := t.n.appendKind(ctx, tenant.KindGeneration, [][]byte{tenant.GenerationRecord()})
	if err != nil {
		return err
	}
	// Durable before any seal under it, whatever the log's Durability.
	if err := t.n.log.Sync(); err != nil {
		return err
	}
	r := t.n.log.NewReader(lsn)
	defer r.Close()
	rec, err := r.Next(ctx)
	if err != nil {
		return fmt.Errorf("continuity: read back the sealing generation at LSN %d: %w", lsn, err)
	}
	if rec.Kind != tenant.KindGeneration {
		return fmt.Errorf("continuity: LSN %d is not the sealing generation just appended", lsn)
	}
	// Every record before it applied: the registry is as the log says
	// (see ready). No writer seals until Start.
	if err := t.n.WaitFor(ctx, lsn); err != nil {
		return fmt.Errorf("continuity: wait for the state to apply the log up to the sealing generation at LSN %d: %w", lsn, err)
	}
	t.sealer.Start(tenant.Generation{Epoch: rec.Epoch, LSN: uint64(rec.LSN)})
	return nil
}

// CreateTenant creates the tenant id with opts: a data key, stored
// wrapped in the archive and on every node, and a key record in the log.
// AppendTenant creates a tenant it does not know with the zero
// TenantOptions; call CreateTenant first to choose them (a keeper). A
// tenant that exists is left as it is.
func (n *Node) CreateTenant(ctx context.Context, id string, opts TenantOptions) error {
	t, err := n.tenantsOrErr()
	if err != nil {
		return err
	}
	kt, err := t.knownTenant(id)
	if err != nil {
		return err
	}
	if err := t.ready(ctx); err != nil {
		return err
	}
	_, err = t.live(ctx, id, kt, opts, true)
	return err
}

// AppendTenant appends events of the tenant id, each sealed under the
// tenant's key, as Append does (one batch, consecutive LSNs). The state
// machine gets them through ApplyTenant. A tenant the log does not know
// is created first (CreateTenant with the zero options).
//
// The first AppendTenant, CreateTenant or ForgetTenant after Open, and
// after the node becomes primary, waits until the state has applied the
// log the node holds: only then does the node know every tenant's keys
// and forgets (Open returns while the WAL still replays).
func (n *Node) AppendTenant(ctx context.Context, id string, events ...[]byte) (first, last wal.LSN, err error) {
	start := time.Now()
	defer func() { n.stats.record(events, time.Since(start), err) }()
	t, err := n.tenantsOrErr()
	if err != nil {
		return 0, 0, err
	}
	if len(events) == 0 {
		return 0, 0, nil
	}
	kt, err := t.knownTenant(id)
	if err != nil {
		return 0, 0, err
	}
	kt.gate.RLock()
	defer kt.gate.RUnlock()
	if err := t.ready(ctx); err != nil {
		return 0, 0, err
	}
	lk, err := t.live(ctx, id, kt, TenantOptions{}, true)
	if err != nil {
		return 0, 0, err
	}
	// The log copies what it appends: the sealed events' buffers go
	// back to a pool once it returns, rather than to the collector.
	bufs := sealBufs.Get().(*[][]byte)
	defer func() {
		for i := range *bufs {
			(*bufs)[i] = (*bufs)[i][:0]
		}
		sealBufs.Put(bufs)
	}()
	for len(*bufs) < len(events) {
		*bufs = append(*bufs, nil)
	}
	sealed := (*bufs)[:len(events)]
	for i, ev := range events {
		g, c, err := t.next(ctx)
		if err != nil {
			return 0, 0, err
		}
		if lk, err = kt.sealer(lk, g); err != nil {
			return 0, 0, err
		}
		if sealed[i], err = lk.sealer.Seal(sealed[i][:0], c, ev); err != nil {
			return 0, 0, err
		}
	}
	return n.appendKind(ctx, tenant.KindSealed, sealed)
}

// sealBufs holds AppendTenant's buffers of sealed events.
var sealBufs = sync.Pool{New: func() any { return new([][]byte) }}

// Tenants lists the tenants the node's state knows, forgotten ones too.
func (n *Node) Tenants() []TenantInfo {
	if n.tenants == nil {
		return nil
	}
	return n.tenants.reg.Tenants()
}

func (n *Node) tenantsOrErr() (*tenants, error) {
	if n.tenants == nil {
		return nil, ErrNoTenants
	}
	return n.tenants, nil
}
