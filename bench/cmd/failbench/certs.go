package main

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/continuity-go/continuity/peer"
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

// pki is a certificate authority made up for one benchmark run
// (peer.CA: ECDSA P-256, the CA valid for a day) and the node
// certificates it signed, each for client and server use with its
// continuity:// identity as a URI SAN.
type pki struct {
	ca    *peer.CA
	nodes []string
	certs map[string]tls.Certificate // by node ID
}

func newPKI(nodes ...string) (*pki, error) {
	ca, err := peer.NewCA(clusterID+" CA", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	p := &pki{ca: ca, nodes: nodes, certs: make(map[string]tls.Certificate, len(nodes))}
	for _, n := range nodes {
		if p.certs[n], _, err = ca.Node(clusterID, n, 24*time.Hour); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// tls is node's mutual TLS for its coordinator, accepting every node of
// the cluster.
func (p *pki) tls(node string) peer.TLS {
	return peer.TLS{
		Certificate:  p.certs[node],
		CA:           p.ca.Pool(),
		Cluster:      clusterID,
		AllowedNodes: p.nodes,
	}
}
