// Package failover coordinates which node of a cluster is the primary:
// an embedded Raft group (hashicorp/raft, raft-boltdb, a file snapshot
// store) over the cluster's mutual TLS, with no external coordinator.
//
// Each node runs a Coordinator. Its Raft state machine holds the cluster
// State: the members and their addresses, the primary, the epoch (the
// fencing token, raised by every promotion), each node's reported
// position and health, the highest LSN the primary acknowledged, and the
// timeline of promotions (epoch → fork LSN). Commands reach the Raft
// leader from any node over the same port: a connection's first byte
// tells a forwarded command from Raft's own traffic.
//
// # Leases and fencing
//
// The primary renews its lease through Raft every Profile.Renew. It may
// write (Coordinator.CanWrite) until Lease − Margin after it *sent* the
// last renewal that committed, on its own monotonic clock. The leader
// counts the same lease from when it *applied* that renewal (later), or
// from when it became leader if it did not see one, also on its
// monotonic clock; only after Lease has passed there does it promote. So
// the old primary has stopped before a new one can start, whatever the
// wall clocks say; the margin covers clock rate drift (up to Margin/Lease:
// 20% with the LAN profile) and scheduling. A primary that cannot renew
// (partitioned, paused, its Raft leader gone) stops when its lease runs
// out; one whose host reports a failed disk resigns at once; one that
// learns of a newer epoch stops at once.
//
// # Promotion
//
// When the primary's lease has expired, or there is none, the Raft leader
// promotes the member with the highest flushed LSN among those with a
// fresh, healthy report: never one more than Config.MaxLag records behind
// the most advanced node, and in Config.SyncMode only one that holds
// every acknowledged write (without such a node the cluster refuses
// writes rather than lose one). A leader elected moments ago has heard
// from few nodes (reports stop during an election): while a node that
// was more advanced has not reported yet, it waits for it, at most one
// staleness period (5 × Renew), rather than promote one with fewer
// records. Promotion is a compare-and-set on the
// epoch, so of two racing promotions one wins. The promoted node renews
// at once and its host learns through Config.OnRole (RoleChange: role,
// epoch, primary, its replication address, fork LSN).
//
// # Planned and manual changes
//
// Switchover hands the role to a named standby without loss: writes
// stop, the target catches up to the primary's last LSN, and it is
// promoted at that LSN. Join and Remove change the membership at run
// time (voters, or non-voters that follow and may be promoted).
// ForceRecover is the guarded, loudly logged override for a cluster that
// has lost its quorum for good. Rejoin prepares a deposed primary's log:
// its divergent tail (after State.RejoinPoint) goes to a synced
// quarantine file, then wal.Log.TruncateBack cuts it, and the node
// streams as a standby.
//
// # Maintenance pause
//
// Pause stops automatic promotion cluster-wide (Patroni's pause,
// pg_auto_failover's maintenance) for an upgrade or a move: until Resume,
// or until a TTL runs out. It is a State field set through Raft, so
// every node, restarted or not, sees it. While it holds, the leader
// promotes no one on its own (the promotion command without Force is
// refused even if the leader decided before the pause committed); the
// primary keeps its lease and writes; Switchover still works. The end
// of a TTL is stamped by the leader from its wall clock when it applies
// the pause (State.PausedUntil), and the leader of the moment lifts it
// once its own clock passes it: a leader elected later treats an expired
// pause as over. Pause only once every node runs a build that knows
// it: an older one refuses the command (an unknown op), holds no pause,
// and as leader promotes as before.
//
// # Restarts and the archive
//
// A coordinator that restarts holds the State of its last Raft snapshot,
// which may name it primary of an epoch long gone. It tells its host no
// role until Synced: a sync command it proposed through the leader has
// been applied locally, so its State is at least as new as the leader's
// was. Bootstrap on a node that already has Raft state is ignored
// (Bootstrapped says which). The State records the cluster's one archive
// (ArchiveID), set once by the first primary (SetArchive); another
// repository is refused with ErrArchiveMismatch.
//
// # Profiles
//
// LAN (default): Raft heartbeat and election 150 ms, leader lease 100
// ms; primary lease 500 ms, renewed every 100 ms, margin 100 ms. WAN:
// 1 s, 1 s, 500 ms; lease 5 s, renewed every 1 s, margin 1 s.
package failover
