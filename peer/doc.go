// Package peer is the identity of a cluster's nodes and the mutual TLS
// they speak: replication and fail-over both authenticate their peers
// through it.
//
// A node's identity is the URI SAN continuity://<cluster>/<node> of its
// certificate (Identity, IdentityOf). TLS holds a node's certificate, the
// cluster CA and the allowlist of node IDs; ServerConfig and ClientConfig
// make the tls.Config each end uses: TLS 1.3 only, a certificate required
// both ways and verified against the CA, and the peer's identity checked
// against the cluster and the allowlist. Host names play no part: nodes
// are named by identity, not DNS.
//
//	t := peer.TLS{Certificate: cert, CA: pool, Cluster: "orders", AllowedNodes: []string{"n1", "n2", "n3"}}
//	srv, err := t.ServerConfig()
//
// CA makes a certificate authority and node certificates for development,
// tests and examples (ECDSA P-256); production clusters issue node
// certificates from their own PKI with the identity URI above.
//
// All types are values, safe for concurrent use once built.
package peer
