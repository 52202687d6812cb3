package failover

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/continuity-go/continuity/internal/vfs"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// ForceRecover is the manual override for a cluster that has lost its
// quorum for good (the other voters are gone and will not return): with
// this node's coordinator closed, it rewrites the node's Raft
// configuration to voters (which must include this node), so that the
// node, opened again with cfg, forms a cluster of those voters, elects a
// leader, and promotes a primary as usual. Every other node of the old
// cluster must stay down or be wiped and joined anew: two clusters that
// both believe they are the cluster would each promote a primary. It is
// logged at error level, and left in cfg.Dir for the host's audit trail
// (PendingForcedRecovery: a continuity.Node records it when it opens).
func ForceRecover(cfg Config, voters []Member) error {
	if err := cfg.validateStore(); err != nil {
		return err
	}
	found := false
	var conf raft.Configuration
	for _, m := range voters {
		found = found || m.ID == cfg.Node
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.RaftAddr)})
	}
	if !found {
		return fmt.Errorf("failover: ForceRecover: voters must include this node (%s)", cfg.Node)
	}
	lg := cfg.withDefaults().Logger
	store, err := raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		return fmt.Errorf("failover: ForceRecover: open raft store (is the coordinator still running?): %w", err)
	}
	defer store.Close()
	snaps, err := openSnapshots(cfg.Dir)
	if err != nil {
		return err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Node)
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Output: io.Discard, Level: hclog.Off})
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.Node))
	f := newFSM(time.Now)
	if err := raft.RecoverCluster(rc, f, store, store, snaps, trans, conf); err != nil {
		return fmt.Errorf("failover: ForceRecover: %w", err)
	}
	lg.Error("FORCED RECOVERY: the Raft configuration was rewritten by hand; every node of the old cluster not in it must stay down or be wiped",
		"node", cfg.Node, "voters", len(voters))
	if err := writeForcedRecovery(cfg.Dir, ForcedRecovery{Node: cfg.Node, At: time.Now().UTC(), Voters: voters}); err != nil {
		return fmt.Errorf("failover: ForceRecover: the configuration is rewritten, but the record of it for the audit trail could not be written: %w", err)
	}
	return nil
}

// forcedRecoveryName is the file ForceRecover leaves in the Raft
// directory: who the voters became, and when, until the node's host
// records it (TakeForcedRecovery).
const forcedRecoveryName = "forced-recovery.json"

// ForcedRecovery is what ForceRecover did, as it left it in the Raft
// directory.
type ForcedRecovery struct {
	Node   string    `json:"node"`
	At     time.Time `json:"at"`
	Voters []Member  `json:"voters"`
}

// writeForcedRecovery leaves the record of a forced recovery in dir,
// synced, so that a crash after the rewrite cannot lose it.
func writeForcedRecovery(dir string, fr ForcedRecovery) error {
	b, err := json.Marshal(fr)
	if err != nil {
		return err
	}
	fsys := vfs.Default()
	path := filepath.Join(dir, forcedRecoveryName)
	tmp := path + ".tmp"
	if err := fsys.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err // a crash's leftover
	}
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}

// PendingForcedRecovery returns the record of a forced recovery of the
// Raft directory dir that its host has not recorded yet (ok false: none).
// The host writes it to its audit trail, then calls
// ForcedRecoveryRecorded.
func PendingForcedRecovery(dir string) (fr ForcedRecovery, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, forcedRecoveryName))
	if errors.Is(err, fs.ErrNotExist) {
		return fr, false, nil
	}
	if err != nil {
		return fr, false, err
	}
	if err := json.Unmarshal(b, &fr); err != nil {
		return fr, false, fmt.Errorf("failover: %s: %w", forcedRecoveryName, err)
	}
	return fr, true, nil
}

// ForcedRecoveryRecorded removes the record PendingForcedRecovery
// returned.
func ForcedRecoveryRecorded(dir string) error {
	fsys := vfs.Default()
	if err := fsys.Remove(filepath.Join(dir, forcedRecoveryName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return fsys.SyncDir(dir)
}
