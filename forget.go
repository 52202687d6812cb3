package continuity

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// DeletionReceipt is what ForgetTenant did. It is also kept in the
// archive as an audit record (package audit): the tenant's ID stays
// there, sealed under the archive's key, as proof of the deletion.
type DeletionReceipt struct {
	Tenant string    `json:"tenant"` // the tenant ID
	Tag    string    `json:"tag"`    // its tag: how records and object names refer to it
	Reason string    `json:"reason"` // as given; kept in the log in the clear
	At     time.Time `json:"at"`     // when the forget record was appended
	LSN    wal.LSN   `json:"lsn"`    // the forget record's LSN
	// KeysDestroyed are the data keys destroyed (key IDs).
	KeysDestroyed []string `json:"keys_destroyed"`
	// Deleted are the stored copies of those keys' slots confirmed gone:
	// the archive's (archive:NAME) and this node's (a path). Every other
	// node deletes its copy when it applies LSN.
	Deleted []string `json:"deleted"`
	// Warnings name what may still hold a destroyed key: old versions
	// of its slot an S3 bucket kept and could not delete (object lock,
	// or no s3:DeleteObjectVersion). Empty when every copy is gone.
	Warnings []string `json:"warnings"`
	// Unreadable says what the destroyed keys leave unreadable.
	Unreadable string `json:"unreadable"`
	// Audit is the name of the audit record in the archive.
	Audit string `json:"audit"`
}

// ForgetTenant shreds the tenant id: it appends a forget record, which
// every node applies by destroying the tenant's key (in memory and its
// stored slot) and dropping the tenant from its state (DropTenant); the
// primary deletes the archive's slot and each copy's (Config.Copies). From then on no copy of the log,
// the archive or a snapshot yields the tenant's data, while every other
// tenant restores as before, to instants before the deletion too (the
// forgotten tenant's events are then skipped). reason is kept in the log
// and the audit trail in the clear: name a ticket, not the customer.
//
// The key must be readable to forget it (the forget record is MACed
// under it): a tenant whose keeper is gone gives its
// *tenant.KeyUnavailableError. A tenant already forgotten is not
// forgotten again: its slots are deleted again, for a forget whose
// deletion failed (an archive that refused it), and the receipt says so.
//
// Appends to the tenant already in flight finish first, and their events
// are forgotten with it. Appends that start meanwhile wait until the
// forget record is applied, then create the tenant anew under a new key
// (as AppendTenant after ForgetTenant does): no append is acknowledged
// and then lost to the forget.
func (n *Node) ForgetTenant(ctx context.Context, id, reason string) (DeletionReceipt, error) {
	t, err := n.tenantsOrErr()
	if err != nil {
		return DeletionReceipt{}, err
	}
	kt, err := t.knownTenant(id)
	if err != nil {
		return DeletionReceipt{}, err
	}
	// Alone on the tenant's gate until the forget record is applied
	// (see knownTenant).
	if err := lockGate(ctx, &kt.gate); err != nil {
		return DeletionReceipt{}, fmt.Errorf("continuity: tenant %q: waiting for its appends in flight: %w", id, err)
	}
	defer kt.gate.Unlock()
	if err := t.ready(ctx); err != nil {
		return DeletionReceipt{}, err
	}
	tag := kt.tag
	if _, info, ok := t.reg.Lookup(tag); ok && info.Forgotten {
		r := DeletionReceipt{Tenant: id, Tag: tag.String(), Reason: reason, At: time.Now(), KeysDestroyed: []string{info.Key.String()},
			Unreadable: fmt.Sprintf("the tenant was forgotten before; its key %s is destroyed, and this deleted its slots again", info.Key)}
		return r, n.finishForget(ctx, t, &r, tag, info.Key, map[string]string{"again": "true"})
	}
	lk, err := t.live(ctx, id, kt, TenantOptions{}, false)
	if err != nil {
		return DeletionReceipt{}, err
	}
	k := lk.key
	at := time.Now()
	rec, err := tenant.ForgetRecord{Tag: k.Tag, Key: k.ID, Time: at, Reason: reason}.Encode(k)
	if err != nil {
		return DeletionReceipt{}, err
	}
	_, lsn, err := n.appendKind(ctx, tenant.KindForget, [][]byte{rec})
	if err != nil {
		return DeletionReceipt{}, err
	}
	r := DeletionReceipt{
		Tenant: id, Tag: k.Tag.String(), Reason: reason, At: at, LSN: lsn, KeysDestroyed: []string{k.ID.String()},
		Unreadable: fmt.Sprintf("every sealed event of tenant %s under key %s: in the WAL of every node, on standbys, "+
			"in the archive's WAL objects and quarantined tails; its state in base snapshots taken before LSN %d", k.Tag, k.ID, lsn),
	}
	// Applied here: the key is destroyed in memory, this node's copy of
	// its slot deleted, the tenant dropped from the state.
	if err := n.WaitFor(ctx, lsn); err != nil {
		return r, fmt.Errorf("continuity: tenant %q: the forget record is at LSN %d, not applied yet: %w", id, lsn, err)
	}
	return r, n.finishForget(ctx, t, &r, k.Tag, k.ID, nil)
}

// finishForget deletes the slots of the destroyed key (confirming what
// is gone, and what may not be) and writes the receipt's audit record.
func (n *Node) finishForget(ctx context.Context, t *tenants, r *DeletionReceipt, tag tenant.Tag, key tenant.KeyID, extra map[string]string) error {
	var err error
	if r.Deleted, r.Warnings, err = t.deleteSlots(ctx, tag, key); err != nil {
		return err
	}
	r.Warnings = append([]string{}, r.Warnings...) // [] in JSON when none
	details := map[string]string{"tenant": r.Tenant, "reason": r.Reason, "keys_destroyed": strings.Join(r.KeysDestroyed, ","),
		"deleted": strings.Join(r.Deleted, ","), "warnings": strings.Join(r.Warnings, "; ")}
	maps.Copy(details, extra)
	r.Audit, err = audit.Write(ctx, n.repo, audit.Entry{Time: r.At, Action: "tenant.forget", Actor: n.actor(), Subject: r.Tag, LSN: uint64(r.LSN), Details: details})
	if err != nil {
		return fmt.Errorf("continuity: tenant %q is forgotten, but its audit record could not be written: %w", r.Tenant, err)
	}
	n.wrote(r.Audit)
	return nil
}

// lockGate locks gate, or gives up when ctx is done first: an append in
// flight may wait long (a cluster without its standbys). Given up, the
// lock is released as soon as it is taken.
func lockGate(ctx context.Context, gate *sync.RWMutex) error {
	if gate.TryLock() {
		return nil
	}
	locked := make(chan struct{})
	go func() {
		gate.Lock()
		close(locked)
	}()
	select {
	case <-locked:
		return nil
	case <-ctx.Done():
		go func() {
			<-locked
			gate.Unlock()
		}()
		return ctx.Err()
	}
}
