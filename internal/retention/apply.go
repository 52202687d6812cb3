package retention

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Item is one snapshot as the policy sees it.
type Item struct {
	// ID identifies the snapshot; it must be unique within one Apply call.
	// Among snapshots with equal Time, the smaller ID (by byte order)
	// counts as the newer.
	ID string

	// Time is when the snapshot was taken. Only the instant matters: its
	// location is ignored (buckets use Policy.Location) and so is any
	// monotonic clock reading.
	Time time.Time

	// Tags are matched against Policy.Tags.
	Tags []string
}

// Decision is the verdict on one Item.
type Decision struct {
	// Item is the snapshot, exactly as passed to Apply.
	Item Item

	// Keep is true if at least one rule keeps the snapshot.
	Keep bool

	// Reasons names every rule that keeps the snapshot, in a fixed order:
	// "last snapshot"; "hourly snapshot", "daily snapshot", "weekly
	// snapshot", "monthly snapshot", "yearly snapshot" (each possibly
	// "oldest …", see the package documentation); "within <Within>";
	// "hourly within <WithinHourly>" … "yearly within <WithinYearly>"
	// (possibly "oldest …"); "tag <tag>" for each matching tag in
	// Policy.Tags order. Durations are formatted by time.Duration.String.
	// Reasons is nil when Keep is false.
	Reasons []string
}

// Apply decides, for every item, whether p keeps it. The decisions come
// newest first (ties broken by ascending ID); the order of items does not
// matter, and Apply neither modifies nor retains items (Decisions share
// the Items' Tags slices).
//
// Apply returns the Validate error for an invalid policy, ErrEmptyPolicy
// for an empty one, an error wrapping ErrDuplicateID if two items share an
// ID, and ErrRemoveAll if the policy would remove every item. No items
// means no decisions and no error (for a valid, non-empty policy).
func (p Policy) Apply(items []Item) ([]Decision, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.Empty() {
		return nil, ErrEmptyPolicy
	}
	sorted, err := sortNewestFirst(items)
	if err != nil {
		return nil, err
	}
	if len(sorted) == 0 {
		return nil, nil
	}

	loc := p.location()
	newest := sorted[0].at
	counts := p.countRules()
	var left [len(counts)]int
	var seenCount [len(counts)]map[bucket]struct{}
	durations := p.durationRules()
	var cutoffs [len(durations)]time.Time
	var seenWithin [len(durations)]map[bucket]struct{}
	for i, r := range counts {
		left[i] = r.n
		seenCount[i] = make(map[bucket]struct{})
	}
	for i, r := range durations {
		// A snapshot is within d if it is strictly newer than newest-d,
		// as in restic: one exactly d older than the newest is not.
		cutoffs[i] = newest.Add(-r.d)
		seenWithin[i] = make(map[bucket]struct{})
	}
	tags := uniqueTags(p.Tags)

	ds := make([]Decision, len(sorted))
	kept := 0
	for nr, s := range sorted {
		oldest := nr == len(sorted)-1
		local := s.at.In(loc)
		var reasons []string

		if p.Last == Unlimited || nr < p.Last {
			reasons = append(reasons, "last snapshot")
		}
		for i := 1; i < len(counts); i++ {
			r := counts[i]
			if left[i] == 0 {
				continue
			}
			first := markSeen(seenCount[i], r.key(local))
			// The oldest snapshot is kept by a rule that still has count
			// left even when it is not the newest of its bucket: there
			// were fewer buckets than the count, and keeping the oldest
			// snapshot keeps the longest history the count allows.
			if !first && !oldest {
				continue
			}
			if left[i] > 0 {
				left[i]--
			}
			reasons = append(reasons, qualify(r.name+" snapshot", first))
		}
		if p.Within > 0 && s.at.After(cutoffs[0]) {
			reasons = append(reasons, "within "+p.Within.String())
		}
		for i := 1; i < len(durations); i++ {
			r := durations[i]
			if r.d == 0 || !s.at.After(cutoffs[i]) {
				continue
			}
			first := markSeen(seenWithin[i], r.key(local))
			// Same reasoning as for counts: every snapshot is within the
			// duration, so history is shorter than asked for.
			if !first && !oldest {
				continue
			}
			reasons = append(reasons, qualify(r.name+" within "+r.d.String(), first))
		}
		for _, tag := range tags {
			if slices.Contains(s.item.Tags, tag) {
				reasons = append(reasons, "tag "+tag)
			}
		}

		ds[nr] = Decision{Item: s.item, Keep: len(reasons) > 0, Reasons: reasons}
		if ds[nr].Keep {
			kept++
		}
	}
	if kept == 0 {
		return nil, ErrRemoveAll
	}
	return ds, nil
}

// markSeen adds k to seen and reports whether it was new. A rule keeps the
// first snapshot it meets in each bucket, walking newest first, which is
// the newest snapshot of the bucket. restic instead compares with the
// bucket of the last snapshot the rule kept; the two agree whenever bucket
// keys never decrease with time, and a set stays right in the rare zones
// where a clock change moves local time back across a bucket boundary.
func markSeen(seen map[bucket]struct{}, k bucket) bool {
	if _, ok := seen[k]; ok {
		return false
	}
	seen[k] = struct{}{}
	return true
}

// qualify marks a reason that applies only because the snapshot is the
// oldest one.
func qualify(reason string, first bool) string {
	if first {
		return reason
	}
	return "oldest " + reason
}

// sortedItem is an Item with its instant stripped of location and monotonic
// reading, so that comparisons are by instant alone.
type sortedItem struct {
	item Item
	at   time.Time
}

func sortNewestFirst(items []Item) ([]sortedItem, error) {
	sorted := make([]sortedItem, len(items))
	ids := make(map[string]struct{}, len(items))
	for i, it := range items {
		if _, dup := ids[it.ID]; dup {
			return nil, fmt.Errorf("%w %q", ErrDuplicateID, it.ID)
		}
		ids[it.ID] = struct{}{}
		sorted[i] = sortedItem{item: it, at: it.Time.Round(0).UTC()}
	}
	slices.SortFunc(sorted, func(a, b sortedItem) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return strings.Compare(a.item.ID, b.item.ID)
	})
	return sorted, nil
}

// uniqueTags drops repeated tags, so that a tag listed twice gives one
// reason.
func uniqueTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}
