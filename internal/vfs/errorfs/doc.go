// Package errorfs wraps a vfs.FS to inject faults, so that tests can check
// that every IO error reaches the caller and leaves durable state consistent.
//
// Every FS and File call is first described as an Op (its kind, path, and
// for reads, writes and truncates the offset and length) and handed to an
// Injector. A nil answer lets the call through; an error is returned as
// &os.PathError{Op: kind.String(), Path: path, Err: err} without performing
// the call. A *PartialWrite returned for an OpWrite writes a prefix first,
// modelling a short write followed by ENOSPC.
//
// Injectors compose: Nth fails the n-th op of one kind, OnPath fails the ops
// a predicate selects, and Any asks several in turn. A crash test sweeps the
// injection point until the workload succeeds:
//
//	for n := 0; ; n++ {
//		c := errorfs.Nth(errorfs.OpSync, n, syscall.EIO)
//		err := workload(errorfs.Wrap(vfs.NewMem(), c))
//		if !c.Fired() {
//			require.NoError(t, err)
//			break
//		}
//		require.ErrorIs(t, err, syscall.EIO)
//	}
//
// # Concurrency
//
// The wrapper adds no locking of its own: it is as safe for concurrent use
// as the wrapped FS, provided the Injector is too. Nth, OnPath (given a safe
// predicate) and Any of safe injectors are.
package errorfs
