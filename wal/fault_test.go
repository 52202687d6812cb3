package wal

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/continuity-go/continuity/internal/vfs/errorfs"
)

// TestFailClosed injects a failed sync or a short write with ENOSPC into
// a segment file: the append fails, the log stays poisoned after the
// fault clears, and reopening recovers every acknowledged record.
func TestFailClosed(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind errorfs.OpKind
		err  error
		want error
	}{
		{"fsync EIO", errorfs.OpSync, syscall.EIO, syscall.EIO},
		{"fsync ENOSPC", errorfs.OpSync, syscall.ENOSPC, syscall.ENOSPC},
		{"write EIO", errorfs.OpWrite, syscall.EIO, syscall.EIO},
		{"short write ENOSPC", errorfs.OpWrite, errorfs.Partial(100, syscall.ENOSPC), syscall.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			var armed atomic.Bool
			fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
				if armed.Load() && op.Kind == tc.kind {
					return tc.err
				}
				return nil
			}))
			// Without preallocation no background writes race the fault.
			l, err := Open(memDir, Options{FS: fs, SegmentBytes: 16 << 10, DisablePreallocation: true})
			require.NoError(t, err)
			appendN(t, l, 10)

			armed.Store(true)
			_, _, err = l.Append(t.Context(), payload(11, 300))
			require.ErrorIs(t, err, ErrPoisoned)
			require.ErrorIs(t, err, tc.want)

			armed.Store(false)
			_, _, err = l.Append(t.Context(), payload(11, 300))
			require.ErrorIs(t, err, ErrPoisoned, "a poisoned log must not accept appends until reopened")
			require.ErrorIs(t, l.Write(t.Context(), Record{LSN: 11}), ErrPoisoned)
			require.ErrorIs(t, l.TruncateBack(5), ErrPoisoned)
			assert.Equal(t, LSN(10), l.Last(), "a failed batch must not become visible")
			require.NoError(t, l.Close())

			// Power loss right after: only what was synced remains.
			l, err = Open(memDir, Options{FS: mem.CrashClone(), SegmentBytes: 16 << 10})
			require.NoError(t, err)
			defer l.Close()
			require.GreaterOrEqual(t, l.Last(), LSN(10))
			readAll(t, l, 1)
			appendN(t, l, 1)
		})
	}
}

// TestFaultSweep fails the k-th mutating file-system operation for k = 0,
// 1, 2, … until a workload of appends (with segment rolls, a front and a
// back truncation) completes untouched. Each time: the error reaches the
// caller, nothing fails silently, and after a power loss the log opens
// with every acknowledged record. (The idea of pebble's errorfs tests.)
func TestFaultSweep(t *testing.T) {
	for _, prealloc := range []bool{false, true} {
		t.Run(fmt.Sprintf("prealloc=%v", prealloc), func(t *testing.T) {
			for k := 0; ; k++ {
				if fired := faultRun(t, k, prealloc); !fired {
					t.Logf("workload ran clean after %d injection points", k)
					return
				}
			}
		})
	}
}

func faultRun(t *testing.T, k int, prealloc bool) (fired bool) {
	mem := vfs.NewMem()
	var n atomic.Int64
	var hit atomic.Bool
	fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpCreate, errorfs.OpWrite, errorfs.OpSync, errorfs.OpRename, errorfs.OpSyncDir, errorfs.OpRemove, errorfs.OpTruncate:
			if n.Add(1)-1 == int64(k) {
				hit.Store(true)
				return syscall.EIO
			}
		}
		return nil
	}))
	opts := Options{FS: fs, SegmentBytes: 4 << 10, DisablePreallocation: !prealloc}
	acked := map[LSN][]byte{}
	var last LSN
	var failed error
	l, err := Open(memDir, opts)
	if err != nil {
		require.True(t, hit.Load(), "k=%d: Open failed without an injected fault: %v", k, err)
		failed = err
	} else {
		ctx := context.Background()
		for i := 0; i < 40 && failed == nil; i++ {
			p := payload(LSN(i+1), 50+i*37%400)
			var lsn LSN
			if lsn, _, failed = l.Append(ctx, p); failed == nil {
				acked[lsn] = p
				last = lsn
			}
			switch {
			case failed != nil:
			case i == 25:
				failed = l.TruncateFront(10)
			case i == 33:
				if failed = l.TruncateBack(last - 3); failed == nil {
					for lsn := last - 2; lsn <= last; lsn++ {
						delete(acked, lsn)
					}
					last -= 3
				}
			}
		}
		if failed != nil {
			require.True(t, hit.Load(), "k=%d: operation failed without an injected fault: %v", k, failed)
			require.ErrorIs(t, failed, syscall.EIO, "k=%d: the injected error must reach the caller", k)
			if errors.Is(failed, ErrPoisoned) {
				_, _, err := l.Append(ctx, []byte("after"))
				require.ErrorIs(t, err, ErrPoisoned, "k=%d", k)
			}
		}
		require.NoError(t, l.Close())
	}
	if !hit.Load() {
		return false
	}

	l, err = Open(memDir, Options{FS: mem.CrashClone(), SegmentBytes: 4 << 10})
	require.NoError(t, err, "k=%d: log must open after the fault and a power loss", k)
	defer l.Close()
	r := l.NewReader(l.First())
	defer r.Close()
	for lsn := l.First(); lsn <= l.Last(); lsn++ {
		rec, err := r.Next(context.Background())
		require.NoError(t, err, "k=%d", k)
		if want, ok := acked[lsn]; ok {
			require.Equal(t, want, rec.Data, "k=%d LSN %d", k, lsn)
			delete(acked, lsn)
		}
	}
	for lsn := range acked {
		require.Less(t, lsn, l.First(), "k=%d: acknowledged LSN %d lost (log holds %d..%d)", k, lsn, l.First(), l.Last())
	}
	return true
}
