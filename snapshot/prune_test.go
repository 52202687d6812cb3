package snapshot

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/gen"
	"github.com/continuity-go/continuity/internal/retention"
	"github.com/continuity-go/continuity/internal/testkit"
)

func TestForgetPruneVerify(t *testing.T) {
	testkit.RunBuckets(t, testForgetPruneVerify)
}

func testForgetPruneVerify(t *testing.T, b *blob.Bucket) {
	ctx := context.Background()
	r := initRepo(t, b, testFormat)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	states := make(map[ID][]byte)
	var ids []ID
	data := gen.Events(10, 2<<20)
	for i := range 10 {
		// Each state replaces a different quarter of the previous: old
		// chunks go out of use as old snapshots are forgotten.
		data = append([]byte(nil), data...)
		copy(data[(i%4)*len(data)/4:], gen.Random(uint64(100+i), len(data)/4))
		m, _, err := r.Save(ctx, bytes.NewReader(data), Meta{Time: base.Add(time.Duration(i) * 24 * time.Hour), Tags: []string{"daily"}})
		require.NoError(t, err)
		states[m.ID] = data
		ids = append(ids, m.ID)
	}
	rep, err := r.Verify(ctx, VerifyOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 10, rep.Snapshots)
	assert.Equal(t, rep.Blobs, rep.BlobsRead)

	ds, err := r.Forget(ctx, Policy{Last: 3}, true)
	require.NoError(t, err)
	require.Len(t, ds, 10)
	ms, err := r.List(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 10, "dry run deletes nothing")
	var buf bytes.Buffer
	require.NoError(t, ExplainDecisions(&buf, ds))
	assert.Contains(t, buf.String(), "last snapshot")

	_, err = r.Forget(ctx, Policy{Last: 3}, false)
	require.NoError(t, err)
	ms, err = r.List(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 3)
	for i, m := range ms {
		assert.Equal(t, ids[7+i], m.ID)
	}

	before := bucketBytes(t, r)
	dry, err := r.Prune(ctx, PruneOptions{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, before, bucketBytes(t, r), "dry run changes nothing")
	st, err := r.Prune(ctx, PruneOptions{})
	require.NoError(t, err)
	assert.Equal(t, dry.PacksDeleted, st.PacksDeleted)
	assert.Positive(t, st.PacksDeleted+st.PacksRepacked)
	assert.Positive(t, st.BytesFreed)
	after := bucketBytes(t, r)
	assert.Less(t, after, before)
	t.Logf("prune: %+v; bucket %d -> %d bytes", st, before, after)

	for _, m := range ms {
		require.True(t, bytes.Equal(states[m.ID], restore(t, r, m.ID)))
	}
	rep, err = r.Verify(ctx, VerifyOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Problems)

	// A second prune finds nothing to do; a reopened repo restores all.
	st, err = r.Prune(ctx, PruneOptions{})
	require.NoError(t, err)
	assert.Zero(t, st.PacksDeleted+st.PacksRepacked)
	r2, err := Open(ctx, b, testKey, testOptions())
	require.NoError(t, err)
	defer r2.Close()
	for _, m := range ms {
		require.True(t, bytes.Equal(states[m.ID], restore(t, r2, m.ID)))
	}
}

func bucketBytes(t testing.TB, r *Repo) int64 {
	var n int64
	for _, name := range objectNames(t, r) {
		a, err := r.bucket.Attributes(context.Background(), name)
		require.NoError(t, err)
		n += a.Size
	}
	return n
}

func TestVerifyReportsAffectedSnapshots(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	r := initRepo(t, b, testFormat)
	shared := gen.Random(1, 512<<10)
	m1, _ := save(t, r, shared)
	m2, _ := save(t, r, append(append([]byte(nil), shared...), gen.Random(2, 512<<10)...))
	m3, _ := save(t, r, gen.Random(3, 256<<10))

	// Damage the pack holding the shared data: m1 and m2 are affected, m3 not.
	r.idxMu.RLock()
	loc, ok := r.idx.lookup(mustFirstChunk(t, r, m1))
	pack := r.idx.packs[loc.pack]
	r.idxMu.RUnlock()
	require.True(t, ok)
	raw, err := b.ReadAll(ctx, pack.name())
	require.NoError(t, err)
	raw[loc.off+5] ^= 0xff
	require.NoError(t, b.WriteAll(ctx, pack.name(), raw, nil))

	rep, err := r.Verify(ctx, VerifyOptions{})
	require.NoError(t, err)
	assert.True(t, rep.OK(), "structure is intact: %v", rep.Problems)

	rep, err = r.Verify(ctx, VerifyOptions{ReadData: true})
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	p := rep.Problems[0]
	assert.Equal(t, pack.name(), p.Object)
	assert.ErrorIs(t, p.Err, ErrCorrupt)
	assert.ElementsMatch(t, []ID{m1.ID, m2.ID}, p.Snapshots)
	assert.NotContains(t, p.Snapshots, m3.ID)

	// Deleting the pack is found without reading data.
	require.NoError(t, b.Delete(ctx, pack.name()))
	rep, err = r.Verify(ctx, VerifyOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	assert.ErrorIs(t, rep.Problems[0].Err, ErrMissing)
	assert.ElementsMatch(t, []ID{m1.ID, m2.ID}, rep.Problems[0].Snapshots)

	// Prune refuses to run over a damaged repository rather than lose more.
	_, err = r.Prune(ctx, PruneOptions{})
	require.Error(t, err)
}

func mustFirstChunk(t testing.TB, r *Repo, m Manifest) blobID {
	var first blobID
	found := false
	tr := r.newTreeReader(m)
	require.NoError(t, tr.walk(context.Background(), func(id blobID) error {
		if !found {
			first, found = id, true
		}
		return nil
	}, func() error { return nil }))
	require.True(t, found)
	return first
}

// TestPruneRacingSave runs Saves of overlapping states while Forget and
// Prune run; afterwards every remaining snapshot restores exactly.
func TestPruneRacingSave(t *testing.T) {
	testkit.RunBuckets(t, testPruneRacingSave)
}

func testPruneRacingSave(t *testing.T, b *blob.Bucket) {
	ctx := context.Background()
	opts := testOptions()
	r := initRepo(t, b, testFormat)
	// A second Repo on the same bucket stands for another process.
	r2, err := Open(ctx, b, testKey, opts)
	require.NoError(t, err)
	defer r2.Close()

	var mu sync.Mutex
	states := make(map[ID][]byte)
	base := gen.Events(5, 1<<20)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				d := gen.Edit(uint64(w*100+i), base, 20, 64)
				m, _, err := r.Save(ctx, bytes.NewReader(d), Meta{})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				states[m.ID] = d
				mu.Unlock()
			}
		}()
	}
	var pruned PruneStats
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 4 {
			if _, err := r2.Forget(ctx, Policy{Last: 2}, false); err != nil && !errors.Is(err, retention.ErrRemoveAll) {
				assert.NoError(t, err)
			}
			st, err := r2.Prune(ctx, PruneOptions{MaxUnused: 0.01})
			assert.NoError(t, err)
			pruned.PacksDeleted += st.PacksDeleted
			pruned.PacksRepacked += st.PacksRepacked
		}
	}()
	wg.Wait()
	t.Logf("prunes deleted %d packs and repacked %d while saves ran", pruned.PacksDeleted, pruned.PacksRepacked)
	if pruned.PacksDeleted+pruned.PacksRepacked == 0 {
		// Every prune ran before the first forget had anything to drop:
		// run one more now so the final check covers pruned data.
		_, err := r2.Forget(ctx, Policy{Last: 2}, false)
		require.NoError(t, err)
		st, err := r2.Prune(ctx, PruneOptions{MaxUnused: 0.01})
		require.NoError(t, err)
		require.Positive(t, st.PacksDeleted+st.PacksRepacked)
	}

	ms, err := r.List(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for _, m := range ms {
		require.True(t, bytes.Equal(states[m.ID], restore(t, r, m.ID)), "snapshot %s", m.ID.Short())
	}
	rep, err := r.Verify(ctx, VerifyOptions{ReadData: true})
	require.NoError(t, err)
	require.True(t, rep.OK(), "%v", rep.Problems)
}

// TestPruneRefusesWithoutIndex: with an index object lost, the packs it
// named look like leftovers; Prune must refuse instead of deleting data
// snapshots still use.
func TestPruneRefusesWithoutIndex(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	r := initRepo(t, b, testFormat)
	data := gen.Random(1, 512<<10)
	save(t, r, data)
	names, err := listNames(ctx, b, indexPrefix)
	require.NoError(t, err)
	for _, n := range names {
		require.NoError(t, b.Delete(ctx, n))
	}
	opts := testOptions()
	opts.Now = func() time.Time { return time.Now().Add(24 * time.Hour) } // leftovers look old
	r2, err := Open(ctx, b, testKey, opts)
	require.NoError(t, err)
	defer r2.Close()
	before := packNames(t, b)
	_, err = r2.Prune(ctx, PruneOptions{})
	require.ErrorIs(t, err, ErrMissing)
	assert.Equal(t, before, packNames(t, b), "nothing deleted")
}

func TestRepairIndex(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	r := initRepo(t, b, testFormat)
	d1, d2 := gen.Events(1, 1<<20), gen.Random(2, 600<<10)
	m1, _ := save(t, r, d1)
	m2, _ := save(t, r, d2)
	names, err := listNames(ctx, b, indexPrefix)
	require.NoError(t, err)
	for _, n := range names {
		require.NoError(t, b.Delete(ctx, n))
	}
	// One pack damaged beyond repair.
	packs := packNames(t, b)
	raw, err := b.ReadAll(ctx, packs[0])
	require.NoError(t, err)
	raw[len(raw)-10] ^= 1
	require.NoError(t, b.WriteAll(ctx, packs[0], raw, nil))

	r2, err := Open(ctx, b, testKey, testOptions())
	require.NoError(t, err)
	defer r2.Close()
	rep, err := r2.RepairIndex(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(packs), rep.Packs)
	assert.Equal(t, len(packs)-1, rep.Indexed)
	require.Len(t, rep.Problems, 1)
	assert.Equal(t, packs[0], rep.Problems[0].Object)
	assert.ErrorIs(t, rep.Problems[0].Err, ErrCorrupt)

	// Restore the pack and repair again: everything restores.
	raw[len(raw)-10] ^= 1
	require.NoError(t, b.WriteAll(ctx, packs[0], raw, nil))
	rep, err = r2.RepairIndex(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Indexed)
	assert.True(t, bytes.Equal(d1, restore(t, r2, m1.ID)))
	assert.True(t, bytes.Equal(d2, restore(t, r2, m2.ID)))
	vr, err := r2.Verify(ctx, VerifyOptions{ReadData: true})
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%v", vr.Problems)
}

// TestDropDamagedManifests: only manifests that fail authentication go;
// a whole one named by mistake, a missing one and a name outside
// snapshots/ are left (the last refused); a read-only repository
// refuses.
func TestDropDamagedManifests(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	r := initRepo(t, b, testFormat)
	m1, _ := save(t, r, gen.Events(1, 64<<10))
	m2, _ := save(t, r, gen.Events(2, 64<<10))
	raw, err := b.ReadAll(ctx, manifestName(m1.ID))
	require.NoError(t, err)
	raw[len(raw)/2] ^= 1
	require.NoError(t, b.WriteAll(ctx, manifestName(m1.ID), raw, nil))

	ro, err := Open(ctx, b, testKey, Options{ReadOnly: true})
	require.NoError(t, err)
	_, err = ro.DropDamagedManifests(ctx, []string{manifestName(m1.ID)})
	assert.ErrorIs(t, err, ErrReadOnly)
	ro.Close()

	_, err = r.DropDamagedManifests(ctx, []string{"index/x"})
	assert.Error(t, err, "a name outside snapshots/")
	dropped, err := r.DropDamagedManifests(ctx, []string{manifestName(m1.ID), manifestName(m2.ID), "snapshots/00000000000000000000000000000000"})
	require.NoError(t, err)
	assert.Equal(t, []string{manifestName(m1.ID)}, dropped)
	ms, damaged, err := r.ListReadable(ctx)
	require.NoError(t, err)
	assert.Empty(t, damaged)
	require.Len(t, ms, 1)
	assert.Equal(t, m2.ID, ms[0].ID)
}
