package failover_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/continuity-go/continuity/failover"
	"github.com/continuity-go/continuity/peer"
)

// A cluster of one node on loopback, over mutual TLS: it bootstraps,
// joins itself as a voter, and the Raft leader (itself) promotes it to
// primary of epoch 1. More nodes would Join through it.
func Example() {
	dir, err := os.MkdirTemp("", "failover-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bounds a hang
	defer cancel()

	ca, err := peer.NewCA("example CA", time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	tls, err := ca.TLS("orders", "n1", []string{"n1"})
	if err != nil {
		log.Fatal(err)
	}
	roles := make(chan failover.RoleChange, 16)
	c, err := failover.Open(failover.Config{
		Node: "n1", Dir: dir, Bind: "127.0.0.1:0", ReplAddr: "127.0.0.1:7402", TLS: tls,
		Bootstrap: true,
		// The host reports its log; a healthy node may be promoted.
		Position: func() failover.Position { return failover.Position{Healthy: true} },
		OnRole:   func(rc failover.RoleChange) { roles <- rc },
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	// Join waits for a leader; a bootstrapped node becomes it.
	if err := c.Join(ctx, failover.Member{ID: "n1", RaftAddr: c.Addr(), ReplAddr: "127.0.0.1:7402", Voter: true}); err != nil {
		log.Fatal(err)
	}
	var rc failover.RoleChange
	for rc.Role != failover.RolePrimary {
		select {
		case rc = <-roles:
		case <-ctx.Done():
			log.Fatal("no promotion: ", ctx.Err())
		}
	}
	fmt.Println("n1 is", rc.Role, "of epoch", rc.Epoch)
	st := c.State()
	fmt.Println("cluster state: primary", st.Primary, "epoch", st.Epoch, "members", len(st.Members))
	// Output:
	// n1 is primary of epoch 1
	// cluster state: primary n1 epoch 1 members 1
}
