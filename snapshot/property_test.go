package snapshot

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob/memblob"
	"pgregory.net/rapid"
)

// propFormat uses small chunks so small random states have many.
var propFormat = Format{ChunkMin: 256, ChunkAvg: 1024, ChunkMax: 4096}

// TestPropertyRoundTrip: for random states and random edit sequences,
// every snapshot restores byte for byte, and a Save after edits stores at
// most the edited bytes plus a few chunks per edit.
func TestPropertyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		b := memblob.OpenBucket(nil)
		defer b.Close()
		r, err := Init(ctx, b, testKey, propFormat, Options{PackBytes: minPackBytes, Workers: rapid.IntRange(1, 4).Draw(t, "workers"), Uploads: 2})
		require.NoError(t, err)
		defer r.Close()

		state := rapid.SliceOfN(rapid.Byte(), 0, 64<<10).Draw(t, "state")
		if rapid.Bool().Draw(t, "compressible") {
			for i := range state {
				state[i] &= 0x3
			}
		}
		saved := map[ID][]byte{}
		m, _, err := r.Save(ctx, bytes.NewReader(state), Meta{})
		require.NoError(t, err)
		saved[m.ID] = bytes.Clone(state)

		for step := range rapid.IntRange(1, 4).Draw(t, "steps") {
			edits := rapid.IntRange(1, 5).Draw(t, "edits")
			edited := 0
			for range edits {
				n := rapid.IntRange(1, 300).Draw(t, "len")
				at := 0
				if len(state) > 0 {
					at = rapid.IntRange(0, len(state)).Draw(t, "at")
				}
				switch rapid.IntRange(0, 3).Draw(t, "op") {
				case 0: // insert
					ins := rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "ins")
					state = append(state[:at:at], append(ins, state[at:]...)...)
				case 1: // delete
					end := min(len(state), at+n)
					state = append(state[:at:at], state[end:]...)
				case 2: // overwrite
					for i := at; i < min(len(state), at+n); i++ {
						state[i] ^= 0x5a
					}
				case 3: // append
					state = append(state, rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "tail")...)
				}
				edited += n
			}
			m, st, err := r.Save(ctx, bytes.NewReader(state), Meta{})
			require.NoError(t, err)
			saved[m.ID] = bytes.Clone(state)
			bound := int64(edited + edits*3*propFormat.ChunkMax)
			require.LessOrEqual(t, st.NewBytes, bound, "step %d: %d edits of %d bytes", step, edits, edited)
		}
		for id, want := range saved {
			var out bytes.Buffer
			require.NoError(t, r.Restore(ctx, id, &out))
			require.True(t, bytes.Equal(want, out.Bytes()), "snapshot %s restored %d bytes, want %d, differing", id.Short(), out.Len(), len(want))
		}
	})
}
