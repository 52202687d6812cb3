// Package wal is a segmented, append-only write-ahead log of events, built
// to lose nothing it acknowledged.
//
// A Log lives in one directory as a sequence of segment files named by the
// LSN of their first record (%016x.wal, so name order is LSN order). Each
// record carries an LSN (contiguous from 1), the epoch of the primary that
// appended it (a fencing token for fail-over), the primary's wall-clock
// time (never decreasing along the log) and a payload.
//
//	log, err := wal.Open(dir, wal.Options{})
//	first, last, err := log.Append(ctx, event1, event2) // durable when it returns
//	r := log.NewReader(1)
//	rec, err := r.Next(ctx) // blocks at the tail until a record arrives
//	lsn, err := log.LSNAt(t) // last record at or before t
//
// # Format
//
// A segment starts with a 64-byte header (magic "\x89CWAL\r\n\x1a", format
// version, first LSN, epoch, a random salt, the time floor, checksum),
// followed by frames aligned to 8 bytes:
//
//	+----------+--------+-------+-----+-------+------+-----------+---------+-----+
//	| xxhash64 | length | flags | LSN | epoch | time | committed | payload | pad |
//	|    8     |   4    |   4   |  8  |   8   |  8   |     8     | length  | 0-7 |
//	+----------+--------+-------+-----+-------+------+-----------+---------+-----+
//
// The checksum is seeded with the segment's salt and covers every field
// after it and the payload. All integers are little-endian. The low byte
// of "flags" is the record's Kind (0 for Append's events); the other bits
// are reserved and must be 0. "committed" is
// the highest LSN that was durable when the frame was written. Segments
// are preallocated with zeros (Options.DisablePreallocation), so the end
// of a segment's records is the first all-zero frame header, or reuse a
// file TruncateFront released (recycle.go): then the header (version 2)
// names the salt of the frames left in it, and the end is where this
// segment's frames stop and those earlier bytes begin.
//
// # Durability and group commit
//
// Appends from concurrent goroutines are queued. The first caller to find
// no batch in progress becomes the leader: it takes everything queued (up
// to Options.MaxBatchBytes), writes it with one write, hands leadership to
// the next queued caller, makes its batch durable with one fdatasync and
// wakes the callers in it. Syncs never overlap and complete in LSN order.
// A lone writer does its own write and sync, with no hand-off to another
// goroutine. Under the default Durability, SyncBatch, Append returns only
// after the sync, and the next leader waits for that sync and then yields
// to the callers it woke before taking its batch, so that callers
// appending in a loop share one batch per sync instead of splitting into
// two (see lead). SyncInterval and NoSync trade that guarantee for speed.
//
// A failed write or sync (EIO, ENOSPC) fails the batch and poisons the Log:
// every later Append fails with ErrPoisoned until the log is reopened,
// because after a failed fsync the kernel may have dropped the dirty
// pages, and a later sync could "succeed" without them. Reopening reads
// back what is really on disk.
//
// # Recovery
//
// Open verifies every frame of every segment. The only damage it repairs
// is a torn tail: undecodable bytes at the end of the last segment left by
// a write that a crash interrupted. They are zeroed and synced, and a
// warning says where and how many bytes were cut. What tells a torn write
// from damage to acknowledged data is the committed field: if any intact
// frame after the damage says that the damaged record was already durable
// when it was written, the damage is a *CorruptionError, as is any damage
// in a sealed segment, a missing segment or a bad header. The log then
// does not open; restore it from a replica or an archive.
//
// Segments are created as temporary files, filled, synced, renamed into
// place and the directory synced; removals are followed by a directory
// sync. In a recycled file, recovery tells the earlier segment's bytes
// from a torn write exactly (recycle.go): they end the segment cleanly,
// with no warning and no rewrite.
//
// # Readers and time
//
// A Reader returns records from any retained LSN and, at the end of the
// log, waits for more (or for its context). Readers see a record once it
// is durable (under SyncBatch) and never block the writer: they read the
// segment files through their own handles, up to the last visible offset.
// A reader from NewUnsyncedReader sees each batch as soon as it is
// written, while it syncs (Progress tells its waiters of new records): a
// primary ships records this way, so that its standbys' syncs overlap its
// own. A sparse in-memory index (one entry per 16 KiB of frames, built on Open
// and while writing) lets readers and LSNAt seek within a segment; LSNAt
// finds the last record at or before a time by binary search over
// segments and the index, then reads at most one index interval.
//
// # Standby and fail-over
//
// Write appends records that already carry LSN, epoch and time (a
// standby's path); a gap, an older epoch or an earlier time is a
// *SequenceError. WriteNoSync does the same without waiting for a sync,
// and Sync and Synced make and report durability on the caller's
// schedule (an asynchronous standby syncs once per interval, not per
// frame). TruncateBack drops a divergent tail after a fail-over;
// TruncateFront drops whole old segments for retention, keeping up to two
// of their files to be reused as new segments, so that a log in steady
// state writes no zero-fill.
//
// # Concurrency
//
// Every method of Log is safe for concurrent use. A Reader is for one
// goroutine. Close waits for every goroutine the Log started.
package wal
