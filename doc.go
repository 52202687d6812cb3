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
//   - snapshot: deduplicated, compressed, encrypted snapshots with
//     retention, prune and verify.
//   - archive: the WAL archive on a snapshot repository, with base
//     snapshots, point-in-time restore, verify, retention and drills.
//   - replication: primary→standby streaming over mutual TLS.
//   - failover: Raft-coordinated promotion with leases and fencing epochs.
//   - peer: node identity and the mutual TLS both of them speak.
//   - tenant: per-tenant keys, sealed events and state, key and forget
//     records; audit: the archive's audit trail.
//
// Imports flow one way: wal and snapshot, then archive, tenant and audit,
// replication, this package, observe; failover beside replication.
//
// The Node wires them together. One applier folds every event into the
// host's StateMachine exactly once, on the primary and on standbys; a
// state machine that also implements Capturer is snapshotted without
// pausing applying:
//
//	n, err := continuity.Open(ctx, continuity.Config{Dir: "/var/lib/app"}, sm) // ctx bounds the opening only
//	_, lsn, err := n.Append(ctx, event)    // durable, then applied to sm
//	for rec, err := range n.Events(ctx, 1) { ... } // projections: any LSN, then the tail
//
// A state machine that implements TenantStateMachine takes tenants'
// events (AppendTenant), each tenant sealed under its own key in every
// copy; RestoreTenant rebuilds one tenant as of a time, and ForgetTenant
// shreds one everywhere.
//
// A single node keeps an encrypted archive in a local directory by
// default; Config.Archive points it at object storage, and
// Config.Cluster makes it one of a replicated cluster with automatic
// fail-over (Append then returns a *NotPrimaryError on standbys).
package continuity

// Version is the version of the library.
const Version = "0.1.0-dev"
