package snapshot

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTreeDepth builds chunk lists deep enough for several tree levels
// and walks them back.
func TestTreeDepth(t *testing.T) {
	for _, tc := range []struct {
		n, minIDs, maxIDs int
		mask              uint64
		minDepth          uint8
	}{
		{0, 0, 0, 0, 0}, {1, 0, 0, 0, 0}, {treeMinIDs, 0, 0, 0, 0}, {treeMaxIDs, 0, 0, 0, 0},
		{treeMaxIDs + 1, 0, 0, 0, 1}, {50_000, 0, 0, 0, 1}, {20_000, 4, 16, 7, 3},
	} {
		n := tc.n
		blocks := map[blobID][]byte{}
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		tb := &treeBuilder{minIDs: tc.minIDs, maxIDs: tc.maxIDs, mask: tc.mask, store: func(ids []blobID) (blobID, error) {
			var id blobID
			for i := range id {
				id[i] = byte(rng.Uint32())
			}
			blocks[id] = idsBytes(ids)
			return id, nil
		}}
		want := make([]blobID, n)
		for i := range want {
			for j := range want[i] {
				want[i][j] = byte(rng.Uint32())
			}
			require.NoError(t, tb.add(0, want[i]))
		}
		depth, root, err := tb.finish()
		require.NoError(t, err)
		assert.LessOrEqual(t, len(root), max(treeMaxIDs, tc.maxIDs))
		var got []blobID
		var walk func(d int, ids []blobID)
		walk = func(d int, ids []blobID) {
			for _, id := range ids {
				if d == 0 {
					got = append(got, id)
					continue
				}
				b := blocks[id]
				children := make([]blobID, len(b)/blobIDSize)
				for i := range children {
					copy(children[i][:], b[i*blobIDSize:])
				}
				walk(d-1, children)
			}
		}
		walk(int(depth), root)
		require.Equal(t, len(want), len(got), "n=%d depth=%d", n, depth)
		if n > 0 {
			require.Equal(t, want, got)
		}
		assert.GreaterOrEqual(t, depth, tc.minDepth, "n=%d", n)
	}
}
