package retention

import (
	"testing"
	"time"
	_ "time/tzdata" // DST tests must not depend on the host's zoneinfo

	"github.com/stretchr/testify/require"
)

// testingT is what *testing.T and *rapid.T have in common.
type testingT interface {
	require.TestingT
	Helper()
}

// snap is an Item written for tables: a local time string read in the
// test's location.
type snap struct {
	id   string
	at   string // "2006-01-02 15:04" or "2006-01-02 15:04:05"
	tags []string
}

func parseAt(tb testing.TB, s string, loc *time.Location) time.Time {
	tb.Helper()
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t
		}
	}
	require.FailNowf(tb, "bad time", "%q", s)
	return time.Time{}
}

func items(tb testing.TB, loc *time.Location, snaps ...snap) []Item {
	tb.Helper()
	out := make([]Item, len(snaps))
	for i, s := range snaps {
		out[i] = Item{ID: s.id, Time: parseAt(tb, s.at, loc), Tags: s.tags}
	}
	return out
}

// every returns items every step from first to last inclusive, with IDs
// that are their UTC times.
func every(first, last time.Time, step time.Duration) []Item {
	var out []Item
	for t := first; !t.After(last); t = t.Add(step) {
		out = append(out, Item{ID: t.UTC().Format("2006-01-02T15:04Z"), Time: t})
	}
	return out
}

// kept maps the ID of every kept item to its reasons.
func kept(ds []Decision) map[string][]string {
	out := make(map[string][]string)
	for _, d := range ds {
		if d.Keep {
			out[d.Item.ID] = d.Reasons
		}
	}
	return out
}

func keptSet(ds []Decision) map[string]bool {
	out := make(map[string]bool)
	for _, d := range ds {
		if d.Keep {
			out[d.Item.ID] = true
		}
	}
	return out
}

func mustLoad(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(tb, err)
	return loc
}
