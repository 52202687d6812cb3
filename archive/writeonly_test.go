package archive

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/wal"
)

// TestArchiverWithoutDelete archives and compacts through credentials
// that may put, get and list but not delete (versitygw's write-only user
// on the S3 leg): nothing fails, the archiver counts the deletes it
// defers, and every instant restores exactly. A retention run with full
// credentials then deletes what was left (the merged pieces and the old
// heads), and the archive still restores exactly and verifies clean.
func TestArchiverWithoutDelete(t *testing.T) {
	for _, bk := range testkit.WriteOnlyBuckets(t) {
		t.Run(bk.Name, func(t *testing.T) {
			ctx := context.Background()
			full, writeOnly := bk.Open(t)
			rig := newArchiveRig(t, full)
			rig.useBucket(writeOnly)
			a := rig.archiver(Options{ShipInterval: time.Second, Compaction: []time.Duration{time.Minute}})
			rng := rand.New(rand.NewPCG(3, 4))
			for range 40 {
				rig.append(1 + rng.IntN(5))
				rig.clock.Add(time.Duration(rng.Int64N(int64(10 * time.Second))))
				flush(t, a)
			}
			rig.clock.Add(2 * time.Minute) // every window before now is closed
			rig.append(1)
			flush(t, a)
			before := countObjects(t, full, archivePrefix)
			require.NoError(t, a.Compact(ctx), "Compact may not fail for want of delete")
			require.NoError(t, a.Compact(ctx), "nor a second one over what the first left")
			st := a.Status()
			assert.Positive(t, st.DeletesDeferred, "deferred deletes are counted")
			assert.Positive(t, st.Compacted, "compaction wrote merged objects")
			assert.Zero(t, st.Failures, "no upload failed: %v", st.LastError)
			left := countObjects(t, full, archivePrefix)
			assert.Greater(t, left, before, "the pieces stay beside the merged objects")
			heads := countPrefix(t, full, headPrefix)
			assert.Greater(t, heads, keepAnchors+1, "old heads stay")
			t.Logf("%d objects before compaction, %d after (pieces kept), %d heads, %d deletes deferred", before, left, heads, st.DeletesDeferred)
			rig.checkSome(ctx, rng)

			// A privileged retention run (the window keeps everything)
			// deletes what the archiver could not.
			require.NoError(t, a.Close())
			rig.useBucket(full)
			res, err := ApplyRetention(ctx, rig.repo, RetentionPolicy{Window: 24 * time.Hour, Now: rig.clock.Now}, false)
			require.NoError(t, err)
			assert.Empty(t, res.DeletedObjects, "the window needs every WAL object")
			assert.NotEmpty(t, res.Superseded, "the merged pieces are superseded")
			assert.Len(t, res.OldHeads, heads-keepAnchors-1)
			assert.Equal(t, keepAnchors+1, countPrefix(t, full, headPrefix))
			assert.Equal(t, left-len(res.Superseded), countObjects(t, full, archivePrefix))
			again, err := ApplyRetention(ctx, rig.repo, RetentionPolicy{Window: 24 * time.Hour, Now: rig.clock.Now}, false)
			require.NoError(t, err)
			assert.Empty(t, again.Superseded, "nothing left to supersede")
			assert.Empty(t, again.OldHeads)
			rig.checkSome(ctx, rng)
			rep, err := VerifyWith(ctx, rig.repo, VerifyValid, VerifyOptions{Decode: true})
			require.NoError(t, err)
			assert.True(t, rep.OK(), "verify after the privileged retention: %v", rep.Problems)
		})
	}
}

// checkSome restores at every LSN's instant of a sample and at the end.
func (rig *archiveRig) checkSome(ctx context.Context, rng *rand.Rand) {
	rig.t.Helper()
	for range 20 {
		r := rig.recs[rng.IntN(len(rig.recs))]
		rig.check(ctx, AtTime(r.Time), rig.modelAt(r.Time))
		rig.check(ctx, AtLSN(r.LSN), r.LSN)
	}
	rig.check(ctx, Target{}, wal.LSN(len(rig.recs)))
}

// countPrefix counts the objects under prefix.
func countPrefix(t *testing.T, b *blob.Bucket, prefix string) int {
	t.Helper()
	n := 0
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(context.Background())
		if err != nil {
			require.ErrorContains(t, err, "EOF")
			return n
		}
		if !o.IsDir && strings.HasPrefix(o.Key, prefix) {
			n++
		}
	}
}
