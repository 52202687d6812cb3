package retention

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// applyCase is one hand-computed table case: want maps the ID of every
// item that must be kept to its reasons; every other item must be removed.
type applyCase struct {
	name   string
	policy Policy
	loc    *time.Location // for reading snaps; nil = UTC
	snaps  []snap
	want   map[string][]string
}

// Shared snapshot sets.
var (
	// Five snapshots one hour apart.
	fiveHours = []snap{
		{id: "a", at: "2026-01-01 01:00"},
		{id: "b", at: "2026-01-01 02:00"},
		{id: "c", at: "2026-01-01 03:00"},
		{id: "d", at: "2026-01-01 04:00"},
		{id: "e", at: "2026-01-01 05:00"},
	}
	// Two in hour 10, two in hour 11, none in hour 12, one in hour 13.
	hours = []snap{
		{id: "h1", at: "2026-01-01 10:05"},
		{id: "h2", at: "2026-01-01 10:40"},
		{id: "h3", at: "2026-01-01 11:10"},
		{id: "h4", at: "2026-01-01 11:50"},
		{id: "h5", at: "2026-01-01 13:00"},
	}
	// Two on March 1, two on March 2, none on March 3, one on March 4.
	days = []snap{
		{id: "d1", at: "2026-03-01 08:00"},
		{id: "d2", at: "2026-03-01 20:00"},
		{id: "d3", at: "2026-03-02 08:00"},
		{id: "d4", at: "2026-03-02 20:00"},
		{id: "d5", at: "2026-03-04 12:00"},
	}
	// restic's documentation example: one snapshot every Sunday for 12 weeks.
	sundays = []snap{
		{id: "0a1f9759", at: "2019-09-01 11:00"},
		{id: "46cfe4d5", at: "2019-09-08 11:00"},
		{id: "f6b1f037", at: "2019-09-15 11:00"},
		{id: "eb430a5d", at: "2019-09-22 11:00"},
		{id: "8cf1cb9a", at: "2019-09-29 11:00"},
		{id: "5d33b116", at: "2019-10-06 11:00"},
		{id: "b9553125", at: "2019-10-13 11:00"},
		{id: "e1a7b58b", at: "2019-10-20 11:00"},
		{id: "8f8018c0", at: "2019-10-27 11:00"},
		{id: "59403279", at: "2019-11-03 11:00"},
		{id: "dfee9fb4", at: "2019-11-10 11:00"},
		{id: "e1ae2f40", at: "2019-11-17 11:00"},
	}
	// Around the ISO year boundary: 2026 has 53 ISO weeks, and week 53
	// runs from Monday 2026-12-28 to Sunday 2027-01-03.
	isoNewYear = []snap{
		{id: "w1", at: "2026-12-27 12:00"}, // Sunday, 2026-W52
		{id: "w2", at: "2026-12-28 12:00"}, // Monday, 2026-W53
		{id: "w3", at: "2026-12-31 12:00"}, // Thursday, 2026-W53
		{id: "w4", at: "2027-01-01 12:00"}, // Friday, 2026-W53, calendar year 2027
		{id: "w5", at: "2027-01-04 12:00"}, // Monday, 2027-W01
	}
	// 2024-12-30 is in ISO week 1 of 2025.
	isoWeek2025 = []snap{
		{id: "sun", at: "2024-12-29 12:00"},  // 2024-W52
		{id: "mon", at: "2024-12-30 12:00"},  // 2025-W01
		{id: "sun2", at: "2025-01-05 12:00"}, // 2025-W01
	}
	months = []snap{
		{id: "m1", at: "2026-01-31 23:00"},
		{id: "m2", at: "2026-02-01 00:00"},
		{id: "m3", at: "2026-02-15 12:00"},
		{id: "m4", at: "2026-04-30 12:00"}, // no snapshot in March
		{id: "m5", at: "2026-05-01 12:00"},
	}
	years = []snap{
		{id: "y1", at: "2024-03-01 12:00"},
		{id: "y2", at: "2024-12-31 23:59"},
		{id: "y3", at: "2025-01-01 00:00"},
		{id: "y4", at: "2026-06-01 12:00"},
	}
	windows = []snap{
		{id: "o", at: "2026-03-06 22:00"},
		{id: "n", at: "2026-03-06 23:00"},
		{id: "x", at: "2026-03-07 12:00"}, // exactly 72h before the newest
		{id: "m", at: "2026-03-07 13:00"},
		{id: "l", at: "2026-03-08 00:00"},
		{id: "k", at: "2026-03-09 08:00"},
		{id: "j", at: "2026-03-09 20:00"},
		{id: "i", at: "2026-03-10 06:00"},
		{id: "h", at: "2026-03-10 12:00"},
	}
	tagged = []snap{
		{id: "t1", at: "2026-01-01 00:00", tags: []string{"prod"}},
		{id: "t2", at: "2026-01-02 00:00"},
		{id: "t3", at: "2026-01-03 00:00", tags: []string{"dev", "prod"}},
		{id: "t4", at: "2026-01-04 00:00", tags: []string{"other"}},
	}
	// Three snapshots with the same timestamp.
	simultaneous = []snap{
		{id: "b", at: "2026-01-01 12:00"},
		{id: "a", at: "2026-01-01 12:00"},
		{id: "c", at: "2026-01-01 12:00"},
	}
)

func TestApplyRules(t *testing.T) {
	cases := []applyCase{
		{
			name:   "last 3 of 5",
			policy: Policy{Last: 3},
			snaps:  fiveHours,
			want:   map[string][]string{"e": {"last snapshot"}, "d": {"last snapshot"}, "c": {"last snapshot"}},
		},
		{
			name:   "last unlimited keeps all",
			policy: Policy{Last: Unlimited},
			snaps:  fiveHours,
			want: map[string][]string{
				"a": {"last snapshot"}, "b": {"last snapshot"}, "c": {"last snapshot"},
				"d": {"last snapshot"}, "e": {"last snapshot"},
			},
		},
		{
			name:   "last more than there are keeps all, with no oldest reason",
			policy: Policy{Last: 10},
			snaps:  fiveHours,
			want: map[string][]string{
				"a": {"last snapshot"}, "b": {"last snapshot"}, "c": {"last snapshot"},
				"d": {"last snapshot"}, "e": {"last snapshot"},
			},
		},
		{
			name:   "hourly 2 keeps the newest of the two latest hours that have snapshots",
			policy: Policy{Hourly: 2},
			snaps:  hours,
			want:   map[string][]string{"h5": {"hourly snapshot"}, "h4": {"hourly snapshot"}},
		},
		{
			name:   "hourly 3 uses all three hours, count exhausted before the oldest",
			policy: Policy{Hourly: 3},
			snaps:  hours,
			want:   map[string][]string{"h5": {"hourly snapshot"}, "h4": {"hourly snapshot"}, "h2": {"hourly snapshot"}},
		},
		{
			name:   "hourly 4 with only 3 hours also keeps the oldest",
			policy: Policy{Hourly: 4},
			snaps:  hours,
			want: map[string][]string{
				"h5": {"hourly snapshot"}, "h4": {"hourly snapshot"}, "h2": {"hourly snapshot"},
				"h1": {"oldest hourly snapshot"},
			},
		},
		{
			name:   "hourly unlimited also keeps the oldest",
			policy: Policy{Hourly: Unlimited},
			snaps:  hours,
			want: map[string][]string{
				"h5": {"hourly snapshot"}, "h4": {"hourly snapshot"}, "h2": {"hourly snapshot"},
				"h1": {"oldest hourly snapshot"},
			},
		},
		{
			name:   "restic's documented example: daily 4 over 12 Sundays",
			policy: Policy{Daily: 4},
			snaps:  sundays,
			want: map[string][]string{
				"8f8018c0": {"daily snapshot"}, "59403279": {"daily snapshot"},
				"dfee9fb4": {"daily snapshot"}, "e1ae2f40": {"daily snapshot"},
			},
		},
		{
			name:   "daily 2 skips the day without snapshots",
			policy: Policy{Daily: 2},
			snaps:  days,
			want:   map[string][]string{"d5": {"daily snapshot"}, "d4": {"daily snapshot"}},
		},
		{
			name:   "daily 3 with exactly 3 days keeps no extra oldest",
			policy: Policy{Daily: 3},
			snaps:  days,
			want:   map[string][]string{"d5": {"daily snapshot"}, "d4": {"daily snapshot"}, "d2": {"daily snapshot"}},
		},
		{
			name:   "daily 5 with 3 days keeps the oldest too",
			policy: Policy{Daily: 5},
			snaps:  days,
			want: map[string][]string{
				"d5": {"daily snapshot"}, "d4": {"daily snapshot"}, "d2": {"daily snapshot"},
				"d1": {"oldest daily snapshot"},
			},
		},
		{
			name:   "weekly 2 across the ISO year boundary",
			policy: Policy{Weekly: 2},
			snaps:  isoNewYear,
			want:   map[string][]string{"w5": {"weekly snapshot"}, "w4": {"weekly snapshot"}},
		},
		{
			name:   "weekly 3 across the ISO year boundary",
			policy: Policy{Weekly: 3},
			snaps:  isoNewYear,
			want:   map[string][]string{"w5": {"weekly snapshot"}, "w4": {"weekly snapshot"}, "w1": {"weekly snapshot"}},
		},
		{
			name:   "yearly uses calendar years, not ISO years",
			policy: Policy{Yearly: 2},
			snaps:  isoNewYear,
			want:   map[string][]string{"w5": {"yearly snapshot"}, "w3": {"yearly snapshot"}},
		},
		{
			name:   "weekly unlimited: a late-December Monday in ISO week 1 of the next year",
			policy: Policy{Weekly: Unlimited},
			snaps:  isoWeek2025,
			want:   map[string][]string{"sun2": {"weekly snapshot"}, "sun": {"weekly snapshot"}},
		},
		{
			name:   "monthly 3 skips the month without snapshots",
			policy: Policy{Monthly: 3},
			snaps:  months,
			want:   map[string][]string{"m5": {"monthly snapshot"}, "m4": {"monthly snapshot"}, "m3": {"monthly snapshot"}},
		},
		{
			name:   "yearly 2",
			policy: Policy{Yearly: 2},
			snaps:  years,
			want:   map[string][]string{"y4": {"yearly snapshot"}, "y3": {"yearly snapshot"}},
		},
		{
			name:   "yearly 10 over a history that started in March keeps that first snapshot",
			policy: Policy{Yearly: 10},
			snaps:  years,
			want: map[string][]string{
				"y4": {"yearly snapshot"}, "y3": {"yearly snapshot"}, "y2": {"yearly snapshot"},
				"y1": {"oldest yearly snapshot"},
			},
		},
		{
			name:   "within is strict: exactly the duration before the newest is out",
			policy: Policy{Within: 72 * time.Hour},
			snaps:  windows,
			want: map[string][]string{
				"h": {"within 72h0m0s"}, "i": {"within 72h0m0s"}, "j": {"within 72h0m0s"},
				"k": {"within 72h0m0s"}, "l": {"within 72h0m0s"}, "m": {"within 72h0m0s"},
			},
		},
		{
			name:   "within daily keeps the newest of each day inside the window",
			policy: Policy{WithinDaily: 72 * time.Hour},
			snaps:  windows,
			want: map[string][]string{
				"h": {"daily within 72h0m0s"}, "j": {"daily within 72h0m0s"},
				"l": {"daily within 72h0m0s"}, "m": {"daily within 72h0m0s"},
			},
		},
		{
			name:   "within daily longer than the history keeps the oldest too",
			policy: Policy{WithinDaily: 240 * time.Hour},
			snaps:  windows,
			want: map[string][]string{
				"h": {"daily within 240h0m0s"}, "j": {"daily within 240h0m0s"},
				"l": {"daily within 240h0m0s"}, "m": {"daily within 240h0m0s"},
				"n": {"daily within 240h0m0s"}, "o": {"oldest daily within 240h0m0s"},
			},
		},
		{
			name:   "within hourly, weekly, monthly and yearly",
			policy: Policy{WithinHourly: 7 * time.Hour, WithinWeekly: 24 * time.Hour, WithinMonthly: time.Hour, WithinYearly: 100 * time.Hour},
			snaps:  windows,
			want: map[string][]string{
				// h, i and j (Monday 03-09 onwards) are in one ISO week,
				// and every snapshot is in one year and within 100h.
				"h": {"hourly within 7h0m0s", "weekly within 24h0m0s", "monthly within 1h0m0s", "yearly within 100h0m0s"},
				"i": {"hourly within 7h0m0s"},
				"o": {"oldest yearly within 100h0m0s"},
			},
		},
		{
			name:   "tags keep every snapshot with any listed tag, in policy order",
			policy: Policy{Last: 1, Tags: []string{"prod", "dev", "prod"}},
			snaps:  tagged,
			want: map[string][]string{
				"t4": {"last snapshot"},
				"t3": {"tag prod", "tag dev"},
				"t1": {"tag prod"},
			},
		},
		{
			name:   "tags alone may remove the newest snapshot",
			policy: Policy{Tags: []string{"prod"}},
			snaps:  tagged,
			want:   map[string][]string{"t3": {"tag prod"}, "t1": {"tag prod"}},
		},
		{
			name:   "tags do not spare the counters",
			policy: Policy{Daily: 2, Tags: []string{"dev"}},
			snaps:  tagged,
			want:   map[string][]string{"t4": {"daily snapshot"}, "t3": {"daily snapshot", "tag dev"}},
		},
		{
			name:   "equal timestamps: the smaller ID is the newer",
			policy: Policy{Last: 1},
			snaps:  simultaneous,
			want:   map[string][]string{"a": {"last snapshot"}},
		},
		{
			name:   "equal timestamps share a day",
			policy: Policy{Daily: 1},
			snaps:  simultaneous,
			want:   map[string][]string{"a": {"daily snapshot"}},
		},
		{
			name:   "equal timestamps with daily unlimited keep the newest and the oldest",
			policy: Policy{Daily: Unlimited},
			snaps:  simultaneous,
			want:   map[string][]string{"a": {"daily snapshot"}, "c": {"oldest daily snapshot"}},
		},
		{
			name:   "rules combine: every reason is listed, in rule order",
			policy: Policy{Last: 1, Hourly: 1, Daily: 2, Within: time.Hour, Tags: []string{"prod"}},
			snaps: []snap{
				{id: "old", at: "2026-01-01 00:00"},
				{id: "new", at: "2026-01-02 00:00", tags: []string{"prod"}},
			},
			want: map[string][]string{
				"new": {"last snapshot", "hourly snapshot", "daily snapshot", "within 1h0m0s", "tag prod"},
				"old": {"daily snapshot"},
			},
		},
	}
	runCases(t, cases)
}

func runCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc := tc.loc
			if loc == nil {
				loc = time.UTC
			}
			in := items(t, loc, tc.snaps...)
			ds, err := tc.policy.Apply(in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, kept(ds))
			requireWellFormed(t, in, ds)
			requireOrderIndependent(t, tc.policy, in, ds)
		})
	}
}

// requireWellFormed checks what holds for every result: one decision per
// item, newest first with ties by ID, reasons exactly on kept items.
func requireWellFormed(t testingT, in []Item, ds []Decision) {
	t.Helper()
	require.Len(t, ds, len(in))
	ids := make(map[string]bool)
	for _, it := range in {
		ids[it.ID] = true
	}
	for i, d := range ds {
		require.True(t, ids[d.Item.ID], "decision for unknown item %q", d.Item.ID)
		delete(ids, d.Item.ID)
		require.Equal(t, d.Keep, len(d.Reasons) > 0, "item %q: keep must be equivalent to having reasons", d.Item.ID)
		if i > 0 {
			prev := ds[i-1].Item
			c := prev.Time.Compare(d.Item.Time)
			require.True(t, c > 0 || c == 0 && prev.ID < d.Item.ID, "decisions %d and %d out of order", i-1, i)
		}
	}
	require.Empty(t, ids, "items without a decision")
}

// requireOrderIndependent applies p to in reversed and shuffled and
// requires the same decisions.
func requireOrderIndependent(t testingT, p Policy, in []Item, want []Decision) {
	t.Helper()
	rev := slices.Clone(in)
	slices.Reverse(rev)
	shuffled := slices.Clone(in)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	for _, perm := range [][]Item{rev, shuffled} {
		got, err := p.Apply(perm)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// TestApplyVendorPromise applies "daily 7, weekly 4, monthly 12, yearly 10"
// to three years of snapshots every 6 hours.
func TestApplyVendorPromise(t *testing.T) {
	first := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(2026, 12, 31, 18, 0, 0, 0, time.UTC) // a Thursday, in 2026-W53
	in := every(first, last, 6*time.Hour)
	require.Len(t, in, (366+365+365)*4)
	id := func(s string) string { return parseAt(t, s, time.UTC).Format("2006-01-02T15:04Z") }

	t.Run("counts", func(t *testing.T) {
		ds, err := Policy{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 10}.Apply(in)
		require.NoError(t, err)
		want := map[string][]string{
			id("2026-12-31 18:00"): {"daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot"},
			id("2026-12-30 18:00"): {"daily snapshot"},
			id("2026-12-29 18:00"): {"daily snapshot"},
			id("2026-12-28 18:00"): {"daily snapshot"},
			id("2026-12-27 18:00"): {"daily snapshot", "weekly snapshot"}, // Sunday, end of W52
			id("2026-12-26 18:00"): {"daily snapshot"},
			id("2026-12-25 18:00"): {"daily snapshot"},
			id("2026-12-20 18:00"): {"weekly snapshot"},
			id("2026-12-13 18:00"): {"weekly snapshot"},
			id("2026-11-30 18:00"): {"monthly snapshot"},
			id("2026-10-31 18:00"): {"monthly snapshot"},
			id("2026-09-30 18:00"): {"monthly snapshot"},
			id("2026-08-31 18:00"): {"monthly snapshot"},
			id("2026-07-31 18:00"): {"monthly snapshot"},
			id("2026-06-30 18:00"): {"monthly snapshot"},
			id("2026-05-31 18:00"): {"monthly snapshot"},
			id("2026-04-30 18:00"): {"monthly snapshot"},
			id("2026-03-31 18:00"): {"monthly snapshot"},
			id("2026-02-28 18:00"): {"monthly snapshot"},
			id("2026-01-31 18:00"): {"monthly snapshot"},
			id("2025-12-31 18:00"): {"yearly snapshot"},
			id("2024-12-31 18:00"): {"yearly snapshot"},
			// Only three years have snapshots, so yearly has count left
			// at the very first snapshot.
			id("2024-01-01 00:00"): {"oldest yearly snapshot"},
		}
		assert.Equal(t, want, kept(ds))
		requireWellFormed(t, in, ds)
		requireOrderIndependent(t, Policy{Daily: 7, Weekly: 4, Monthly: 12, Yearly: 10}, in, ds)
	})

	t.Run("durations", func(t *testing.T) {
		const day = 24 * time.Hour
		p := Policy{WithinDaily: 7 * day, WithinWeekly: 28 * day, WithinMonthly: 365 * day, WithinYearly: 3650 * day}
		ds, err := p.Apply(in)
		require.NoError(t, err)
		want := map[string][]string{
			id("2026-12-31 18:00"): {"daily within 168h0m0s", "weekly within 672h0m0s", "monthly within 8760h0m0s", "yearly within 87600h0m0s"},
			id("2026-12-30 18:00"): {"daily within 168h0m0s"},
			id("2026-12-29 18:00"): {"daily within 168h0m0s"},
			id("2026-12-28 18:00"): {"daily within 168h0m0s"},
			id("2026-12-27 18:00"): {"daily within 168h0m0s", "weekly within 672h0m0s"},
			id("2026-12-26 18:00"): {"daily within 168h0m0s"},
			id("2026-12-25 18:00"): {"daily within 168h0m0s"}, // 12-24 18:00 is exactly 7 days back
			id("2026-12-20 18:00"): {"weekly within 672h0m0s"},
			id("2026-12-13 18:00"): {"weekly within 672h0m0s"},
			id("2026-12-06 18:00"): {"weekly within 672h0m0s"}, // W49; 12-03 18:00 is exactly 28 days back
			id("2026-11-30 18:00"): {"monthly within 8760h0m0s"},
			id("2026-10-31 18:00"): {"monthly within 8760h0m0s"},
			id("2026-09-30 18:00"): {"monthly within 8760h0m0s"},
			id("2026-08-31 18:00"): {"monthly within 8760h0m0s"},
			id("2026-07-31 18:00"): {"monthly within 8760h0m0s"},
			id("2026-06-30 18:00"): {"monthly within 8760h0m0s"},
			id("2026-05-31 18:00"): {"monthly within 8760h0m0s"},
			id("2026-04-30 18:00"): {"monthly within 8760h0m0s"},
			id("2026-03-31 18:00"): {"monthly within 8760h0m0s"},
			id("2026-02-28 18:00"): {"monthly within 8760h0m0s"},
			id("2026-01-31 18:00"): {"monthly within 8760h0m0s"},
			// 2025-12-31 18:00 is exactly 365 days back: out of the monthly window.
			id("2025-12-31 18:00"): {"yearly within 87600h0m0s"},
			id("2024-12-31 18:00"): {"yearly within 87600h0m0s"},
			id("2024-01-01 00:00"): {"oldest yearly within 87600h0m0s"},
		}
		assert.Equal(t, want, kept(ds))
		requireWellFormed(t, in, ds)
	})
}

// TestApplyResticCentury is restic's documented example: daily snapshots
// for 100 years under "daily 7, weekly 5, monthly 12, yearly 75".
func TestApplyResticCentury(t *testing.T) {
	first := time.Date(1926, 1, 1, 12, 0, 0, 0, time.UTC)
	last := time.Date(2025, 12, 31, 12, 0, 0, 0, time.UTC) // Wednesday, 2026-W01
	in := every(first, last, 24*time.Hour)
	ds, err := Policy{Daily: 7, Weekly: 5, Monthly: 12, Yearly: 75}.Apply(in)
	require.NoError(t, err)
	got := kept(ds)
	// 7 daily; weekly 5 adds 3 (two of its Sundays are already daily); 11
	// more month ends in 2025; 74 more year ends 1951-2024.
	assert.Len(t, got, 7+3+11+74)
	assert.Equal(t, []string{"weekly snapshot"}, got["2025-12-07T12:00Z"])
	assert.Equal(t, []string{"yearly snapshot"}, got["1951-12-31T12:00Z"])
	assert.NotContains(t, got, "1950-12-31T12:00Z")
	assert.NotContains(t, got, "1926-01-01T12:00Z", "count exhausted before the oldest")
}

func TestApplyLocations(t *testing.T) {
	newYork := mustLoad(t, "America/New_York")
	kolkata := mustLoad(t, "Asia/Kolkata")
	sitka := mustLoad(t, "America/Sitka")

	// Clocks go back from 02:00 EDT to 01:00 EST on 2026-11-01 in New York.
	fallBack := []snap{
		{id: "a", at: "2026-11-01 04:30"}, // 00:30 EDT
		{id: "b", at: "2026-11-01 05:30"}, // 01:30 EDT
		{id: "c", at: "2026-11-01 06:15"}, // 01:15 EST
		{id: "d", at: "2026-11-01 07:10"}, // 02:10 EST
	}
	// 17:00Z is 22:30 IST on the 10th; 20:00Z is 01:30 IST on the 11th.
	india := []snap{
		{id: "a", at: "2026-01-09 12:00"},
		{id: "b", at: "2026-01-10 17:00"},
		{id: "c", at: "2026-01-10 20:00"},
	}
	// In 1867 Sitka moved from Asian to American time: local time went
	// back from 15:30 on Oct 19 to 15:30 on Oct 18, repeating a day, so
	// the local day goes 10-17, 10-18, 10-19, 10-18, 10-19 as time runs.
	alaska := []snap{
		{id: "a", at: "1867-10-16 12:00"}, // 10-17 02:58 LMT+14:58
		{id: "b", at: "1867-10-17 12:00"}, // 10-18 02:58 LMT+14:58
		{id: "c", at: "1867-10-18 12:00"}, // 10-19 02:58 LMT+14:58
		{id: "d", at: "1867-10-19 03:00"}, // 10-18 17:58 LMT-09:01
		{id: "e", at: "1867-10-19 12:00"}, // 10-19 02:58 LMT-09:01
	}

	runCases(t, []applyCase{
		{
			name:   "DST fall back: the repeated hour is one hourly bucket",
			policy: Policy{Hourly: 3, Location: newYork},
			snaps:  fallBack,
			want:   map[string][]string{"d": {"hourly snapshot"}, "c": {"hourly snapshot"}, "a": {"hourly snapshot"}},
		},
		{
			name:   "DST fall back in UTC: four distinct hours",
			policy: Policy{Hourly: 3},
			snaps:  fallBack,
			want:   map[string][]string{"d": {"hourly snapshot"}, "c": {"hourly snapshot"}, "b": {"hourly snapshot"}},
		},
		{
			name:   "days follow the location's calendar",
			policy: Policy{Daily: 2, Location: kolkata},
			snaps:  india,
			want:   map[string][]string{"c": {"daily snapshot"}, "b": {"daily snapshot"}},
		},
		{
			name:   "days in UTC",
			policy: Policy{Daily: 2},
			snaps:  india,
			want:   map[string][]string{"c": {"daily snapshot"}, "a": {"daily snapshot"}},
		},
		{
			name:   "a repeated local day is one bucket, counted once",
			policy: Policy{Daily: 3, Location: sitka},
			snaps:  alaska,
			want:   map[string][]string{"e": {"daily snapshot"}, "d": {"daily snapshot"}, "a": {"daily snapshot"}},
		},
	})

	t.Run("DST spring forward: a 23-hour day is one daily bucket", func(t *testing.T) {
		// Hourly snapshots from 00:00 EST on 03-07 to 12:00 EDT on 03-09;
		// clocks jump from 02:00 EST to 03:00 EDT on 2026-03-08.
		in := every(time.Date(2026, 3, 7, 5, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 16, 0, 0, 0, time.UTC), time.Hour)
		ds, err := Policy{Daily: 2, Location: newYork}.Apply(in)
		require.NoError(t, err)
		assert.Equal(t, map[string][]string{
			"2026-03-09T16:00Z": {"daily snapshot"},
			"2026-03-09T03:00Z": {"daily snapshot"}, // 23:00 EDT on 03-08
		}, kept(ds))

		ds, err = Policy{Daily: 3, Location: newYork}.Apply(in)
		require.NoError(t, err)
		assert.Len(t, kept(ds), 3)
		assert.Contains(t, kept(ds), "2026-03-08T04:00Z", "23:00 EST on 03-07")

		ds, err = Policy{Daily: Unlimited, Location: newYork}.Apply(in)
		require.NoError(t, err)
		assert.Len(t, kept(ds), 4, "three local days and the oldest snapshot")
		assert.Equal(t, []string{"oldest daily snapshot"}, kept(ds)["2026-03-07T05:00Z"])
	})

	t.Run("within is elapsed time, not calendar days", func(t *testing.T) {
		// The newest is 12:00 EDT on 03-08, after the clocks jumped.
		in := every(time.Date(2026, 3, 7, 5, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 16, 0, 0, 0, time.UTC), time.Hour)
		ds, err := Policy{Within: 24 * time.Hour, Location: newYork}.Apply(in)
		require.NoError(t, err)
		// 24 hours back is 11:00 EST on 03-07 (16:00Z, not included): 24
		// snapshots, where restic's calendar "1d" would stop at 12:00 EST
		// and keep 23.
		assert.Len(t, kept(ds), 24)
		assert.Contains(t, kept(ds), "2026-03-07T17:00Z")
		assert.NotContains(t, kept(ds), "2026-03-07T16:00Z")
	})
}

func TestApplyErrors(t *testing.T) {
	in := items(t, time.UTC, fiveHours...)

	t.Run("empty policy", func(t *testing.T) {
		ds, err := Policy{}.Apply(in)
		require.ErrorIs(t, err, ErrEmptyPolicy)
		assert.Nil(t, ds)
		_, err = Policy{Location: time.Local}.Apply(nil)
		require.ErrorIs(t, err, ErrEmptyPolicy, "location is not a rule, and an empty policy is refused even with no items")
	})
	t.Run("invalid policy", func(t *testing.T) {
		ds, err := Policy{Daily: -2, Last: 1}.Apply(in)
		require.ErrorIs(t, err, ErrInvalidPolicy)
		assert.Nil(t, ds)
	})
	t.Run("duplicate ID", func(t *testing.T) {
		dup := append(slices.Clone(in), Item{ID: "c", Time: in[0].Time.Add(time.Minute)})
		_, err := Policy{Last: 1}.Apply(dup)
		require.ErrorIs(t, err, ErrDuplicateID)
		assert.Contains(t, err.Error(), `"c"`)
	})
	t.Run("tags alone matching nothing", func(t *testing.T) {
		ds, err := Policy{Tags: []string{"nothing"}}.Apply(in)
		require.ErrorIs(t, err, ErrRemoveAll)
		assert.Nil(t, ds)
	})
	t.Run("no items", func(t *testing.T) {
		ds, err := Policy{Tags: []string{"nothing"}}.Apply(nil)
		require.NoError(t, err)
		assert.Empty(t, ds)
	})
}

func TestApplyDoesNotModifyInput(t *testing.T) {
	in := items(t, time.UTC, tagged...)
	before := slices.Clone(in)
	_, err := Policy{Daily: 1, Tags: []string{"prod"}}.Apply(in)
	require.NoError(t, err)
	assert.Equal(t, before, in)
}

func TestApplyIgnoresTimeRepresentation(t *testing.T) {
	// The same instants as monotonic readings and in another location
	// give the same decisions, and the items come back untouched.
	now := time.Now()
	tokyo := mustLoad(t, "Asia/Tokyo")
	in := []Item{
		{ID: "a", Time: now.Add(-25 * time.Hour)},
		{ID: "b", Time: now.Add(-time.Hour).In(tokyo)},
		{ID: "c", Time: now},
	}
	p := Policy{Within: 24 * time.Hour}
	ds, err := p.Apply(in)
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"c": {"within 24h0m0s"}, "b": {"within 24h0m0s"}}, kept(ds))
	assert.Same(t, tokyo, ds[1].Item.Time.Location())
}
