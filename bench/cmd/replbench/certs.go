package main

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/continuity-go/continuity/peer"
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

// pki is a certificate authority made up for one benchmark run
// (peer.CA: ECDSA P-256, the CA valid for a day) and the node
// certificates it signed, each for client and server use with its
// continuity:// identity as a URI SAN.
type pki struct {
	ca    *peer.CA
	certs map[string]tls.Certificate // by node ID
}

func newPKI(nodes ...string) (*pki, error) {
	ca, err := peer.NewCA(clusterID+" CA", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	p := &pki{ca: ca, certs: make(map[string]tls.Certificate, len(nodes))}
	for _, n := range nodes {
		if p.certs[n], _, err = ca.Node(clusterID, n, 24*time.Hour); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// transport is node's mutual-TLS setup, accepting the peers listed.
func (p *pki) transport(node string, peers ...string) replication.Options {
	return replication.Options{TLS: peer.TLS{
		Certificate:  p.certs[node],
		CA:           p.ca.Pool(),
		Cluster:      clusterID,
		AllowedNodes: peers,
	}}
}
