package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/continuity-go/continuity/replication"
)

// clusterID is the name the benchmark's nodes share, in their identities.
const clusterID = "failbench"

// clusterSize is how many coordinators a cluster has, all Raft voters.
const clusterSize = 3

// nodeID is the ID of the i-th node (from 0): n1, n2, n3.
func nodeID(i int) string { return fmt.Sprintf("n%d", i+1) }

// nodeIDs are the IDs of a cluster's nodes.
func nodeIDs() []string {
	ids := make([]string, clusterSize)
	for i := range ids {
		ids[i] = nodeID(i)
	}
	return ids
}

// pki is a certificate authority made up for one benchmark run, and the
// node certificates it signed, as a cluster's operator would issue them:
// ECDSA P-256 keys, the CA valid for a day, each node's certificate for
// client and server use with its continuity:// identity as a URI SAN.
type pki struct {
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	pool  *x509.CertPool
	nodes []string
	certs map[string]tls.Certificate // by node ID
}

func newPKI(nodes ...string) (*pki, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "failbench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &pki{ca: ca, key: key, pool: x509.NewCertPool(), nodes: nodes, certs: map[string]tls.Certificate{}}
	p.pool.AddCert(ca)
	for _, n := range nodes {
		if p.certs[n], err = p.nodeCert(n); err != nil {
			return nil, fmt.Errorf("certificate of %s: %w", n, err)
		}
	}
	return p, nil
}

func (p *pki) nodeCert(node string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: node},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{replication.Identity{Cluster: clusterID, Node: node}.URI()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// tls is node's mutual TLS for its coordinator, accepting every node of
// the cluster.
func (p *pki) tls(node string) replication.TLS {
	return replication.TLS{
		Certificate:  p.certs[node],
		CA:           p.pool,
		Cluster:      clusterID,
		AllowedNodes: p.nodes,
	}
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
