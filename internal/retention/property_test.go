package retention

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Locations the properties draw from: UTC, a DST zone, a half-hour offset,
// a zone with a 30-minute DST shift, and the zone that repeated a day.
var propertyLocations = []string{"UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "America/Sitka"}

// drawItems draws up to 40 items with unique IDs whose order is unrelated
// to their times. The span is drawn first, so that some runs pile
// snapshots into a few minutes (equal times, shared buckets) and others
// spread them over years.
func drawItems(t *rapid.T) []Item {
	n := rapid.IntRange(0, 40).Draw(t, "n")
	span := rapid.SampledFrom([]int64{2, 90, 3 * 24 * 60, 60 * 24 * 60, 3 * 366 * 24 * 60}).Draw(t, "spanMinutes")
	base := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	if rapid.Bool().Draw(t, "sitka1867") {
		base = time.Date(1867, 10, 17, 0, 0, 0, 0, time.UTC)
	}
	out := make([]Item, n)
	for i := range out {
		minute := rapid.Int64Range(0, span).Draw(t, "minute")
		var tags []string
		for _, tag := range []string{"a", "b"} {
			if rapid.IntRange(0, 3).Draw(t, "tag "+tag) == 0 {
				tags = append(tags, tag)
			}
		}
		out[i] = Item{ID: fmt.Sprintf("id%02d", i), Time: base.Add(time.Duration(minute) * time.Minute), Tags: tags}
	}
	return out
}

var propertyDurations = []time.Duration{0, 0, time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 40 * 24 * time.Hour, 400 * 24 * time.Hour}

// drawPolicy draws a valid policy, possibly empty.
func drawPolicy(t *rapid.T) Policy {
	count := func(label string) int {
		if rapid.IntRange(0, 2).Draw(t, label+"On") == 0 {
			return 0
		}
		return rapid.IntRange(Unlimited, 6).Draw(t, label)
	}
	dur := func(label string) time.Duration {
		if rapid.IntRange(0, 3).Draw(t, label+"On") != 0 {
			return 0
		}
		return rapid.SampledFrom(propertyDurations).Draw(t, label)
	}
	p := Policy{
		Last: count("last"), Hourly: count("hourly"), Daily: count("daily"), Weekly: count("weekly"),
		Monthly: count("monthly"), Yearly: count("yearly"),
		Within: dur("within"), WithinHourly: dur("withinHourly"), WithinDaily: dur("withinDaily"),
		WithinWeekly: dur("withinWeekly"), WithinMonthly: dur("withinMonthly"), WithinYearly: dur("withinYearly"),
	}
	for _, tag := range []string{"a", "b", "c"} {
		if rapid.IntRange(0, 4).Draw(t, "keepTag "+tag) == 0 {
			p.Tags = append(p.Tags, tag)
		}
	}
	loc, err := time.LoadLocation(rapid.SampledFrom(propertyLocations).Draw(t, "location"))
	require.NoError(t, err)
	p.Location = loc
	return p
}

// hasTimeRule reports whether p has a count or duration rule, i.e. a rule
// that keeps the newest snapshot.
func hasTimeRule(p Policy) bool {
	q := p
	q.Tags = nil
	return !q.Empty()
}

// apply runs p and checks the errors every property shares: only the
// empty policy is refused as empty, and only a tags-only policy can
// remove everything. It returns nil decisions when Apply refused.
func apply(t *rapid.T, p Policy, in []Item) []Decision {
	ds, err := p.Apply(in)
	switch {
	case p.Empty():
		require.ErrorIs(t, err, ErrEmptyPolicy)
		return nil
	case errors.Is(err, ErrRemoveAll):
		require.False(t, hasTimeRule(p), "only a tags-only policy may remove everything")
		require.NotEmpty(t, in)
		return nil
	}
	require.NoError(t, err)
	return ds
}

func TestPropertyPartition(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := drawItems(t)
		ds := apply(t, drawPolicy(t), in)
		if ds == nil {
			return
		}
		// One decision per item, keep or remove and not both; keep iff
		// there is a reason; newest first.
		requireWellFormed(t, in, ds)
	})
}

func TestPropertyNewestKept(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := drawItems(t)
		p := drawPolicy(t)
		if !hasTimeRule(p) || len(in) == 0 {
			return // nothing to check
		}
		ds := apply(t, p, in)
		require.True(t, ds[0].Keep, "newest %v removed by %v", ds[0].Item, p)
		for _, it := range in {
			require.False(t, it.Time.After(ds[0].Item.Time))
		}
	})
}

func TestPropertyOrderIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := drawItems(t)
		p := drawPolicy(t)
		perm := rapid.Permutation(in).Draw(t, "perm")
		want := apply(t, p, in)
		got := apply(t, p, perm)
		require.Equal(t, want, got)
	})
}

func TestPropertyLast(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := drawItems(t)
		n := rapid.IntRange(1, 50).Draw(t, "last")
		if len(in) == 0 {
			return
		}
		// Alone, Last keeps exactly the min(n, len) newest.
		ds := apply(t, Policy{Last: n}, in)
		want := min(n, len(in))
		for i, d := range ds {
			require.Equal(t, i < want, d.Keep, "decision %d", i)
		}
		// Combined, exactly those carry the reason "last snapshot".
		p := drawPolicy(t)
		p.Last = n
		ds = apply(t, p, in)
		for i, d := range ds {
			require.Equal(t, i < want, slices.Contains(d.Reasons, "last snapshot"), "decision %d", i)
		}
	})
}

func TestPropertyMonotone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := drawItems(t)
		p := drawPolicy(t)
		q := p
		grow := func(n *int) {
			if *n == Unlimited {
				return
			}
			if rapid.Bool().Draw(t, "unlimited") {
				*n = Unlimited
			} else {
				*n += rapid.IntRange(1, 5).Draw(t, "more")
			}
		}
		switch field := rapid.IntRange(0, 12).Draw(t, "field"); field {
		case 0:
			grow(&q.Last)
		case 1:
			grow(&q.Hourly)
		case 2:
			grow(&q.Daily)
		case 3:
			grow(&q.Weekly)
		case 4:
			grow(&q.Monthly)
		case 5:
			grow(&q.Yearly)
		case 12:
			q.Tags = append(slices.Clone(q.Tags), rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "tag"))
		default:
			d := []*time.Duration{&q.Within, &q.WithinHourly, &q.WithinDaily, &q.WithinWeekly, &q.WithinMonthly, &q.WithinYearly}[field-6]
			*d += rapid.SampledFrom(propertyDurations[2:]).Draw(t, "longer")
		}
		before := apply(t, p, in)
		after := apply(t, q, in)
		if before == nil {
			return
		}
		require.NotNil(t, after, "%v refused what %v accepted", q, p)
		now := keptSet(after)
		for id := range keptSet(before) {
			require.True(t, now[id], "%q kept by %v but removed by %v", id, p, q)
		}
	})
}

// TestPropertyModel compares Apply with a model written from the documented
// semantics in another way: by grouping snapshots into buckets instead of
// walking them with counters.
func TestPropertyModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := drawItems(t)
		p := drawPolicy(t)
		ds := apply(t, p, in)
		want := model(p, in)
		if ds == nil {
			if !p.Empty() {
				require.Empty(t, want)
			}
			return
		}
		require.Equal(t, want, kept(ds))
	})
}

// model returns the reasons for every kept item.
func model(p Policy, in []Item) map[string][]string {
	loc := p.location()
	s := slices.Clone(in)
	slices.SortFunc(s, func(a, b Item) int {
		if !a.Time.Equal(b.Time) {
			if a.Time.After(b.Time) {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	out := make(map[string][]string)
	if len(s) == 0 {
		return out
	}
	add := func(i int, reason string) { out[s[i].ID] = append(out[s[i].ID], reason) }

	// heads returns the index of the newest item of each bucket among the
	// first n items, most recent bucket first.
	heads := func(key func(time.Time) bucket, n int) []int {
		var idx []int
		var seen []bucket
		for i := range n {
			k := key(s[i].Time.In(loc))
			if !slices.Contains(seen, k) {
				seen = append(seen, k)
				idx = append(idx, i)
			}
		}
		return idx
	}
	oldest := len(s) - 1

	for i := range s {
		if p.Last == Unlimited || i < p.Last {
			add(i, "last snapshot")
		}
	}
	counts := p.countRules()
	for _, r := range counts[1:] {
		if r.n == 0 {
			continue
		}
		h := heads(r.key, len(s))
		take := len(h)
		if r.n != Unlimited {
			take = min(r.n, len(h))
		}
		for _, i := range h[:take] {
			add(i, r.name+" snapshot")
		}
		if (r.n == Unlimited || len(h) < r.n) && !slices.Contains(h, oldest) {
			add(oldest, "oldest "+r.name+" snapshot")
		}
	}
	durations := p.durationRules()
	for _, r := range durations {
		if r.d == 0 {
			continue
		}
		within := 0
		for within < len(s) && s[0].Time.Sub(s[within].Time) < r.d {
			within++
		}
		if r.key == nil {
			for i := range within {
				add(i, "within "+r.d.String())
			}
			continue
		}
		h := heads(r.key, within)
		for _, i := range h {
			add(i, r.name+" within "+r.d.String())
		}
		if within == len(s) && !slices.Contains(h, oldest) {
			add(oldest, "oldest "+r.name+" within "+r.d.String())
		}
	}
	for _, tag := range p.Tags {
		for i, it := range s {
			if slices.Contains(it.Tags, tag) && !slices.Contains(out[it.ID], "tag "+tag) {
				add(i, "tag "+tag)
			}
		}
	}
	// Rules are applied in the order Apply lists reasons in, so each
	// item's reasons come out in the same order.
	return out
}
