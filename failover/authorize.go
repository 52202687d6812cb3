package failover

import (
	"errors"
	"fmt"
)

// ErrUnauthorized is returned (wrapped) when the leader refuses a
// forwarded command that the authenticated peer may not send.
var ErrUnauthorized = errors.New("failover: the sending node may not send this command")

// ErrNotAllowed is returned (wrapped) by Join for a node ID that is not
// on the cluster's TLS.AllowedNodes: it could never connect.
var ErrNotAllowed = errors.New("failover: the node is not in TLS.AllowedNodes")

// authorize decides whether the node peer, authenticated by its mutual
// TLS certificate, may have the leader apply cmd, forwarded over the
// coordinator's port. A node speaks only for itself:
//
//	op                                    allowed when
//	renew, report, resign, started,       cmd.Node is peer
//	archive, sync, leave
//	join                                  the member joining is peer, or peer is a member
//	promote                               a Switchover: Force, and peer is the primary
//	pause, resume                         peer is a member (the pause records peer)
//
// The leader's own decisions (automatic promotions, lifting an expired
// pause) are applied locally and never forwarded. Without TLS
// (InsecurePlaintext, tests only) there is no identity and nothing is
// checked.
func authorize(peer string, cmd command, st State) error {
	if peer == "" {
		return nil
	}
	refuse := func(why string) error {
		return &refusal{fmt.Errorf("%w: %s from %s: %s", ErrUnauthorized, cmd.Op, peer, why)}
	}
	switch cmd.Op {
	case opRenew, opReport, opResign, opStarted, opArchive, opSync:
		if cmd.Node != peer {
			return refuse(fmt.Sprintf("it names node %q; a node sends this only about itself", cmd.Node))
		}
	case opLeave:
		if cmd.Node != peer {
			return refuse(fmt.Sprintf("it removes node %q; a node removes only itself (remove another node on the Raft leader)", cmd.Node))
		}
	case opJoin:
		if _, member := st.Members[peer]; cmd.Member.ID != peer && !member {
			return refuse(fmt.Sprintf("it adds %q and the sender is not a member", cmd.Member.ID))
		}
	case opPromote:
		if !cmd.Force || st.Primary != peer {
			return refuse("only the leader promotes on its own; a forwarded promotion is the primary's Switchover")
		}
	case opPause, opResume:
		if _, member := st.Members[peer]; !member {
			return refuse("the sender is not a member")
		}
		if cmd.Node != peer {
			return refuse(fmt.Sprintf("it names node %q as the sender", cmd.Node))
		}
	default:
		return refuse("unknown command")
	}
	return nil
}

// memberAt names the member whose Raft address is addr, as the State
// records it; Raft's dialer checks that the peer there is that node.
func (c *Coordinator) memberAt(addr string) (string, bool) {
	for id, m := range c.fsm.state().Members {
		if m.RaftAddr == addr {
			return id, true
		}
	}
	return "", false
}
