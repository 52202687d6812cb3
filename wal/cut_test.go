package wal

import (
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCutTail: the records after the cut reach save, in order, before
// the log is cut; a save that fails leaves the log whole; a cut before
// the log's first record or at its end cuts nothing.
func TestCutTail(t *testing.T) {
	ctx := t.Context()
	l := openT(t, t.TempDir(), Options{SegmentBytes: 4 << 10})
	// A log that starts at LSN 11, as a standby's restored after a base
	// snapshot does.
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 11; i <= 50; i++ {
		require.NoError(t, l.Write(ctx, Record{LSN: LSN(i), Epoch: 1, Time: t0, Data: fmt.Appendf(nil, "event %d", i)}))
	}
	const first = LSN(11)
	require.Equal(t, first, l.First())

	for _, tc := range []struct {
		name    string
		lsn     LSN
		wantErr error
	}{
		{"before the first record", first - 2, ErrOutOfRange},
		{"at the end", 50, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := l.CutTail(ctx, tc.lsn, func(iter.Seq2[Record, error]) error { require.Fail(t, "save called"); return nil })
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
			} else {
				assert.NoError(t, err)
			}
			assert.Zero(t, n)
			assert.Equal(t, LSN(50), l.Last())
		})
	}

	t.Run("save fails", func(t *testing.T) {
		boom := errors.New("disk full")
		_, err := l.CutTail(ctx, 40, func(tail iter.Seq2[Record, error]) error {
			for r, err := range tail {
				if err != nil {
					return err
				}
				if r.LSN == 45 {
					return boom
				}
			}
			return nil
		})
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, LSN(50), l.Last(), "nothing is cut when save fails")
	})

	t.Run("cut with save", func(t *testing.T) {
		var saved []string
		n, err := l.CutTail(ctx, 40, func(tail iter.Seq2[Record, error]) error {
			for r, err := range tail {
				if err != nil {
					return err
				}
				saved = append(saved, fmt.Sprintf("%d:%s", r.LSN, r.Data))
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, 10, n)
		assert.Equal(t, LSN(40), l.Last())
		require.Len(t, saved, 10)
		assert.Equal(t, "41:event 41", saved[0])
		assert.Equal(t, "50:event 50", saved[9])
	})

	t.Run("empty the log", func(t *testing.T) {
		n, err := l.CutTail(ctx, l.First()-1, nil)
		require.NoError(t, err)
		assert.Equal(t, int(40-(first-1)), n)
		assert.Less(t, l.Last(), l.First(), "empty")
	})
}
