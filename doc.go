// Package continuity is an embeddable library for business continuity: a
// host application keeps its state as an event log, and continuity makes
// that log durable, ships it to standbys and to an off-site archive,
// restores the state as it was at any second of the retention window,
// takes deduplicated, compressed, encrypted snapshots, and hands the
// primary role to a healthy standby when the primary dies.
//
// The pieces live in their own packages, usable on their own:
//
//   - wal: the segmented, crash-safe write-ahead log with group commit,
//     tail-following readers and point-in-time lookup.
//   - snapshot: deduplicated, encrypted snapshots (planned).
//   - replication: WAL archive, point-in-time restore, streaming (planned).
//   - failover: Raft-coordinated promotion with fencing epochs (planned).
//
// This root package will hold the Node that wires them together.
package continuity

// Version is the version of the library.
const Version = "0.1.0-dev"
