package continuity

import (
	"context"
	"errors"
	"fmt"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/tenant"
)

// TenantRestored says what a restore of one tenant reached.
type TenantRestored struct {
	Restored        // the restore of the log it read
	Tenant   string // the tenant ID
	Tag      string // its tag
	Events   int64  // the tenant's events applied after the base snapshot
	// FromSnapshot: the base snapshot held the tenant's state.
	FromSnapshot bool
}

// RestoreTenant rebuilds into sm (fresh) the state of the tenant id
// alone as of target, from its section of the base snapshot and its own
// events in the node's archive; no other tenant's key is read and nothing
// else of the state is touched. sm gets RestoreTenant and ApplyTenant
// for id only (DropTenant if the tenant was forgotten and made again
// before target). A tenant forgotten since gives a *tenant.ShreddedError;
// one the archive never knew by target, ErrUnknownTenant; one whose
// keeper is gone, its *tenant.KeyUnavailableError. On the node that
// ships the archive, what the log holds is archived first, so the
// newest writes restore too.
func (n *Node) RestoreTenant(ctx context.Context, id string, target Target, sm TenantStateMachine) (TenantRestored, error) {
	if a := n.archiver(); a != nil {
		if err := a.Flush(ctx); err != nil {
			return TenantRestored{}, fmt.Errorf("continuity: archive the log before restoring tenant %q: %w", id, err)
		}
	}
	res, err := RestoreTenant(ctx, n.repo, id, target, sm, n.cfg.TenantKeepers)
	outcome := "restored"
	if err != nil {
		outcome = err.Error()
	}
	n.record(ctx, audit.Entry{Action: "tenant.restore", Subject: res.Tag, LSN: uint64(res.LSN),
		Details: map[string]string{"tenant": id, "target": target.String(), "outcome": outcome}})
	return res, err
}

// RestoreTenant is Node.RestoreTenant from an archive opened without a
// node (ctl): repo is the archive, keepers opens customer keepers.
func RestoreTenant(ctx context.Context, repo *snapshot.Repo, id string, target Target, sm TenantStateMachine, keepers tenant.Keepers) (TenantRestored, error) {
	if err := tenant.CheckID(id); err != nil {
		return TenantRestored{}, err
	}
	nameKey, err := repo.NameKey("tenant-tag")
	if err != nil {
		return TenantRestored{}, err
	}
	tag := tenant.NewTagger(nameKey).Tag(id)
	load := archiveLoader(repo, keepers)
	only := func(ctx context.Context, t tenant.Tag, k tenant.KeyID) (*tenant.Key, error) {
		if t != tag {
			return nil, errOtherTenant // never read another tenant's key
		}
		return load(ctx, t, k)
	}
	s := &hostState{ctx: ctx, host: sm, tsm: sm, reg: tenant.NewRegistry(only), only: &tag}
	res, err := archive.RestoreTo(ctx, repo, target, s, archive.RestoreOptions{})
	out := TenantRestored{Restored: res, Tenant: id, Tag: tag.String(), Events: s.tenantEvents, FromSnapshot: s.tenantSection}
	if err != nil {
		return out, err
	}
	_, t, ok := s.reg.Lookup(tag)
	switch {
	case !ok:
		return out, fmt.Errorf("%w: %q has no key record in the archive up to LSN %d", ErrUnknownTenant, id, res.LSN)
	case t.Forgotten:
		return out, &tenant.ShreddedError{Tag: tag, Key: t.Key, ID: id}
	case t.Err != nil:
		if errors.Is(t.Err, tenant.ErrNoSlot) {
			// Its slot is gone: destroyed by a ForgetTenant after target.
			return out, &tenant.ShreddedError{Tag: tag, Key: t.Key, ID: id}
		}
		return out, named(t.Err, id)
	}
	return out, nil
}

// errOtherTenant: a one-tenant restore does not read other tenants' keys.
var errOtherTenant = errors.New("continuity: not the tenant being restored")
