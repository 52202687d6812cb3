// Package replication ships a primary's write-ahead log to standbys.
//
// A Primary serves its wal.Log to Standbys over a framed protocol on TCP
// with TLS 1.3 and mutual authentication. Each standby reads the log at
// its own pace (the WAL is the buffer, so a slow standby never slows
// Append), writes the records to its own WAL with wal.Log.Write (keeping
// LSN, epoch and time), applies them to its StateMachine, and acknowledges
// its received, flushed and applied positions; Primary.WaitFlushed gives
// synchronous replication to K standbys, Standby.WaitFor read-your-writes.
// Idle streams carry heartbeats, so both ends notice a dead or
// black-holed peer within their Timeout and the standby reconnects with
// backoff.
//
// Primary.Append appends and returns per Mode: asynchronous (local
// fdatasync), or synchronous to Sync standbys with PolicyBlock (wait,
// Patroni's strict mode) or PolicyDegrade (return after the local write
// when too few standbys are connected, logged and reported by Degraded).
// A primary that a peer shows a newer epoch is deposed: Append refuses
// with ErrDeposed (fencing). Needed is the first LSN a known standby still
// needs, which the host must not TruncateFront past.
//
// Not yet built: bootstrapping a standby from the archive (a standby whose
// position the primary's WAL no longer holds is refused with the reason).
package replication
