package failover

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// Member is a node of the cluster.
type Member struct {
	ID       string // node ID (its certificate's identity)
	RaftAddr string // address of its coordinator (Raft over mutual TLS)
	ReplAddr string // address its replication primary listens on when it is primary
	Voter    bool   // votes in Raft; non-voters follow and may still be promoted
}

// Report is what a node last told the cluster about its log.
type Report struct {
	Flushed wal.LSN // last LSN durable in its WAL
	Applied wal.LSN // last LSN applied to its state machine
	Epoch   uint64  // its log's epoch
	Healthy bool    // false when its disk or state machine failed
	Seq     uint64  // the Raft index of the report, to tell fresh reports from old ones
}

// TimelineEntry records a promotion: Primary began Epoch after LSN Fork.
type TimelineEntry struct {
	Epoch   uint64  // the epoch that began
	Fork    wal.LSN // the last LSN of the history before it
	Primary string  // the node promoted
}

// State is the cluster state the coordinators replicate through Raft. All
// of it is decided by the Raft log, so every node holds the same State at
// the same index.
type State struct {
	// Members are the nodes of the cluster, by ID.
	Members map[string]Member
	// Primary is the node that may accept writes in Epoch ("" while none
	// does: before the first promotion, or after the primary resigned).
	Primary string
	// Epoch is the fencing token: it rises with every promotion.
	Epoch uint64
	// Acked is the highest LSN the primary reported as acknowledged to a
	// client (in sync mode, on its standbys): a promotion must not lose
	// it.
	Acked wal.LSN
	// Reports holds each node's last report.
	Reports map[string]Report
	// RenewIndex is the Raft index of the current primary's last
	// renewal (or of its promotion). A promotion names the RenewIndex it
	// decided on and is refused if a renewal was applied since: a renewal
	// in flight when the leader decided could otherwise extend the old
	// primary's lease past the promotion.
	RenewIndex uint64
	// Resigned is the primary that resigned last (a failed disk): the
	// next promotion chooses another node.
	Resigned string
	// Archived is the newest LSN of the history the primaries reported
	// their archive's head vouches for (Position.Archived): an archive
	// that holds less lost its newest objects (archive.VerifyOptions.Expect).
	Archived wal.LSN
	// ArchiveID is the repository ID of the cluster's one archive, set
	// by the first primary (opArchive) and never changed: a node whose
	// archive has another ID takes no role.
	ArchiveID string `json:",omitempty"`
	// Timeline lists the promotions, oldest first.
	Timeline []TimelineEntry
	// Paused is the maintenance pause (Coordinator.Pause): while it
	// holds, the leader promotes no primary on its own; Switchover
	// still does. PauseReason and PausedBy (the node that paused) say
	// why and who; all three are zero when not paused.
	Paused      bool   `json:",omitempty"`
	PauseReason string `json:",omitempty"`
	PausedBy    string `json:",omitempty"`
	// PausedUntil is when the pause ends by itself, on the wall clock of
	// the leader that applied it; zero: at Resume only. The leader lifts
	// an expired pause (PauseHolds).
	PausedUntil time.Time `json:",omitzero"`
	// Index is the Raft index of the last command applied.
	Index uint64
}

// clone returns a deep copy.
func (s State) clone() State {
	s.Members = maps.Clone(s.Members)
	s.Reports = maps.Clone(s.Reports)
	s.Timeline = slices.Clone(s.Timeline)
	return s
}

// PauseHolds reports whether the maintenance pause holds at now (the
// leader's wall clock): Paused, and PausedUntil is zero or after now.
func (s State) PauseHolds(now time.Time) bool {
	return s.Paused && (s.PausedUntil.IsZero() || now.Before(s.PausedUntil))
}

// Fork returns the LSN after which epoch began (0, and ok false, for an
// epoch not in the timeline).
func (s State) Fork(epoch uint64) (fork wal.LSN, ok bool) {
	for _, t := range s.Timeline {
		if t.Epoch == epoch {
			return t.Fork, true
		}
	}
	return 0, false
}

// Command kinds, the "op" of an encoded command.
const (
	opJoin    = "join"
	opLeave   = "leave"
	opRenew   = "renew"
	opReport  = "report"
	opPromote = "promote"
	opResign  = "resign"
	opStarted = "started"
	opArchive = "archive"
	opSync    = "sync"
	opPause   = "pause"
	opResume  = "resume"
)

// command is one change to the State, as stored in the Raft log.
type command struct {
	Version int    `json:"v"`
	Op      string `json:"op"`
	Node    string `json:"node,omitempty"`
	Member  Member `json:"member,omitzero"`
	Epoch   uint64 `json:"epoch,omitempty"`
	// renew, report
	Acked   wal.LSN `json:"acked,omitempty"`
	Flushed wal.LSN `json:"flushed,omitempty"`
	Applied wal.LSN `json:"applied,omitempty"`
	Healthy bool    `json:"healthy,omitempty"`
	// renew: the primary's archive head (Position.Archived)
	Archived wal.LSN `json:"archived,omitempty"`
	// promote: FromEpoch must be the current epoch (compare and set)
	FromEpoch uint64 `json:"from,omitempty"`
	// RenewIndex: the State.RenewIndex the promotion was decided on.
	RenewIndex uint64  `json:"renew_index,omitempty"`
	Fork       wal.LSN `json:"fork,omitempty"`
	Reason     string  `json:"reason,omitempty"` // promote: why; pause: the operator's reason
	// Force (promote): an operator's promotion (Switchover), which a
	// maintenance pause lets through; the leader's own promotions leave
	// it false.
	Force bool `json:"force,omitempty"`
	// archive: the repository ID of the cluster's archive
	ArchiveID string `json:"archive_id,omitempty"`
	// sync: a nonce the proposer waits to see applied locally
	Nonce uint64 `json:"nonce,omitempty"`
	// pause: how long it lasts (0: until resumed), and the end the
	// leader stamped on it from its wall clock (Unix milliseconds; 0
	// with TTL 0). resume: Until names the expired pause the leader
	// lifts (0: whatever pause holds).
	TTL   time.Duration `json:"ttl,omitempty"`
	Until int64         `json:"until_ms,omitempty"`
}

const (
	commandVersion  = 1
	maxCommandBytes = 64 << 10
	maxIDBytes      = 256
	maxAddrBytes    = 1024
	maxReasonBytes  = 4096
	// maxUntilMillis is the end of year 9999 UTC: a later pause end
	// would not encode in a State snapshot (RFC 3339).
	maxUntilMillis = 253402300799999
)

// errBadCommand is the cause of a command that does not decode.
var errBadCommand = errors.New("failover: malformed command")

func encodeCommand(c command) []byte {
	c.Version = commandVersion
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // only plain fields
	}
	return b
}

// decodeCommand decodes and checks a command from the Raft log.
func decodeCommand(b []byte) (command, error) {
	var c command
	if len(b) > maxCommandBytes {
		return c, fmt.Errorf("%w: %d bytes", errBadCommand, len(b))
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: %v", errBadCommand, err)
	}
	if d.More() {
		return c, fmt.Errorf("%w: trailing data", errBadCommand)
	}
	switch {
	case c.Version != commandVersion:
		return c, fmt.Errorf("%w: version %d, this build reads %d", errBadCommand, c.Version, commandVersion)
	case len(c.Node) > maxIDBytes || len(c.Member.ID) > maxIDBytes || len(c.Member.RaftAddr) > maxAddrBytes ||
		len(c.Member.ReplAddr) > maxAddrBytes || len(c.Reason) > maxReasonBytes || len(c.ArchiveID) > maxIDBytes:
		return c, fmt.Errorf("%w: a field exceeds its bound", errBadCommand)
	}
	switch c.Op {
	case opJoin:
		if c.Member.ID == "" {
			return c, fmt.Errorf("%w: join without a member ID", errBadCommand)
		}
	case opLeave, opRenew, opReport, opPromote, opResign, opStarted, opSync:
		if c.Node == "" {
			return c, fmt.Errorf("%w: %s without a node", errBadCommand, c.Op)
		}
	case opPause, opResume:
		if c.Node == "" || c.TTL < 0 || c.Until < 0 || c.Until > maxUntilMillis {
			return c, fmt.Errorf("%w: %s without a node, or with a negative or too distant end", errBadCommand, c.Op)
		}
	case opArchive:
		if c.Node == "" || c.ArchiveID == "" {
			return c, fmt.Errorf("%w: archive without a node or an ID", errBadCommand)
		}
	default:
		return c, fmt.Errorf("%w: unknown op %q", errBadCommand, c.Op)
	}
	return c, nil
}

// Refusals: what apply returns for a command that decodes but does not
// hold against the current State. They are not errors of the log: every
// node refuses the same command the same way.
var (
	// ErrStaleEpoch: a renewal, resignation or promotion for an epoch
	// that is not the current one (a deposed primary, or a promotion that
	// lost a race).
	ErrStaleEpoch = errors.New("failover: stale epoch")
	// ErrNotPrimary: a renewal or resignation from a node that is not
	// the primary.
	ErrNotPrimary = errors.New("failover: not the primary")
	// ErrUnknownMember: a command about a node that is not a member.
	ErrUnknownMember = errors.New("failover: not a member")
	// ErrLeaseRenewed: a promotion decided before the primary's latest
	// renewal; the leader decides again.
	ErrLeaseRenewed = errors.New("failover: lease renewed since the promotion was decided")
	// ErrArchiveMismatch: the cluster's archive is another repository
	// than the one a primary proposed.
	ErrArchiveMismatch = errors.New("failover: the cluster archives to another repository")
	// ErrPaused: an automatic promotion (one without Force) while the
	// cluster is paused for maintenance.
	ErrPaused = errors.New("failover: the cluster is paused for maintenance")
)

// apply applies c at Raft index idx. It returns nil or a refusal.
func (s *State) apply(c command, idx uint64) error {
	s.Index = idx
	if s.Members == nil {
		s.Members = map[string]Member{}
	}
	if s.Reports == nil {
		s.Reports = map[string]Report{}
	}
	switch c.Op {
	case opJoin:
		s.Members[c.Member.ID] = c.Member
	case opLeave:
		if _, ok := s.Members[c.Node]; !ok {
			return ErrUnknownMember
		}
		delete(s.Members, c.Node)
		delete(s.Reports, c.Node)
		if s.Primary == c.Node {
			s.Primary = ""
		}
	case opRenew:
		if c.Epoch != s.Epoch {
			return fmt.Errorf("%w: renewal for epoch %d, current %d", ErrStaleEpoch, c.Epoch, s.Epoch)
		}
		if c.Node != s.Primary {
			return fmt.Errorf("%w: %s renews, the primary is %q", ErrNotPrimary, c.Node, s.Primary)
		}
		s.Acked = max(s.Acked, c.Acked)
		s.Archived = max(s.Archived, c.Archived)
		s.RenewIndex = idx
		s.Reports[c.Node] = Report{Flushed: c.Flushed, Applied: c.Applied, Epoch: c.Epoch, Healthy: true, Seq: idx}
	case opReport:
		if _, ok := s.Members[c.Node]; !ok {
			return ErrUnknownMember
		}
		s.Reports[c.Node] = Report{Flushed: c.Flushed, Applied: c.Applied, Epoch: c.Epoch, Healthy: c.Healthy, Seq: idx}
	case opResign:
		if c.Epoch != s.Epoch || c.Node != s.Primary {
			return fmt.Errorf("%w: %s resigns epoch %d; the primary of epoch %d is %q", ErrStaleEpoch, c.Node, c.Epoch, s.Epoch, s.Primary)
		}
		s.Primary, s.Resigned = "", c.Node
	case opPromote:
		if c.FromEpoch != s.Epoch {
			return fmt.Errorf("%w: promotion from epoch %d, current %d", ErrStaleEpoch, c.FromEpoch, s.Epoch)
		}
		if s.Primary != "" && c.RenewIndex != s.RenewIndex {
			return fmt.Errorf("%w: the primary renewed its lease (index %d) after the promotion was decided (index %d)", ErrLeaseRenewed, s.RenewIndex, c.RenewIndex)
		}
		if _, ok := s.Members[c.Node]; !ok {
			return ErrUnknownMember
		}
		// A pause applied after the leader decided still stops it.
		if s.Paused && !c.Force {
			return fmt.Errorf("%w (%s): no automatic promotion of %s", ErrPaused, s.PauseReason, c.Node)
		}
		s.Epoch++
		s.Primary, s.Resigned = c.Node, ""
		s.RenewIndex = idx
		// Writes acknowledged past the fork were lost (possible only
		// without SyncMode); the new history starts at the fork.
		s.Acked = min(s.Acked, c.Fork)
		s.Archived = min(s.Archived, c.Fork) // the deposed primary's tail is off the new history
		s.Timeline = append(s.Timeline, TimelineEntry{Epoch: s.Epoch, Fork: c.Fork, Primary: c.Node})
	case opArchive:
		if c.Epoch != s.Epoch || c.Node != s.Primary {
			return fmt.Errorf("%w: %s names the archive in epoch %d; the primary of epoch %d is %q", ErrStaleEpoch, c.Node, c.Epoch, s.Epoch, s.Primary)
		}
		if s.ArchiveID != "" && s.ArchiveID != c.ArchiveID {
			return fmt.Errorf("%w: the cluster's archive is repository %s, %s opened %s", ErrArchiveMismatch, s.ArchiveID, c.Node, c.ArchiveID)
		}
		s.ArchiveID = c.ArchiveID
	case opPause:
		if _, ok := s.Members[c.Node]; !ok {
			return ErrUnknownMember
		}
		s.Paused, s.PauseReason, s.PausedBy, s.PausedUntil = true, c.Reason, c.Node, time.Time{}
		if c.Until > 0 {
			s.PausedUntil = time.UnixMilli(c.Until).UTC()
		}
	case opResume:
		if c.Until != 0 && (!s.Paused || s.PausedUntil.UnixMilli() != c.Until) {
			return nil // the expired pause was lifted or replaced meanwhile
		}
		s.Paused, s.PauseReason, s.PausedBy, s.PausedUntil = false, "", "", time.Time{}
	case opSync:
		// Nothing changes: the proposer learns its State is as new as
		// the leader's was when this command committed.
	case opStarted:
		// The new primary's log really forked here (it may hold more
		// than it reported when chosen).
		if c.Epoch == s.Epoch && c.Node == s.Primary && len(s.Timeline) > 0 {
			s.Timeline[len(s.Timeline)-1].Fork = c.Fork
		}
	}
	return nil
}

// encodeState and decodeState are the FSM snapshot format.
func encodeState(s State) ([]byte, error) {
	return json.Marshal(struct {
		Version int `json:"v"`
		State
	}{commandVersion, s})
}

func decodeState(b []byte) (State, error) {
	var w struct {
		Version int `json:"v"`
		State
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return State{}, fmt.Errorf("failover: state snapshot: %w", err)
	}
	if w.Version != commandVersion {
		return State{}, fmt.Errorf("failover: state snapshot version %d, this build reads %d", w.Version, commandVersion)
	}
	return w.State, nil
}
