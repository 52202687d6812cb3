package wal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
)

func TestStandbyWrite(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rec := func(lsn LSN, epoch uint64, sec int) Record {
		return Record{LSN: lsn, Epoch: epoch, Time: t0.Add(time.Duration(sec) * time.Second), Data: payload(lsn, 40)}
	}
	l := openT(t, t.TempDir(), Options{SegmentBytes: 4 << 10})

	// An empty log accepts any starting LSN: a standby restored from a
	// snapshot at LSN 1000 continues from 1001.
	require.NoError(t, l.Write(t.Context(), rec(1001, 2, 1), rec(1002, 2, 1), rec(1003, 3, 2)))
	assert.Equal(t, LSN(1001), l.First())
	assert.Equal(t, LSN(1003), l.Last())
	assert.Equal(t, uint64(3), l.Epoch(), "the log adopts the epoch it replicates")

	for _, tc := range []struct {
		name string
		recs []Record
		want error
	}{
		{"gap", []Record{rec(1005, 3, 3)}, ErrGap},
		{"repeat", []Record{rec(1003, 3, 3)}, ErrGap},
		{"stale epoch", []Record{rec(1004, 2, 3)}, ErrStaleEpoch},
		{"time regression", []Record{rec(1004, 3, 1)}, ErrTimeRegression},
		{"gap inside the call", []Record{rec(1004, 3, 3), rec(1006, 3, 3)}, ErrGap},
		{"epoch regression inside the call", []Record{rec(1004, 4, 3), rec(1005, 3, 3)}, ErrStaleEpoch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := l.Write(t.Context(), tc.recs...)
			var se *SequenceError
			require.ErrorAs(t, err, &se)
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, LSN(1003), l.Last(), "nothing of a rejected call is written")
		})
	}

	require.NoError(t, l.Write(t.Context(), rec(1004, 3, 3)))
	r := l.NewReader(1001)
	defer r.Close()
	for lsn := LSN(1001); lsn <= 1004; lsn++ {
		got, err := r.Next(t.Context())
		require.NoError(t, err)
		want := rec(lsn, map[bool]uint64{true: 2, false: 3}[lsn < 1003], map[LSN]int{1001: 1, 1002: 1, 1003: 2, 1004: 3}[lsn])
		assert.Equal(t, want.LSN, got.LSN)
		assert.Equal(t, want.Epoch, got.Epoch)
		assert.True(t, want.Time.Equal(got.Time))
		assert.Equal(t, want.Data, got.Data)
	}

	// A promoted standby appends with a new epoch; times never go back.
	require.ErrorIs(t, l.SetEpoch(2), ErrStaleEpoch)
	require.NoError(t, l.SetEpoch(5))
	first, _, err := l.Append(t.Context(), []byte("as primary"))
	require.NoError(t, err)
	assert.Equal(t, LSN(1005), first)
	got, err := r.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, uint64(5), got.Epoch)
	assert.False(t, got.Time.Before(t0.Add(3*time.Second)))
}

func TestTruncateBack(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{FS: fs, SegmentBytes: 4 << 10}
	l, err := Open(memDir, opts)
	require.NoError(t, err)
	appendN(t, l, 80)
	segsBefore := l.Stats().Segments

	r := l.NewReader(1)
	defer r.Close()
	for range 70 {
		_, err := r.Next(t.Context())
		require.NoError(t, err)
	}
	early := l.NewReader(30)
	defer early.Close()

	require.ErrorIs(t, l.TruncateBack(81), ErrOutOfRange)
	require.NoError(t, l.TruncateBack(42))
	assert.Equal(t, LSN(42), l.Last())
	assert.Less(t, l.Stats().Segments, segsBefore)

	_, err = r.Next(t.Context())
	require.ErrorIs(t, err, ErrTruncated, "a reader past the new end must not continue silently")
	readAll(t, l, 1)
	for lsn := LSN(30); lsn <= 42; lsn++ {
		rec, err := early.Next(t.Context())
		require.NoError(t, err)
		require.Equal(t, lsn, rec.LSN)
	}

	// The divergent tail is replaced by new history.
	for lsn := LSN(43); lsn <= 50; lsn++ {
		_, last, err := l.Append(t.Context(), payload(lsn, sizeFor(lsn)))
		require.NoError(t, err)
		require.Equal(t, lsn, last)
	}
	rec, err := early.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, payload(43, sizeFor(43)), rec.Data)
	require.NoError(t, l.Close())

	for _, fsys := range []*vfs.MemFS{fs, fs.CrashClone()} {
		l, err = Open(memDir, Options{FS: fsys, SegmentBytes: 4 << 10})
		require.NoError(t, err)
		assert.Equal(t, LSN(50), l.Last())
		readAll(t, l, 1)
		require.NoError(t, l.Close())
	}

	// Truncating to First()-1 empties the log; it stays empty on reopen.
	l, err = Open(memDir, opts)
	require.NoError(t, err)
	require.NoError(t, l.TruncateBack(0))
	assert.Equal(t, LSN(0), l.Last())
	assert.Equal(t, LSN(1), l.First())
	require.NoError(t, l.Close())
	l, err = Open(memDir, opts)
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, LSN(0), l.Last())
	appendN(t, l, 3)
	readAll(t, l, 1)
}

func TestTruncateFront(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{FS: fs, SegmentBytes: 4 << 10}
	l, err := Open(memDir, opts)
	require.NoError(t, err)
	appendN(t, l, 80)
	old := l.NewReader(1)
	defer old.Close()
	_, err = old.Next(t.Context())
	require.NoError(t, err)

	require.ErrorIs(t, l.TruncateFront(82), ErrOutOfRange)
	require.NoError(t, l.TruncateFront(50))
	first := l.First()
	assert.LessOrEqual(t, first, LSN(50))
	assert.Greater(t, first, LSN(1))
	readAll(t, l, 50)
	readAll(t, l, first)

	_, err = l.NewReader(first - 1).Next(t.Context())
	require.ErrorIs(t, err, ErrTruncated)
	_, err = l.LSNAt(time.Unix(0, 0))
	require.ErrorIs(t, err, ErrNotFound)

	// Everything up to the last segment can go; the last segment stays.
	require.NoError(t, l.TruncateFront(81))
	assert.Equal(t, LSN(80), l.Last())
	require.NoError(t, l.Close())
	l, err = Open(memDir, opts)
	require.NoError(t, err)
	defer l.Close()
	assert.LessOrEqual(t, l.First(), LSN(81))
	assert.Equal(t, LSN(80), l.Last())
	appendN(t, l, 2)
	readAll(t, l, l.First())
}

func TestAppendCancelledBeforeBatch(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := l.Append(ctx, []byte("x"))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, LSN(0), l.Last(), "a cancelled append writes nothing")
}

func TestRecordTooLarge(t *testing.T) {
	l := openT(t, t.TempDir(), Options{MaxRecordBytes: 100})
	_, _, err := l.Append(t.Context(), make([]byte, 101))
	require.ErrorIs(t, err, ErrRecordTooLarge)
	require.ErrorIs(t, l.Write(t.Context(), Record{LSN: 1, Data: make([]byte, 101)}), ErrRecordTooLarge)
	_, _, err = l.Append(t.Context(), make([]byte, 100))
	require.NoError(t, err, "a too-large record must not poison the log")
}

func TestLargeRecordGetsOwnSegment(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 8 << 10}
	l := openT(t, dir, opts)
	big := payload(2, 100<<10)
	_, _, err := l.Append(t.Context(), []byte("small"), big, []byte("after"))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	l = openT(t, dir, opts)
	r := l.NewReader(1)
	defer r.Close()
	for _, want := range [][]byte{[]byte("small"), big, []byte("after")} {
		rec, err := r.Next(t.Context())
		require.NoError(t, err)
		require.Equal(t, want, rec.Data)
	}
}

func TestCloseUnblocksEverything(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	appendN(t, l, 3)
	r := l.NewReader(4)
	errc := make(chan error, 1)
	go func() {
		// The appenders below may write LSN 4 and on before Close: read
		// until the reader blocks at the end and Close wakes it.
		for {
			if _, err := r.Next(context.Background()); err != nil {
				errc <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				if _, _, err := l.Append(context.Background(), []byte("x")); err != nil {
					assert.ErrorIs(t, err, ErrClosed)
					return
				}
			}
		})
	}
	require.NoError(t, l.Close())
	wg.Wait()
	require.ErrorIs(t, <-errc, ErrClosed)
	require.NoError(t, r.Close())
	_, _, err = l.Append(t.Context(), []byte("x"))
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, l.TruncateBack(1), ErrClosed)
	require.ErrorIs(t, l.TruncateFront(1), ErrClosed)
	_, err = l.LSNAt(time.Now())
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, l.Close(), "Close twice")
}

func TestDurabilityModes(t *testing.T) {
	for _, d := range []Durability{SyncBatch, SyncInterval, NoSync} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Durability: d, SyncInterval: time.Millisecond, SegmentBytes: 4 << 10}
			l := openT(t, dir, opts)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for range 50 {
						_, _, err := l.Append(t.Context(), []byte("event"))
						assert.NoError(t, err)
					}
				})
			}
			wg.Wait()
			st := l.Stats()
			if d == SyncBatch {
				assert.Positive(t, st.Syncs)
			}
			require.NoError(t, l.Close())
			l = openT(t, dir, opts)
			assert.Equal(t, LSN(200), l.Last())
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	err := Options{SegmentBytes: 100, MaxRecordBytes: -1, Durability: 7, SyncInterval: -1}.Validate()
	require.Error(t, err)
	for _, field := range []string{"SegmentBytes", "MaxRecordBytes", "Durability", "SyncInterval"} {
		assert.Contains(t, err.Error(), field)
	}
	require.NoError(t, Options{}.Validate())
	_, err = Open(t.TempDir(), Options{SegmentBytes: 1})
	require.Error(t, err)
}

// TestAppendCancellation cancels appends at random moments while many are
// queued: an Append that returns the context's error wrote nothing, one
// that returns nil is in the log, and leadership handed to a cancelled
// Append is passed on (nothing hangs).
func TestAppendCancellation(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 64 << 10})
	var (
		mu        sync.Mutex
		acked     = map[string]bool{}
		withdrawn = map[string]bool{}
		wg        sync.WaitGroup
	)
	for w := range 16 {
		wg.Go(func() {
			for i := range 100 {
				p := fmt.Appendf(nil, "w%d-%d", w, i)
				ctx, cancel := context.WithCancel(t.Context())
				if i%3 != 0 {
					time.AfterFunc(time.Duration(i%7)*20*time.Microsecond, cancel)
				}
				_, _, err := l.Append(ctx, p)
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					acked[string(p)] = true
				case errors.Is(err, context.Canceled):
					withdrawn[string(p)] = true
				default:
					assert.Failf(t, "append failed", "neither done nor cancelled: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r := l.NewReader(1)
	defer r.Close()
	for lsn := LSN(1); lsn <= l.Last(); lsn++ {
		rec, err := r.Next(t.Context())
		require.NoError(t, err)
		require.False(t, withdrawn[string(rec.Data)], "%s was written although its Append was cancelled", rec.Data)
		delete(acked, string(rec.Data))
	}
	require.Empty(t, acked, "acknowledged appends missing")
	t.Logf("%d withdrawn, %d written", len(withdrawn), l.Last())
}
