package wal

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendReadReopen(t *testing.T) {
	for _, prealloc := range []bool{true, false} {
		t.Run(map[bool]string{true: "prealloc", false: "append"}[prealloc], func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentBytes: 8 << 10, DisablePreallocation: !prealloc}
			l := openT(t, dir, opts)
			assert.Equal(t, LSN(1), l.First())
			assert.Equal(t, LSN(0), l.Last())
			appendN(t, l, 300)
			readAll(t, l, 1)
			readAll(t, l, 123)
			assert.Greater(t, l.Stats().Segments, 5)
			require.NoError(t, l.Close())
			require.NoError(t, l.Close())

			l = openT(t, dir, opts)
			assert.Equal(t, LSN(300), l.Last())
			readAll(t, l, 1)
			appendN(t, l, 10)
			readAll(t, l, 250)
		})
	}
}

func TestConcurrentAppendGroupCommit(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 64 << 10})
	const writers, each = 16, 50
	var wg sync.WaitGroup
	got := make(chan LSN, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				first, last, err := l.Append(t.Context(), []byte("a"), []byte("bb"))
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, first+1, last)
				got <- first
			}
		})
	}
	wg.Wait()
	close(got)
	seen := map[LSN]bool{}
	for lsn := range got {
		assert.False(t, seen[lsn])
		seen[lsn] = true
	}
	assert.Equal(t, LSN(2*writers*each), l.Last())
	st := l.Stats()
	assert.Equal(t, uint64(2*writers*each), st.Records)
	assert.Less(t, st.Batches, uint64(writers*each), "appends were not batched")
}

func TestReaderFollowsTail(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 4 << 10})
	r := l.NewReader(1)
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		for lsn := LSN(1); lsn <= 200; lsn++ {
			rec, err := r.Next(t.Context())
			if err != nil {
				done <- err
				return
			}
			if rec.LSN != lsn || string(rec.Data) != string(payload(lsn, sizeFor(lsn))) {
				done <- assert.AnError
				return
			}
		}
		done <- nil
	}()
	appendN(t, l, 200)
	require.NoError(t, <-done)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := r.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestLSNAt(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	dir := t.TempDir()
	opts := Options{SegmentBytes: 4 << 10, Now: clock}
	l := openT(t, dir, opts)
	// One record per second; the clock steps back once at LSN 50.
	for i := 1; i <= 120; i++ {
		ts := base.Add(time.Duration(i) * time.Second)
		if i == 50 {
			ts = base // clock stepped back: the record keeps the previous time
		}
		set(ts)
		_, _, err := l.Append(t.Context(), payload(LSN(i), sizeFor(LSN(i))))
		require.NoError(t, err)
	}
	check := func(l *Log) {
		_, err := l.LSNAt(base)
		require.ErrorIs(t, err, ErrNotFound)
		for i := 1; i <= 120; i++ {
			lsn, err := l.LSNAt(base.Add(time.Duration(i)*time.Second + time.Millisecond))
			require.NoError(t, err)
			want := LSN(i)
			if i == 49 {
				want = 50 // LSN 50 carries LSN 49's time
			}
			assert.Equal(t, want, lsn, "second %d", i)
		}
		lsn, err := l.LSNAt(base.Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, LSN(120), lsn)
	}
	check(l)
	recs := readAll(t, l, 49)
	assert.Equal(t, recs[0].Time, recs[1].Time, "time went backwards")
	require.NoError(t, l.Close())
	check(openT(t, dir, opts))
}
