package replication

import (
	"time"

	"github.com/continuity-go/continuity/internal/wire"
	"github.com/continuity-go/continuity/peer"
)

// Options configures a transport end: how a primary listens and how a
// standby dials.
type Options struct {
	// TLS is the node's mutual-TLS setup. Required unless
	// InsecurePlaintext is set.
	TLS peer.TLS
	// InsecurePlaintext disables TLS and identity checks. For tests of
	// the protocol only: never set it for a real cluster.
	InsecurePlaintext bool
	// Cluster is the cluster ID when InsecurePlaintext is set (with TLS
	// it is TLS.Cluster).
	Cluster string
	// HandshakeTimeout bounds the TLS handshake and the Hello/Welcome
	// exchange. Default 10 s.
	HandshakeTimeout time.Duration
	// MaxFrameBytes bounds received frames. Default and maximum 64 MiB.
	MaxFrameBytes int
	// MaxHandshakes bounds the connections a primary holds in the
	// handshake at once (each runs on its own goroutine, so connections
	// that never finish theirs do not delay a standby's); more are closed
	// at once. Default 64.
	MaxHandshakes int
	// MaxHandshakesPerSource bounds them per source IP. Default 8.
	MaxHandshakesPerSource int
}

// Validate reports every invalid field.
func (o Options) Validate() error { return o.wire().Validate() }

// wire is o as the protocol's connections take it.
func (o Options) wire() wire.Options {
	return wire.Options{TLS: o.TLS, InsecurePlaintext: o.InsecurePlaintext, Cluster: o.Cluster, HandshakeTimeout: o.HandshakeTimeout,
		MaxFrameBytes: o.MaxFrameBytes, MaxHandshakes: o.MaxHandshakes, MaxHandshakesPerSource: o.MaxHandshakesPerSource}
}
