package peer

import (
	"crypto/tls"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdentityOf(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		uris []string
		want Identity
		ok   bool
	}{
		{"one identity", []string{"continuity://orders/n1"}, Identity{"orders", "n1"}, true},
		{"other schemes ignored", []string{"https://example.com/x", "continuity://orders/n2"}, Identity{"orders", "n2"}, true},
		{"none", []string{"https://example.com/x"}, Identity{}, false},
		{"two", []string{"continuity://orders/n1", "continuity://orders/n2"}, Identity{}, false},
		{"nested node", []string{"continuity://orders/a/b"}, Identity{}, false},
		{"no node", []string{"continuity://orders/"}, Identity{}, false},
		{"query", []string{"continuity://orders/n1?x=1"}, Identity{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o IssueOptions
			for _, s := range tc.uris {
				u, err := url.Parse(s)
				require.NoError(t, err)
				o.URIs = append(o.URIs, u)
			}
			cert, _, err := ca.Issue("n", o)
			require.NoError(t, err)
			id, err := IdentityOf(cert.Leaf)
			if !tc.ok {
				assert.ErrorIs(t, err, ErrIdentity)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, id)
			assert.Equal(t, tc.uris[len(tc.uris)-1], id.String())
		})
	}
}

func TestValidateNamesEveryField(t *testing.T) {
	err := TLS{}.Validate()
	require.Error(t, err)
	for _, field := range []string{"Certificate", "CA", "Cluster", "AllowedNodes"} {
		assert.Contains(t, err.Error(), "TLS."+field)
	}
}

// TestHandshake checks both ends' identity checks over a real TLS
// handshake: an allowed node of the cluster passes, a node missing from
// the allowlist and a node of another cluster are refused.
func TestHandshake(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	require.NoError(t, err)
	server, err := ca.TLS("orders", "n1", []string{"n1", "n2"})
	require.NoError(t, err)
	for _, tc := range []struct {
		name, cluster, node string
		ok                  bool
	}{
		{"allowed", "orders", "n2", true},
		{"not allowed", "orders", "n3", false},
		{"other cluster", "billing", "n2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, err := ca.TLS(tc.cluster, tc.node, []string{"n1"})
			require.NoError(t, err)
			client.Cluster = "orders" // the client accepts the server; the server judges the client
			sc, err := server.ServerConfig()
			require.NoError(t, err)
			cc, err := client.ClientConfig()
			require.NoError(t, err)
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			deadline := time.Now().Add(time.Minute) // bounds a hang; not a timing assertion
			require.NoError(t, a.SetDeadline(deadline))
			require.NoError(t, b.SetDeadline(deadline))
			errc := make(chan error, 1)
			go func() { errc <- tls.Server(a, sc).Handshake() }()
			conn := tls.Client(b, cc)
			cerr := conn.Handshake()
			if tc.ok {
				require.NoError(t, cerr)
				require.NoError(t, <-errc)
				return
			}
			if cerr == nil {
				// TLS 1.3: the client finishes first and learns of the
				// refusal from the server's alert.
				_, cerr = conn.Read(make([]byte, 1))
			}
			assert.Error(t, cerr)
			assert.ErrorIs(t, <-errc, ErrIdentity)
		})
	}
}
