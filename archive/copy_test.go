package archive

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestCopyArchive copies an archive (base snapshots and the WAL) into
// another bucket with snapshot.Repo.CopyTo: the copy verifies and
// restores every LSN exactly, with the same key; a copy after more
// records moves only the new objects.
func TestCopyArchive(t *testing.T) {
	testkit.RunBucketOpeners(t, func(t *testing.T, open func(testing.TB) *blob.Bucket) {
		ctx := context.Background()
		rig := newArchiveRig(t, open(t))
		a := rig.archiver(Options{ShipInterval: time.Second, NoCompaction: true})
		for i := range 6 {
			rig.append(4)
			rig.clock.Add(10 * time.Second)
			flush(t, a)
			if i == 2 {
				_, err := a.SnapshotNow(ctx)
				require.NoError(t, err)
			}
		}
		dst := open(t)
		opts := snapshot.CopyOptions{SealedPrefix: SealedPrefixLen}
		st, err := rig.repo.CopyTo(ctx, dst, opts)
		require.NoError(t, err)
		assert.Empty(t, st.Unauthenticated)
		assert.Empty(t, st.Unknown)

		c, err := snapshot.Open(ctx, dst, snapshot.RawKey([32]byte{7}), snapshot.Options{Now: rig.clock.Now})
		require.NoError(t, err)
		defer c.Close()
		check := func() {
			t.Helper()
			for l := wal.LSN(1); l <= wal.LSN(len(rig.recs)); l++ {
				var sm testsm.Chain
				res, err := RestoreTo(ctx, c, AtLSN(l), &sm, RestoreOptions{})
				require.NoError(t, err, "restore LSN %d from the copy", l)
				lsn, _, sum := sm.State()
				require.Equal(t, l, res.LSN)
				require.Equal(t, l, lsn)
				require.Equal(t, rig.sums[l], sum, "LSN %d restored from the copy", l)
			}
			rep, err := VerifyWith(ctx, c, VerifyValid, VerifyOptions{})
			require.NoError(t, err)
			assert.True(t, rep.OK(), "verify the copy: %v", rep.Problems)
		}
		check()

		rig.append(5)
		flush(t, a)
		more, err := rig.repo.CopyTo(ctx, dst, opts)
		require.NoError(t, err)
		assert.Positive(t, more.Copied)
		assert.Less(t, more.Bytes, st.Bytes, "only the new objects move")
		check()
	})
}
