package retention

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regenerate the golden files with
//
//	go test -run '^TestExplainGolden$' ./internal/retention/ -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestExplainGolden(t *testing.T) {
	// Six weeks of snapshots at 00:00 and 12:00, one tagged before an
	// upgrade, under a policy that uses every kind of reason.
	var in []Item
	for _, it := range every(time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), 12*time.Hour) {
		if it.Time.Equal(time.Date(2026, 2, 3, 12, 0, 0, 0, time.UTC)) {
			it.Tags = []string{"pre-upgrade"}
		}
		in = append(in, it)
	}
	newYork := mustLoad(t, "America/New_York")

	for _, tc := range []struct {
		name   string
		policy Policy
		in     []Item
	}{
		{
			name:   "explain.golden",
			policy: Policy{Last: 2, Daily: 7, Weekly: 4, Monthly: 3, Within: 36 * time.Hour, Tags: []string{"pre-upgrade"}},
			in:     in,
		},
		{
			// Times print in each item's own location: here the
			// caller converted them to the policy's calendar.
			name:   "explain-new-york.golden",
			policy: Policy{Hourly: 3, Location: newYork},
			in: []Item{
				{ID: "a", Time: time.Date(2026, 11, 1, 4, 30, 0, 0, time.UTC).In(newYork)},
				{ID: "b", Time: time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC).In(newYork)},
				{ID: "c", Time: time.Date(2026, 11, 1, 6, 15, 0, 0, time.UTC).In(newYork)},
				{ID: "d", Time: time.Date(2026, 11, 1, 7, 10, 0, 0, time.UTC).In(newYork)},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := tc.policy.Apply(tc.in)
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, Explain(&buf, ds))

			path := filepath.Join("testdata", tc.name)
			if *update {
				require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run with -update to create it")
			assert.Equal(t, string(want), buf.String())
		})
	}
}

func TestExplainEmpty(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Explain(&buf, nil))
	assert.Equal(t, "TIME  ID  ACTION  REASONS\n\nkeep 0 of 0 snapshots, remove 0\n", buf.String())
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestExplainWriteError(t *testing.T) {
	errDisk := errors.New("disk full")
	err := Explain(failingWriter{errDisk}, []Decision{{Item: Item{ID: "a"}, Keep: true, Reasons: []string{"last snapshot"}}})
	require.ErrorIs(t, err, errDisk)
}
