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
// Not yet built: Append-level durability modes with the strict/degrade
// policy, bootstrapping a standby from the archive, and fencing wired
// into the host's Append (a primary refuses a standby that has seen a
// newer epoch, and drops one that acknowledges one).
//
// # Identity
//
// Every node has a certificate signed by the cluster's CA, naming it with
// a URI SAN continuity://<cluster>/<node>. Both ends of a connection check
// the peer's chain against the CA, that the peer's cluster is theirs, and
// that its node ID is in the allowlist (TLS.AllowedNodes). The handshake
// repeats the cluster and node IDs; a peer whose Hello names another
// identity than its certificate is refused. There is no plaintext mode
// outside tests (Options.InsecurePlaintext, which says what it is).
//
// # Frames
//
// All integers are little-endian. A frame is a 24-byte header and a
// payload of at most MaxFrameBytes:
//
//	+--------+------+----------+-------+----------+---------+
//	| length | type | reserved | epoch | xxhash64 | payload |
//	|   4    |  1   |  3 (0)   |   8   |    8     | length  |
//	+--------+------+----------+-------+----------+---------+
//
// The checksum covers the type, reserved and epoch fields and the payload.
// Every frame carries the sender's epoch, the fencing token: a receiver
// that sees a lower epoch than its own refuses the frame, and one that
// sees a higher epoch learns it was deposed. A frame that is too long,
// fails its checksum or has nonzero reserved bytes is a *FrameError and
// ends the connection; the decoder never allocates more than the length
// bound allows.
//
// The standby speaks first: Hello (protocol version, cluster ID, node ID,
// epoch, last LSN it holds). The primary answers Welcome (version, cluster
// ID, its node ID, epoch) or Reject (a code and a reason), then streams
// Records frames; the standby sends Ack frames (received, flushed and
// applied LSN).
package replication
