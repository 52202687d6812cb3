package failover

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/continuity-go/continuity/internal/watermark"
)

// fsm is the Raft state machine holding the State, plus the local times
// at which renewals and reports were applied (for the leader's lease and
// freshness checks: monotonic, never replicated).
type fsm struct {
	now func() time.Time // the local clock (Config's)

	mu       sync.Mutex // guards the fields below
	st       State
	renew    map[string]time.Time // node@epoch → applied at
	reported map[string]time.Time
	changes  watermark.Signal // broadcast under mu: see changed
	nonces   map[uint64]bool  // sync commands applied (Coordinator.syncLoop)
	synced   watermark.Signal // broadcast under mu when a sync command is applied
}

// newFSM returns an empty state machine that reads the local time from
// now.
func newFSM(now func() time.Time) *fsm {
	return &fsm{now: now, renew: map[string]time.Time{}, reported: map[string]time.Time{}, nonces: map[uint64]bool{}}
}

var (
	_ raft.FSM         = (*fsm)(nil)
	_ raft.FSMSnapshot = fsmSnapshot(nil)
)

// state returns a deep copy of the State.
func (f *fsm) state() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.clone()
}

// changed returns a channel closed when the next command applied changes
// the primary or the epoch or is a join, leave or started command
// (refused or not), or at the next Restore.
func (f *fsm) changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changes.Changed()
}

// sawNonce reports whether the sync command carrying nonce was applied,
// and returns a channel closed at the next sync command applied.
func (f *fsm) sawNonce(nonce uint64) (bool, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nonces[nonce], f.synced.Changed()
}

// renewedAt is when this node applied the last renewal (or the
// promotion) of node as primary of epoch; zero if it applied none.
func (f *fsm) renewedAt(node string, epoch uint64) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renew[fmt.Sprintf("%s@%d", node, epoch)]
}

// reportedAt is when this node applied node's last report or renewal;
// zero if it applied none.
func (f *fsm) reportedAt(node string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reported[node]
}

// Apply applies one Raft log entry. It returns nil or the refusal.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	cmd, err := decodeCommand(l.Data)
	if err != nil {
		return err // never proposed by this build: refuse it everywhere alike
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	before := f.st.Primary + fmt.Sprint(f.st.Epoch)
	err = f.st.apply(cmd, l.Index)
	now := f.now()
	if err == nil {
		switch cmd.Op {
		case opRenew:
			f.renew[fmt.Sprintf("%s@%d", cmd.Node, cmd.Epoch)] = now
			f.reported[cmd.Node] = now
		case opReport:
			f.reported[cmd.Node] = now
		case opPromote:
			// The new primary's lease starts with its promotion.
			f.renew[fmt.Sprintf("%s@%d", cmd.Node, f.st.Epoch)] = now
		case opSync:
			if len(f.nonces) >= 1024 { // every node's restarts: forget the old ones
				clear(f.nonces)
			}
			f.nonces[cmd.Nonce] = true
			f.synced.Broadcast()
		}
	}
	if f.st.Primary+fmt.Sprint(f.st.Epoch) != before || cmd.Op == opJoin || cmd.Op == opLeave || cmd.Op == opStarted {
		f.changes.Broadcast()
	}
	return err
}

// Snapshot captures the State for Raft's log compaction.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	b, err := encodeState(f.state())
	if err != nil {
		return nil, err
	}
	return fsmSnapshot(b), nil
}

// Restore replaces the State from a snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return err
	}
	st, err := decodeState(b)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.st = st
	f.changes.Broadcast()
	f.mu.Unlock()
	return nil
}

// fsmSnapshot is an encoded State (encodeState).
type fsmSnapshot []byte

// Persist writes the snapshot to sink and closes it, or cancels it on
// error.
func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release does nothing: the snapshot holds no resources.
func (s fsmSnapshot) Release() {}
