// Package replication ships a primary's write-ahead log to standbys: the
// stream. The off-site archive and point-in-time restore are package
// archive; a standby that fell behind what the primary holds catches up
// from it (StandbyOptions.Archive).
//
// # Streaming to standbys
//
// A Primary serves its wal.Log to Standbys over a framed protocol on TCP
// with TLS 1.3 and mutual authentication. Each standby reads the log at
// its own pace (the WAL is the buffer, so a slow standby never slows
// Append), writes the records to its own WAL (keeping LSN, epoch and
// time), applies them to its state machine (archive.StateMachine), and
// acknowledges its received, flushed and applied positions; Primary.WaitFlushed gives synchronous
// replication to K standbys, Standby.WaitFor read-your-writes. Idle
// streams carry heartbeats, so both ends notice a dead or black-holed peer
// within their Timeout and the standby reconnects with backoff.
//
// The primary ships each batch as soon as it is written, while it syncs it
// (wal.Log.NewUnsyncedReader), so that a synchronous standby's fdatasync
// runs beside the primary's instead of after it, as Raft's leaders do.
// Every Records frame carries the primary's durable LSN (Batch.Committed),
// and a standby applies records only up to it: a record past it is lost if
// the primary's machine crashes before its sync completes, and the
// primary never acknowledged it (an Append returns only after the local
// sync). If that primary restarts and writes other records at those LSNs,
// the standby's Hello (its last LSN and RecordSum) no longer matches and
// is refused with RejectDiverged; the standby cuts the records it has not
// applied (wal.Log.CutTail) and follows the new history.
//
// A standby applies nothing past StandbyOptions.Applied until a primary
// has accepted its Hello (StandbyState.Confirmed) and committed the
// records: a restarted deposed primary's log may hold records its
// cluster's history cut. With PrimaryOptions.HoldCommit the primary
// commits only what its host says (Primary.Commit: in sync mode, what
// the cluster acknowledged), not every record durable on it. When a standby's state already applied records
// the primary does not hold, no cut can undo them: a state machine that
// implements Discarder discards its state, and the standby asks the
// primary for its state (Hello.Want, a state transfer as Raft's
// InstallSnapshot). The primary captures it (PrimaryOptions.Capture),
// sends it in State frames ended by its LSN, size and SHA-256, and streams
// the records after it on the same connection; the standby spools the
// bytes to a file, checks size and hash, and only then restores them,
// empties its WAL (which restarts after the state's LSN) and rebases.
//
// A standby syncs a frame at once only when a synchronous Append waits on
// it (the primary marks it FlagSync); otherwise it writes it with
// wal.Log.WriteNoSync and syncs every StandbyOptions.FlushDelay (2 ms),
// one fdatasync for all the frames of the interval, and acknowledges
// then. An asynchronous standby so costs a disk it shares with the primary
// a few hundred syncs a second instead of one per commit, and its lag
// grows by up to FlushDelay. Records count as flushed, and are applied,
// only once synced.
//
// Primary.Append appends and returns per Mode: asynchronous (local
// fdatasync), or synchronous to Sync standbys with PolicyBlock (wait,
// Patroni's strict mode) or PolicyDegrade (return after the local write
// when too few standbys are connected, Patroni's non-strict mode: each
// change is logged, Degraded is the gauge and DegradedAppends the counter
// of such writes, for the host's metrics).
// A primary that a peer shows a newer epoch is deposed: Append refuses
// with ErrDeposed (fencing). Needed is the first LSN a known standby still
// needs, which the host must not TruncateFront past. A standby whose next
// record the primary no longer holds is refused with RejectBehind; with
// StandbyOptions.Archive it catches up from the archive and streams again.
//
// The frame and message codecs are internal (internal/wire); what a host
// uses is Primary, Standby, their options and statuses, and the errors.
package replication
