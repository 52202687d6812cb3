// Package watermark broadcasts change to the goroutines that wait for it,
// in place of the hand-made "close a channel and replace it" pattern.
//
// A Mark is a position, such as the last LSN applied or flushed, that
// goroutines wait to reach:
//
//	var applied watermark.Mark[wal.LSN]
//
//	// writer
//	applied.Advance(lsn)
//
//	// reader (read-your-writes)
//	if err := applied.Wait(ctx, lsn); err != nil {
//		return err // ctx ended first
//	}
//
// A Signal is a broadcast without a position: "something changed,
// re-check", for conditions a single number does not capture (k standbys
// of n have flushed, a status flag flipped).
//
// # Waiting on several things
//
// Changed returns a channel closed at the next change, to use in a select
// beside other channels (a component's closing, a failure). Take the
// channel before reading the state it guards, or a change between the two
// is missed:
//
//	for {
//		ch := m.Changed()
//		if m.Load() >= want {
//			return nil
//		}
//		select {
//		case <-ch:
//		case <-failed:
//			return errFailed
//		case <-ctx.Done():
//			return ctx.Err()
//		}
//	}
//
// When a Signal guards state under the caller's own mutex, call Broadcast
// and Changed under that mutex: then the channel and the state read with
// it are consistent.
//
// # Cost and concurrency
//
// Every change wakes every waiter, which re-checks its condition: this
// suits a few waiters per change, not thousands (unlike etcd's
// pkg/wait.WaitTime, which wakes only the waiters a position reaches).
// A channel is allocated only when some goroutine asks for one, so
// changes nobody waits for cost a mutex and a comparison.
//
// All methods are safe for concurrent use, and the zero values are ready
// to use. Neither type may be copied after first use. Each holds a mutex
// of its own that it never holds while calling out, so callers may call
// them with their own locks held.
package watermark
