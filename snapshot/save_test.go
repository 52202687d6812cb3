package snapshot

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{7}},
		{"random 3MiB", gen.Random(1, 3<<20)},
		{"events 3MiB", gen.Events(2, 3<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := initRepo(t, memBucket(t), testFormat)
			m, st := save(t, r, tc.data)
			assert.Equal(t, int64(len(tc.data)), m.Size)
			assert.Equal(t, int64(len(tc.data)), st.BytesIn)
			got := restore(t, r, m.ID)
			require.Equal(t, len(tc.data), len(got))
			require.True(t, string(tc.data) == string(got), "restored bytes differ")

			// Unchanged: nothing new.
			m2, st2 := save(t, r, tc.data)
			assert.Zero(t, st2.NewBytes)
			assert.Zero(t, st2.Packs)
			assert.Equal(t, st2.Chunks, st2.ChunksReused)
			require.True(t, string(tc.data) == string(restore(t, r, m2.ID)))
		})
	}
}
