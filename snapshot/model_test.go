package snapshot

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob/memblob"
	"pgregory.net/rapid"
)

// TestModel runs random sequences of Save, Remove, Forget, Prune,
// RepairIndex and reopening against a model (a map from snapshot ID to
// state): after every step the repository lists exactly the model's
// snapshots, and every one of them restores to its state.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		b := memblob.OpenBucket(nil)
		defer b.Close()
		opts := Options{PackBytes: minPackBytes, Workers: rapid.IntRange(1, 3).Draw(t, "workers"), Uploads: 2}
		r, err := Init(ctx, b, testKey, propFormat, opts)
		require.NoError(t, err)
		defer func() { r.Close() }()
		model := map[ID][]byte{}
		var order []ID // save order, for Forget{Last}
		pick := func(label string) ID {
			ids := make([]ID, 0, len(model))
			for _, id := range order {
				if _, ok := model[id]; ok {
					ids = append(ids, id)
				}
			}
			return rapid.SampledFrom(ids).Draw(t, label)
		}
		check := func() {
			ms, err := r.List(ctx)
			require.NoError(t, err)
			require.Len(t, ms, len(model), "List against the model")
			for _, m := range ms {
				want, ok := model[m.ID]
				require.True(t, ok, "unexpected snapshot %s", m.ID.Short())
				var out bytes.Buffer
				require.NoError(t, r.Restore(ctx, m.ID, &out), "restore %s", m.ID.Short())
				require.True(t, bytes.Equal(out.Bytes(), want), "snapshot %s restored wrong bytes", m.ID.Short())
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"save": func(t *rapid.T) {
				var state []byte
				if len(model) > 0 && rapid.Bool().Draw(t, "edit") {
					state = bytes.Clone(model[pick("base")])
					at := rapid.IntRange(0, len(state)).Draw(t, "at")
					ins := rapid.SliceOfN(rapid.Byte(), 1, 200).Draw(t, "ins")
					state = slices.Insert(state, at, ins...)
				} else {
					state = rapid.SliceOfN(rapid.Byte(), 0, 20_000).Draw(t, "state")
				}
				m, _, err := r.Save(ctx, bytes.NewReader(state), Meta{})
				require.NoError(t, err)
				model[m.ID] = state
				order = append(order, m.ID)
			},
			"remove": func(t *rapid.T) {
				if len(model) == 0 {
					t.Skip("nothing to remove")
				}
				id := pick("victim")
				require.NoError(t, r.Remove(ctx, id))
				delete(model, id)
			},
			"forget-last": func(t *rapid.T) {
				if len(model) == 0 {
					t.Skip("nothing to forget")
				}
				n := rapid.IntRange(1, 3).Draw(t, "last")
				ds, err := r.Forget(ctx, Policy{Last: n}, false)
				require.NoError(t, err)
				for _, d := range ds {
					if !d.Keep {
						id, _ := ParseID(d.Item.ID)
						delete(model, id)
					}
				}
			},
			"prune": func(t *rapid.T) {
				_, err := r.Prune(ctx, PruneOptions{MaxUnused: rapid.Float64Range(0.01, 1).Draw(t, "maxUnused")})
				require.NoError(t, err)
			},
			"repair-index": func(t *rapid.T) {
				_, err := r.RepairIndex(ctx)
				require.NoError(t, err)
			},
			"reopen": func(t *rapid.T) {
				r.Close()
				r, err = Open(ctx, b, testKey, opts)
				require.NoError(t, err)
			},
			"": func(t *rapid.T) { check() },
		})
		rep, err := r.Verify(ctx, VerifyOptions{ReadData: true})
		require.NoError(t, err)
		require.True(t, rep.OK(), "verify: %v", rep.Problems)
	})
}
