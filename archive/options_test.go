package archive

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsWithDefaults(t *testing.T) {
	o := Options{ShipInterval: -time.Second, Compaction: []time.Duration{time.Minute}}
	d := o.withDefaults()
	assert.Equal(t, time.Second, d.ShipInterval)
	assert.Equal(t, 8<<20, d.MaxObjectBytes)
	assert.Equal(t, 4, d.Uploads)
	assert.Equal(t, int64(32<<20), d.MaxCompactedBytes)
	assert.Equal(t, "archive", d.Holder)
	assert.Equal(t, 10*time.Second, d.LagWarning)
	assert.Equal(t, 100*time.Millisecond, d.MinBackoff)
	assert.Equal(t, 10*time.Second, d.MaxBackoff)
	assert.NotNil(t, d.Logger)
	assert.NotNil(t, d.Now)

	d.Compaction[0] = time.Hour
	assert.Equal(t, -time.Second, o.ShipInterval, "withDefaults changed its receiver")
	assert.Equal(t, time.Minute, o.Compaction[0], "the copy shares the caller's Compaction")

	assert.Equal(t, []time.Duration{5 * time.Minute, time.Hour}, Options{}.withDefaults().Compaction)
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want []string // each message the error must hold; none: valid
	}{
		{name: "zero", opts: Options{}},
		{name: "no compaction", opts: Options{Compaction: []time.Duration{}, NoCompaction: true}},
		{
			name: "empty compaction",
			opts: Options{Compaction: []time.Duration{}},
			want: []string{"archive: Options.Compaction is empty; set NoCompaction instead"},
		},
		{
			name: "every bad window",
			opts: Options{Compaction: []time.Duration{0, time.Minute, -time.Second}},
			want: []string{
				"archive: Options.Compaction[0] 0s is not positive",
				"archive: Options.Compaction[2] -1s is not positive",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestNewArchiverRejectsInvalidOptions(t *testing.T) {
	// It checks before it touches the log or the store.
	_, err := NewArchiver(nil, nil, Options{Compaction: []time.Duration{}})
	require.EqualError(t, err, "archive: Options.Compaction is empty; set NoCompaction instead")
}
