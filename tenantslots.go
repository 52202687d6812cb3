package continuity

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/tenant"
)

// Tenants' key slots on a node: where the registry loads keys from (the
// node's copy, else the archive's), and their deletion when a tenant is
// forgotten.

// maxSlotBytes bounds a slot object read from the archive.
const maxSlotBytes = 16 << 10

// load is the registry's Loader on a running node: its copy of the
// slot, else the archive's (copied here).
func (t *tenants) load(ctx context.Context, tag tenant.Tag, id tenant.KeyID) (*tenant.Key, error) {
	name := tenant.SlotName(tag, id)
	if b, err := t.local.ReadAll(ctx, name); err == nil {
		_, body, err := t.n.repo.OpenBytes(name, b, 0)
		if err == nil {
			return tenant.UnwrapSlot(ctx, body, tag, id, t.keepers)
		}
		t.n.lg.Warn("this node's copy of a tenant key slot does not open; reading the archive's", "slot", name, "err", err)
	}
	body, err := readSlot(ctx, t.n.repo, tag, id)
	if err != nil {
		return nil, err
	}
	k, err := tenant.UnwrapSlot(ctx, body, tag, id, t.keepers)
	if err != nil {
		return nil, err
	}
	if err := t.keepCopy(ctx, name, body); err != nil {
		t.n.lg.Warn("cannot keep a copy of a tenant key slot on this node; it reads the archive's", "slot", name, "err", err)
	}
	return k, nil
}

// archiveLoader is the registry's Loader for a restore: the archive's
// slots only, nothing written.
func archiveLoader(repo *snapshot.Repo, keepers tenant.Keepers) tenant.Loader {
	return func(ctx context.Context, tag tenant.Tag, id tenant.KeyID) (*tenant.Key, error) {
		body, err := readSlot(ctx, repo, tag, id)
		if err != nil {
			return nil, err
		}
		return tenant.UnwrapSlot(ctx, body, tag, id, keepers)
	}
}

// readSlot reads and authenticates the archive's slot of a key.
func readSlot(ctx context.Context, repo *snapshot.Repo, tag tenant.Tag, id tenant.KeyID) ([]byte, error) {
	name := tenant.SlotName(tag, id)
	_, body, err := repo.GetSealed(ctx, name, 0, maxSlotBytes)
	if isMissing(err) {
		return nil, fmt.Errorf("%w: %s is not in the archive", tenant.ErrNoSlot, name)
	}
	return body, err
}

// keepCopy writes this node's copy of a slot, sealed as the archive's.
func (t *tenants) keepCopy(ctx context.Context, name string, body []byte) error {
	sealed, err := t.n.repo.SealBytes(name, nil, body)
	if err != nil {
		return err
	}
	return t.local.WriteAll(ctx, name, sealed, nil)
}

// deleteSlots deletes the copies of a destroyed key's slot this node can
// reach: its own, and the archive's (with every old version an S3 bucket
// kept) while it ships the archive (the primary). It returns what it
// confirmed gone, and warnings for what may remain.
func (t *tenants) deleteSlots(ctx context.Context, tag tenant.Tag, id tenant.KeyID) (gone, warnings []string, err error) {
	name := tenant.SlotName(tag, id)
	if err := t.local.Delete(ctx, name); err != nil && !isMissing(err) {
		return gone, nil, fmt.Errorf("continuity: delete this node's copy of %s: %w", name, err)
	}
	gone = append(gone, filepath.Join(t.n.cfg.Dir, "tenant-keys", filepath.FromSlash(name)))
	arch := t.n.archiver()
	if arch == nil {
		return gone, nil, nil
	}
	rep, err := t.n.repo.PurgeObject(ctx, name)
	if err != nil {
		return gone, nil, fmt.Errorf("continuity: delete the archive's %s: %w", name, err)
	}
	// Then from the copies (Config.Copies), which no longer find it in
	// the archive to copy again.
	copies, warnings := arch.PurgeCopies(ctx, name)
	return append(append(gone, "archive:"+name), copies...), append(rep.Warnings, warnings...), nil
}

// forgotten is hostState's hook on a running node: the key is destroyed,
// so its slots go too, and so does the tenant's cached key (with its
// record keys) if this node appended for it. A failure to delete is
// logged; the slots are tried again when the node next applies the
// record or restores the registry.
func (t *tenants) forgotten(ctx context.Context, ti tenant.Tenant) {
	t.known.Range(func(_, v any) bool {
		if kt := v.(*knownTenant); kt.tag == ti.Tag {
			kt.live.Store(nil)
		}
		return true
	})
	_, warnings, err := t.deleteSlots(ctx, ti.Tag, ti.Key)
	if err != nil {
		t.n.lg.Error("a forgotten tenant's key slot is still stored; delete it", "tenant", ti.Tag, "key", ti.Key, "err", err)
	}
	for _, w := range warnings {
		t.n.lg.Error("a forgotten tenant's key may still be readable", "tenant", ti.Tag, "key", ti.Key, "warning", w)
	}
}

// purgeCopies deletes forgotten tenants' slots from the archive's copies
// when a node starts archiving: a copy that could not be reached when a
// tenant was forgotten holds its slot until then, and a restart loses
// the archiver's list of what it still owes.
func (t *tenants) purgeCopies(ctx context.Context, a *archive.Archiver) {
	for _, ti := range t.reg.Tenants() {
		if !ti.Forgotten || ctx.Err() != nil {
			continue
		}
		_, warnings := a.PurgeCopies(ctx, tenant.SlotName(ti.Tag, ti.Key))
		for _, w := range warnings {
			t.n.lg.Warn("a forgotten tenant's key slot is still in a copy", "tenant", ti.Tag, "key", ti.Key, "warning", w)
		}
	}
}

// isMissing reports whether err says an object does not exist.
func isMissing(err error) bool {
	return gcerrors.Code(err) == gcerrors.NotFound || errors.Is(err, snapshot.ErrMissing)
}
