// Package archive is the WAL archive: it ships a log's records, and base
// snapshots of the state, to an object store, and restores the state as
// it was at any instant the archive covers (point-in-time restore).
//
// It talks to storage through Store, which a snapshot repository
// (*snapshot.Repo) satisfies: one repository and one set of key slots hold
// the base snapshots and the WAL objects. Besides the Archiver, the
// package has RestoreTo and Restorable (what can be restored), Read and
// ReadBatches (archived records without a snapshot), PlanCatchUp (how a
// standby that fell behind catches up), Verify, ApplyRetention and
// restore drills (Drill, StartDrills).
//
// An Archiver follows a log and ships its records into the bucket of a
// snapshot repository (snapshot.Repo), sealed under the repository's keys,
// so one repository and one set of key slots hold base snapshots and WAL:
//
//	repo, _ := snapshot.Open(ctx, bucket, keys, snapshot.Options{})
//	a, _ := archive.NewArchiver(log, repo, archive.Options{
//		Capture:       captureState, // base snapshots: the state and its LSN
//		SnapshotEvery: time.Hour,
//	})
//	...
//	w, _ := archive.Restorable(ctx, repo)               // what can be restored
//	res, _ := archive.RestoreTo(ctx, repo, archive.AtTime(t), freshSM, archive.RestoreOptions{})
//
// Objects, under wal/ in the bucket (all names fixed-width hex, so they
// sort by epoch, then LSN):
//
//	wal/<epoch>/timeline                                 the epoch's history
//	wal/<epoch>/<first LSN>-<last LSN>-<first time>-<last time>   records
//
// A WAL object is the snapshot package's sealed object (header, a clear
// 56-byte prefix, AES-256-GCM body under a per-object key, the object's
// name in the additional data): the prefix repeats the name's fields plus
// the record count, codec and raw length; the body is lz4 (kept raw when
// that does not shrink it) of the records, each as uvarint epoch, time
// delta and length, then the payload. Every object is written once, with
// IfNotExist, so nothing overwrites history; a name fixes an object's
// records, so an upload retried after it landed finds it there and is done.
//
// Shipping: the pending records are uploaded once the oldest is
// ShipInterval/2 old (default interval 1 s), or once MaxObjectBytes are
// pending, so the archive lags a live primary by at most ShipInterval while
// uploads take less than half of it. Uploads run in parallel (Uploads) and
// may land out of order; the archive's contiguous end advances in LSN
// order, and the archiver holds (wal.Log.Hold) every record after it, so
// TruncateFront refuses to drop what is not archived. A bucket that is down
// or slow never blocks Append: uploads retry with backoff, the lag grows
// (Status, a warning every LagWarning), the log keeps the records, and the
// archive catches up at Uploads in parallel when the bucket returns.
//
// The archive is as durable as the store: gocloud's file:// driver renames
// objects into place without an fsync, so on file:// a power loss can take
// the newest objects after the log released them; object stores (S3, GCS,
// Azure) acknowledge a PUT once it is durable.
//
// Restart: NewArchiver lists the archive and continues after the run of
// archived records that holds the log's first record; objects that
// overlap after a crash are read once by restore and removed by
// compaction. Compaction merges the objects whose first record falls in
// one closed window (30 s, 5 min, 1 h by default: Litestream's levels) into
// one object, written before the pieces are deleted.
//
// Timelines (PostgreSQL's): the epoch in an object's name is that of the
// primary that archived it. When a log's epoch rises (a standby promoted),
// its archiver writes wal/<epoch>/timeline before any object of the epoch:
// the history of epochs and the LSN after which each began. Restore
// follows the newest timeline: an ancestor epoch's objects supply records
// only up to where its successor forked, so a deposed primary's divergent
// tail is never replayed; an object of an epoch newer than the newest
// timeline is an error (ErrOffTimeline). An archiver that finds a newer
// timeline stops with ErrDeposed.
//
// Restore: RestoreTo takes the newest base snapshot at or before the
// target (a snapshot whose manifest LSN and epoch lie on the timeline,
// taken at a time at or before the target), or the empty state if the
// archive holds every record from LSN 1, and replays archived records up to
// the target (a time: every record at or before it; or an LSN). Targets
// outside the window give a *WindowError that states the window; a missing
// or damaged object an *ObjectError naming it. Verify checks the
// archive at pgBackRest's three levels (consistent, valid, PITR);
// ApplyRetention keeps every instant of a window restorable and GFS
// snapshots beyond it (each exact at its LSN, so they need no WAL), and
// deletes the WAL nothing needs; Drill and StartDrills restore a random
// second of the window into a fresh state machine, check it and measure
// the time to restore.
package archive
