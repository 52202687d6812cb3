package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"testing"
	"time"

	"github.com/continuity-go/continuity/peer"
)

// CA is a certificate authority made up for a test: peer.CA with the
// test's failure handling.
type CA struct {
	*peer.CA
	// Pool holds the CA's certificate, for tls.Config.RootCAs/ClientCAs
	// and peer.TLS.CA.
	Pool *x509.CertPool
}

// NewCA makes a self-signed CA valid from an hour ago for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := peer.NewCA(name, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{CA: ca, Pool: ca.Pool()}
}

// CertOptions varies a node certificate.
type CertOptions struct {
	// NotBefore and NotAfter default to an hour ago and a day from now.
	NotBefore, NotAfter time.Time
	// URIs are the certificate's URI SANs (a node's identity), as
	// strings so a test can write malformed ones.
	URIs []string
}

// NodeCert issues a certificate for client and server use, signed by ca.
func (ca *CA) NodeCert(t testing.TB, name string, o CertOptions) tls.Certificate {
	t.Helper()
	io := peer.IssueOptions{NotBefore: o.NotBefore, NotAfter: o.NotAfter}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		io.URIs = append(io.URIs, u)
	}
	cert, _, err := ca.Issue(name, io)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// NodeTLS is node's peer.TLS in cluster, with a certificate ca issues
// under o (by default, the node's identity URI), accepting allowed.
func (ca *CA) NodeTLS(t testing.TB, cluster, node string, allowed []string, o CertOptions) peer.TLS {
	t.Helper()
	if o.URIs == nil {
		o.URIs = []string{peer.Identity{Cluster: cluster, Node: node}.URI().String()}
	}
	return peer.TLS{Certificate: ca.NodeCert(t, node, o), CA: ca.Pool, Cluster: cluster, AllowedNodes: allowed}
}
