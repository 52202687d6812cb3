package archive

import (
	"context"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
	"gocloud.dev/blob"
)

// TestRotateAndReencrypt: an archive whose master key is rotated while
// the archiver runs ships under the new epoch, restores across the
// rotation, and after a re-encrypt pass (which knows the archive's
// object layouts through SealedPrefixLen) every object is under the new
// epoch and the old epoch's key can be retired.
func TestRotateAndReencrypt(t *testing.T) {
	testkit.RunBuckets(t, func(t *testing.T, b *blob.Bucket) {
		ctx := context.Background()
		rig := newArchiveRig(t, b)
		a := rig.archiver(Options{ShipInterval: time.Hour})
		rig.append(50)
		flush(t, a)
		_, err := a.SnapshotNow(ctx)
		require.NoError(t, err)
		rig.clock.Add(time.Second)
		rig.append(50)
		flush(t, a)

		rep, err := rig.repo.RotateMaster(ctx, snapshot.RotateOptions{})
		require.NoError(t, err)
		require.Equal(t, uint32(1), rep.Epoch)
		rig.clock.Add(time.Second)
		rig.append(50)
		flush(t, a)
		require.NoError(t, a.Compact(ctx))
		last := rig.recs[len(rig.recs)-1]
		rig.check(ctx, AtLSN(last.LSN), last.LSN)
		rig.check(ctx, AtLSN(60), 60)

		rr, err := rig.repo.Reencrypt(ctx, snapshot.ReencryptOptions{SealedPrefix: SealedPrefixLen, Retire: true})
		require.NoError(t, err)
		assert.Empty(t, rr.Left)
		assert.NotZero(t, rr.Resealed)
		assert.False(t, rr.RetireAfter.IsZero(), "too young to retire")
		rig.clock.Add(3 * time.Minute)
		rr, err = rig.repo.Reencrypt(ctx, snapshot.ReencryptOptions{SealedPrefix: SealedPrefixLen, Retire: true})
		require.NoError(t, err)
		assert.Equal(t, []uint32{0}, rr.Retired)

		// Stopped before the listing: after writing a head the archiver
		// deletes those beyond its newest three, and a head listed, then
		// deleted, would fail its read below.
		a.Close()
		it := b.List(nil)
		for {
			o, err := it.Next(ctx)
			if err != nil {
				break
			}
			if strings.HasPrefix(o.Key, "keys/") || strings.HasPrefix(o.Key, "locks/") {
				continue
			}
			r, err := b.NewRangeReader(ctx, o.Key, 11, 4, nil)
			require.NoError(t, err)
			var e [4]byte
			_, err = io.ReadFull(r, e[:])
			r.Close()
			require.NoError(t, err)
			assert.Equal(t, uint32(1), binary.LittleEndian.Uint32(e[:]), o.Key)
		}
		// A fresh reader with the rotated key restores every instant.
		rig.useBucket(b)
		for _, l := range []wal.LSN{1, 50, 100, 101, last.LSN} {
			rig.check(ctx, AtLSN(l), l)
		}
	})
}
