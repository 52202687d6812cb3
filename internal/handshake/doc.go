// Package handshake runs the server side of connection handshakes off a
// listener's accept loop, so that connections which never finish their
// handshake (a slow-loris, a port scanner, a peer of another cluster)
// cannot delay the legitimate ones behind them.
//
// A Listener accepts raw TCP connections on one goroutine and hands each
// to a goroutine of its own, which runs the protocol's handshake (a Func:
// TLS, then whatever the protocol adds) under a deadline. Connections
// whose handshake succeeds are delivered by Accept, in the order they
// finish. Two caps bound the work strangers can make: connections in the
// handshake at once, overall and per source IP; a connection over a cap
// is closed at once.
//
// Refused connections (timed out, failed, over a cap) are counted
// (Refused) and logged at a rate limit: at most one Warn per
// Options.WarnInterval, with the number refused since the previous one,
// so that a flood cannot flood the log.
//
// Usage:
//
//	l, err := handshake.New(ln, func(ctx context.Context, c net.Conn) (net.Conn, error) {
//		tc := tls.Server(c, cfg)
//		return tc, tc.HandshakeContext(ctx)
//	}, handshake.Options{Logger: lg})
//	...
//	c, err := l.Accept(ctx)
//
// Concurrency: Accept, Addr, Refused and Close are safe to call
// concurrently. Close stops the accept loop and interrupts every pending
// handshake, and waits for their goroutines.
package handshake
