package continuity

import (
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/failover"
	"github.com/continuity-go/continuity/peer"
	"github.com/continuity-go/continuity/wal"
)

// The types of the common path, re-exported so that a host imports one
// package: the state machine it implements, the log's record and
// position, roles, restore targets and windows, and the cluster's TLS.

// StateMachine is the host's state, folded from the log's events: see
// archive.StateMachine. A state machine that can capture its state
// quickly implements Capturer too.
type StateMachine = archive.StateMachine

// Record is one event of the log.
type Record = wal.Record

// LSN is a position in the log.
type LSN = wal.LSN

// Role is a node's part in its cluster.
type Role = failover.Role

// RoleChange tells what a node became: role, epoch, primary.
type RoleChange = failover.RoleChange

// Roles.
const (
	RoleStandby = failover.RoleStandby
	RolePrimary = failover.RolePrimary
)

// Target says what state a restore rebuilds: see archive.Target.
type Target = archive.Target

// AtTime is the state as of t (every event at or before t).
func AtTime(t time.Time) Target { return archive.AtTime(t) }

// AtLSN is the state as of lsn.
func AtLSN(lsn LSN) Target { return archive.AtLSN(lsn) }

// Restored says what a restore reached: see archive.Restored.
type Restored = archive.Restored

// Window is what the archive can restore: see archive.Window.
type Window = archive.Window

// TLS is a node's mutual-TLS setup (certificate, cluster CA, allowlist):
// see peer.TLS.
type TLS = peer.TLS
