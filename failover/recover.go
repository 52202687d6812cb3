package failover

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

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
// logged at error level.
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
	return nil
}
