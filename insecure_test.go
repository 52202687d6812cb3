package continuity

import (
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/snapshot"
)

// TestInsecurePlaintextWarns: a cluster node without TLS says so at Open,
// at warning level.
func TestInsecurePlaintextWarns(t *testing.T) {
	var logs testkit.SyncBuffer
	dir := t.TempDir()
	n, err := Open(t.Context(), Config{Dir: dir, Archive: "file://" + filepath.ToSlash(t.TempDir()), Keys: snapshot.RawKey([32]byte{1}),
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Cluster: &ClusterConfig{Node: "n1", RaftBind: freeAddr(t), ReplBind: freeAddr(t), Bootstrap: true, InsecurePlaintext: true}}, &kv{})
	require.NoError(t, err)
	defer n.Close()
	require.True(t, strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "InsecurePlaintext"), "log:\n%s", logs.String())
}

// TestRefusedConnectionsCounted: connections that send no valid TLS
// handshake to a node's Raft or replication port are closed and counted
// in Status.Refused (continuity_handshakes_refused_total).
func TestRefusedConnectionsCounted(t *testing.T) {
	ca := testkit.NewCA(t, "cluster CA")
	raftAddr, replAddr := freeAddr(t), freeAddr(t)
	n, err := Open(t.Context(), Config{Dir: t.TempDir(), Archive: "file://" + filepath.ToSlash(t.TempDir()), Keys: snapshot.RawKey([32]byte{2}), Logger: quiet,
		Cluster: &ClusterConfig{Node: "n1", RaftBind: raftAddr, ReplBind: replAddr, Bootstrap: true,
			TLS: ca.NodeTLS(t, "orders", "n1", []string{"n1"}, testkit.CertOptions{})}}, &kv{})
	require.NoError(t, err)
	defer n.Close()
	// Role() says primary once the coordinator has chosen this node, which
	// can be before the node has bound its replication port; an append
	// succeeds only once the node serves as the primary.
	testkit.Eventually(t, func() bool {
		_, _, err := n.Append(t.Context(), []byte("k=v"))
		return err == nil
	}, "the node to serve as primary")
	for _, addr := range []string{raftAddr, replAddr} {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		c.Write([]byte("GET / HTTP/1.0\r\n\r\n")) // not a TLS handshake
		c.Close()
	}
	testkit.Eventually(t, func() bool {
		r := n.Status().Refused
		return r.Raft >= 1 && r.Replication >= 1
	}, "both refusals counted (status %+v)", n.Status().Refused)
}
