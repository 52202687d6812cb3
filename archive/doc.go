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
//	wal/head/<seq>                                       the newest archived record
//	wal/pin/<seq>                                        the first record kept
//
// A WAL object is the snapshot package's sealed object (header, a clear
// 120-byte prefix, AES-256-GCM body under a per-object key, the object's
// name in the additional data): the prefix repeats the name's fields plus
// the record count, codec, raw length and the chain before the first
// record and after the last (format.go has the table); the body is lz4
// (kept raw when that does not shrink it) of the records, each as uvarint
// epoch, time delta, kind and length, then the payload. Ciphertext inside
// records (a tenant's sealed events: Options.Opaque) is not compressed:
// it follows the compressed stream as it is, still inside the sealed
// body, in a version 4 object. lz4 spent 25 times the CPU on sealed
// 128-byte events that it spends on random bytes, finding the repeated
// clear headers between them, to save nothing on the ciphertext. Every
// object is written once, with IfNotExist, so nothing overwrites
// history; an upload that
// finds its name taken reads the object and counts it done only if it
// holds exactly its records (an object that does not authenticate is
// replaced; an authentic one of another history never is).
//
// # Integrity of the set of objects
//
// Names are not evidence: anyone who can write to the bucket can create
// any name. Every decision (resume, compaction, retention, the window,
// what restores) rests on objects read and authenticated, and an object
// that does not authenticate is planned around, never trusted. Per-object
// authentication cannot show a deleted object, so the archive also keeps:
//
//   - a chain (chain.go): c(L) = SHA-256(c(L-1), record L), sealed in every
//     object before its first and after its last record, so each object
//     proves it continues the one before (ErrBrokenChain otherwise);
//   - a head, written at most once per ShipInterval (IdleShipInterval if
//     set) and before Flush returns: a deleted newest object shows as a
//     head past the newest object (Window.Cut, a Verify problem), and
//     deleted newest heads as a head older than that (Report.HeadWritten);
//   - a pin, written when an archiver starts an empty archive and by
//     retention before it deletes WAL: a deleted first object shows.
//
// Deleting the heads and the newest objects together leaves a shorter
// archive that proves itself; only an outside record of how far the
// archive reached (Status.HeadLSN kept by the cluster, or object lock)
// shows that.
//
// Shipping: the pending records are uploaded once the oldest is
// ShipInterval/2 old (default interval 1 s), or once MaxObjectBytes are
// pending, so the archive lags a live primary by at most ShipInterval while
// uploads take less than half of it. With IdleShipInterval a quiet log
// (under IdleBytes pending) waits IdleShipInterval/2 instead, which is then
// the bound (Status.Bound): fewer PUTs for a trickle of writes. Uploads run in parallel (Uploads) and
// may land out of order; the archive's contiguous end advances in LSN
// order, and the archiver holds (wal.Log.Hold) every record after it, so
// TruncateFront refuses to drop what is not archived. A bucket that is down
// or slow never blocks Append: uploads retry with backoff, the lag grows
// (Status, a warning every LagWarning), the log keeps the records, and the
// archive catches up at Uploads in parallel when the bucket returns.
//
// The archive is as durable as the store: object stores (S3, GCS, Azure)
// acknowledge a PUT once it is durable, and package localblob, which the
// Node uses for file:// archives, fsyncs each object and its directory
// before a write returns. gocloud's own fileblob does not: do not archive
// to it.
//
// Restart: NewArchiver lists the archive and continues after the run of
// archived records that holds the log's first record; objects that
// overlap after a crash are read once by restore and removed by
// compaction. Compaction merges the objects whose first record falls in
// one closed window (5 min, 1 h by default) into one object, written
// before the pieces are deleted. Compaction costs requests (a GET of each
// piece, a PUT of the merge) and saves them on every later listing,
// restore and verify; the default is within 1% of the fewest requests
// per month at 10 to 10,000 events/s (bench/README.md, the cost suite),
// where Litestream's 30 s, 5 min, 1 h costs up to 23% more.
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
// Restore: what can be restored is computed in one place (window.go): from
// each base snapshot on the timeline, and from the empty state if the
// archive holds LSN 1, the archived records reach forward to the first
// gap; each such stretch is a Range of the Window, with holes (Gaps) where
// no base bridges a gap. RestoreTo checks that the target lies in a range
// and that a base and the records reach it before it touches the state
// machine, then restores the newest base snapshot in that range at or
// before the target (or starts from the empty state) and replays archived
// records up to the target (a time: every record at or before it; or an
// LSN). Targets outside the window give a *WindowError that states the
// ranges; a damaged object found while replaying an *ObjectError naming
// it (the state machine then holds a partial state: discard it). A
// range's last instant is its last record's time: a record appended later
// with the same clock reading is not in it. Verify checks the
// archive at pgBackRest's three levels (consistent, valid, PITR), names
// every problem with what it costs, and reports what still restores;
// ApplyRetention keeps every instant of a window restorable and GFS
// snapshots beyond it (each exact at its LSN, so they need no WAL), and
// deletes the WAL nothing needs; Drill and StartDrills restore a random
// second of the window into a fresh state machine, check it and measure
// the time to restore.
//
// Copies (Options.Copies): further buckets the archiver keeps up with
// the archive. Each object it writes (WAL objects, heads, timelines;
// others' through Wrote) is read back from the archive, authenticated
// and written to each copy as soon as it landed, so a copy lags the
// archive by a GET and a PUT; the whole archive (snapshot.Repo.CopyTo:
// base snapshots, key slots, compacted objects) is copied at start,
// after each base snapshot, after a failure and every Copy.Every. A copy
// reads nothing but the archive, so the log is never held for it; one
// that is down only falls behind (CopyStatus.Lag, the age of the oldest
// record it lacks) and catches up with one whole copy when it is back.
// Nothing is deleted from a copy but what PurgeCopies names (a destroyed
// key's slot): a copy keeps its own retention. A copy keeps the
// archive's master key (its key slots are copied; add slots of its own
// there and remove the others): objects travel byte for byte, each
// authenticated first, so a repeated copy compares names and sizes and
// moves nothing twice, and the copy can be checked against the archive
// object by object. A re-encrypting copy would download, open and reseal
// every object, and could be compared with nothing; the price of the
// shared key is that whoever holds the master key reads both.
//
// # Credentials
//
// Each role needs only some of the store's permissions (S3 actions):
//
//	role                          needs
//	Archiver (ships, compacts)    s3:PutObject, s3:GetObject, s3:ListBucket
//	Restore, Window, Verify       s3:GetObject, s3:ListBucket
//	ApplyRetention, Repo.Prune    the above and s3:DeleteObject
//
// An archiver that may not delete keeps working: the objects it makes
// superfluous itself (old heads, and the pieces compaction merged, which
// the merged object covers) stay, Status.DeletesDeferred counts them, and
// restores read overlapping objects once. ApplyRetention, run with
// credentials that may delete, deletes them (RetentionResult.Superseded,
// OldHeads). The key slots are the snapshot repository's: adding,
// removing or rotating keys needs s3:DeleteObject too.
package archive
