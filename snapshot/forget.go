package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/continuity-go/continuity/internal/retention"
)

// Policy says which snapshots Forget keeps: keep-last, hourly, daily,
// weekly, monthly, yearly, keep-within and tags, with restic's forget
// semantics (see the retention rules in the package documentation).
type Policy = retention.Policy

// Decision is Forget's verdict on one snapshot, with every rule that
// keeps it.
type Decision = retention.Decision

// Unlimited as a Policy count keeps one snapshot per period for all
// periods.
const Unlimited = retention.Unlimited

// Forget applies p to the repository's snapshots and deletes the
// manifests of those it does not keep, unless dryRun. It returns the
// decisions, newest first; ExplainDecisions prints them. Data is freed
// by Prune, not here.
func (r *Repo) Forget(ctx context.Context, p Policy, dryRun bool) ([]Decision, error) {
	ms, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	items := make([]retention.Item, len(ms))
	for i, m := range ms {
		items[i] = retention.Item{ID: m.ID.String(), Time: m.Time, Tags: m.Tags}
	}
	ds, err := p.Apply(items)
	if err != nil {
		return nil, fmt.Errorf("snapshot: forget: %w", err)
	}
	if dryRun {
		return ds, nil
	}
	if err := r.checkWritable(); err != nil {
		return ds, err
	}
	removed := 0
	for i, d := range ds {
		if d.Keep {
			continue
		}
		err := r.del(ctx, snapsPrefix+d.Item.ID)
		if re := (*RetainedError)(nil); errors.As(err, &re) {
			ds[i].Keep = true
			ds[i].Reasons = append(ds[i].Reasons, ReasonRetained(re.Until))
			continue
		}
		if err != nil {
			return ds, fmt.Errorf("snapshot: forget %s: %w", d.Item.ID, err)
		}
		removed++
	}
	r.log.Info("snapshots forgotten", "policy", p.String(), "removed", removed, "kept", len(ds)-removed)
	return ds, nil
}

// Remove deletes the given snapshots' manifests. Prune frees their data.
// A manifest under Object Lock whose date has not passed stays: the
// error wraps a *RetainedError (ErrRetained), and the ids after it are
// not removed.
func (r *Repo) Remove(ctx context.Context, ids ...ID) error {
	if err := r.checkWritable(); err != nil {
		return err
	}
	for _, id := range ids {
		if ok, err := r.bucket.Exists(ctx, manifestName(id)); err != nil {
			return fmt.Errorf("snapshot: remove %s: %w", id, storageErr(manifestName(id), err))
		} else if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err := r.del(ctx, manifestName(id)); err != nil {
			return fmt.Errorf("snapshot: remove %s: %w", id, err)
		}
	}
	return nil
}

// ReasonRetained is the reason Forget gives for a snapshot its policy
// would remove and Object Lock keeps until until.
func ReasonRetained(until time.Time) string {
	return "retained by Object Lock until " + until.UTC().Format(time.RFC3339)
}

// ExplainDecisions writes a table of decisions for operators: time, ID,
// keep or remove, and the rules that keep each snapshot.
func ExplainDecisions(w io.Writer, ds []Decision) error { return retention.Explain(w, ds) }
