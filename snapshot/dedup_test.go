package snapshot

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/gen"
)

// TestShiftResistance: with the default format (64 KiB average chunks),
// inserting 1 byte at 100 random offsets of a 64 MiB state, or making 100
// small edits to 64 MiB of event data, leaves at least 85% of the bytes to
// be reused: the second Save stores at most 15% new bytes.
func TestShiftResistance(t *testing.T) {
	const size = 64 << 20
	for _, tc := range []struct {
		name     string
		data     func() []byte
		edit     func([]byte) []byte
		minReuse float64
	}{
		{"random/insert-1-byte-x100", func() []byte { return gen.Random(1, size) },
			func(d []byte) []byte { return gen.InsertBytes(2, d, 100) }, 0.87},
		{"events/100-small-edits", func() []byte { return gen.Events(3, size) },
			func(d []byte) []byte { return gen.Edit(4, d, 100, 64) }, 0.85},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := initRepo(t, memBucket(t), Format{})
			d := tc.data()
			m1, _ := save(t, r, d)
			d2 := tc.edit(d)
			m2, st := save(t, r, d2)
			reuse := 1 - float64(st.NewBytes)/float64(len(d2))
			t.Logf("%s: %d chunks, %d reused, %.1f%% of bytes reused, stored %d bytes", tc.name, st.Chunks, st.ChunksReused, 100*reuse, st.StoredBytes)
			assert.GreaterOrEqual(t, reuse, tc.minReuse)
			var out bytes.Buffer
			require.NoError(t, r.Restore(context.Background(), m2.ID, &out))
			require.True(t, bytes.Equal(d2, out.Bytes()))
			_ = m1
		})
	}
}
