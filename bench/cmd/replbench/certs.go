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

// cluster is the name the benchmark's nodes share, in their identities.
const clusterID = "replbench"

// Node IDs. The primary accepts the standbys; each standby accepts the
// primary.
const (
	primaryNode = "primary"
)

func standbyNode(i int) string { return fmt.Sprintf("standby-%d", i+1) }

// pki is a certificate authority made up for one benchmark run, and the
// node certificates it signed, as a cluster's operator would issue them:
// ECDSA P-256 keys, the CA valid for a day, each node's certificate for
// client and server use with its continuity:// identity as a URI SAN.
type pki struct {
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	pool  *x509.CertPool
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
		Subject:               pkix.Name{CommonName: "replbench CA"},
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
	p := &pki{ca: ca, key: key, pool: x509.NewCertPool(), certs: map[string]tls.Certificate{}}
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

// transport is node's mutual-TLS setup, accepting the peers listed.
func (p *pki) transport(node string, peers ...string) replication.Options {
	return replication.Options{TLS: replication.TLS{
		Certificate:  p.certs[node],
		CA:           p.pool,
		Cluster:      clusterID,
		AllowedNodes: peers,
	}}
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
