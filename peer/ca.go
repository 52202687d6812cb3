package peer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// CA is a certificate authority that signs node certificates (ECDSA
// P-256), for development, tests and examples. Its key is in memory only.
type CA struct {
	Cert *x509.Certificate // self-signed
	Key  *ecdsa.PrivateKey // signs node certificates
	DER  []byte            // Cert, DER encoded
}

// NewCA makes a self-signed CA named name, valid from an hour ago (clock
// skew) for valid.
func NewCA(name string, valid time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(valid),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("peer: make CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, DER: der}, nil
}

// Pool returns a new pool holding the CA, for TLS.CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// IssueOptions varies a certificate Issue makes.
type IssueOptions struct {
	// NotBefore and NotAfter bound its validity. Defaults: an hour ago
	// and a day from now.
	NotBefore, NotAfter time.Time
	// URIs are its URI SANs: a node certificate carries exactly one
	// continuity:// identity (Identity.URI).
	URIs []*url.URL
}

// Issue signs a certificate for client and server use with the common
// name name. It returns the certificate with its key, and the key DER
// encoded (PKCS #8) for writing to a file.
func (ca *CA) Issue(name string, o IssueOptions) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: o.NotBefore, NotAfter: o.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        o.URIs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("peer: issue %q: %w", name, err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, kb, nil
}

// Node issues the certificate of node in cluster, valid for valid: its
// identity URI continuity://<cluster>/<node>.
func (ca *CA) Node(cluster, node string, valid time.Duration) (tls.Certificate, []byte, error) {
	return ca.Issue(node, IssueOptions{
		NotAfter: time.Now().Add(valid),
		URIs:     []*url.URL{Identity{Cluster: cluster, Node: node}.URI()},
	})
}

// TLS returns node's mutual-TLS setup: a certificate valid for a day, the
// CA, the cluster and the allowlist.
func (ca *CA) TLS(cluster, node string, allowed []string) (TLS, error) {
	cert, _, err := ca.Node(cluster, node, 24*time.Hour)
	if err != nil {
		return TLS{}, err
	}
	return TLS{Certificate: cert, CA: ca.Pool(), Cluster: cluster, AllowedNodes: allowed}, nil
}

// PEM encodes der as a PEM block of typ ("CERTIFICATE", "PRIVATE KEY").
func PEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux; a broken source must not make weak serials
	}
	return n
}
