package peer

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// IdentityScheme is the URI scheme of node identities in certificates:
// a node's certificate carries the URI SAN continuity://<cluster>/<node>.
const IdentityScheme = "continuity"

// Identity names a node of a cluster.
type Identity struct {
	Cluster string // cluster ID
	Node    string // node ID within the cluster
}

// URI returns the identity as the URI SAN a node certificate carries.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: IdentityScheme, Host: id.Cluster, Path: "/" + id.Node}
}

// String returns the identity URI.
func (id Identity) String() string { return id.URI().String() }

// ErrIdentity is returned (wrapped) when a peer certificate names no
// acceptable identity.
var ErrIdentity = errors.New("peer: peer identity refused")

// IdentityOf returns the single continuity:// identity of a certificate.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	var found []Identity
	for _, u := range cert.URIs {
		if u.Scheme != IdentityScheme {
			continue
		}
		node := strings.TrimPrefix(u.Path, "/")
		if u.Host == "" || node == "" || strings.Contains(node, "/") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return Identity{}, fmt.Errorf("%w: malformed identity %q", ErrIdentity, u)
		}
		found = append(found, Identity{Cluster: u.Host, Node: node})
	}
	if len(found) != 1 {
		return Identity{}, fmt.Errorf("%w: certificate %q carries %d continuity:// identities, want 1", ErrIdentity, cert.Subject, len(found))
	}
	return found[0], nil
}
