package peer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// TLS is a node's mutual-TLS setup.
type TLS struct {
	// Certificate is this node's certificate and key; its leaf carries
	// the node's identity URI.
	Certificate tls.Certificate
	// CA holds the cluster CA(s) that sign node certificates.
	CA *x509.CertPool
	// Cluster is the cluster ID; peers of other clusters are refused.
	Cluster string
	// AllowedNodes lists the node IDs accepted as peers. Empty refuses
	// every peer: an allowlist is required.
	AllowedNodes []string
}

// Validate reports every missing or invalid field.
func (t TLS) Validate() error {
	var errs []error
	if len(t.Certificate.Certificate) == 0 {
		errs = append(errs, errors.New("peer: TLS.Certificate is empty"))
	}
	if t.CA == nil {
		errs = append(errs, errors.New("peer: TLS.CA is nil"))
	}
	if t.Cluster == "" {
		errs = append(errs, errors.New("peer: TLS.Cluster is empty"))
	}
	if len(t.AllowedNodes) == 0 {
		errs = append(errs, errors.New("peer: TLS.AllowedNodes is empty: list the node IDs allowed to connect"))
	}
	return errors.Join(errs...)
}

// verifyPeer is run by both ends after the chain has been verified
// against the CA: the peer must be of our cluster and allowed.
func (t TLS) verifyPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no certificate", ErrIdentity)
	}
	id, err := IdentityOf(cs.PeerCertificates[0])
	if err != nil {
		return err
	}
	if id.Cluster != t.Cluster {
		return fmt.Errorf("%w: %s belongs to cluster %q, not %q", ErrIdentity, id, id.Cluster, t.Cluster)
	}
	if !slices.Contains(t.AllowedNodes, id.Node) {
		return fmt.Errorf("%w: node %q is not in TLS.AllowedNodes", ErrIdentity, id.Node)
	}
	return nil
}

// ServerConfig returns the configuration a node listens with: TLS 1.3
// only, a client certificate required and verified against the CA, and
// the peer's identity checked.
func (t TLS) ServerConfig() (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{t.Certificate},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        t.CA,
		VerifyConnection: t.verifyPeer,
	}, nil
}

// ClientConfig returns the configuration a node dials with. The server's
// certificate is verified against the CA and its identity checked; host
// names are not used (nodes are named by identity, not DNS).
func (t TLS) ClientConfig() (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.Certificate},
		RootCAs:      t.CA,
		// The chain is verified in VerifyConnection against the CA
		// without a host name: identities are URIs, not DNS names.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: no certificate", ErrIdentity)
			}
			opts := x509.VerifyOptions{
				Roots:         t.CA,
				Intermediates: x509.NewCertPool(),
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return err
			}
			return t.verifyPeer(cs)
		},
	}, nil
}
