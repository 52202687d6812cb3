// Package wire is replication's protocol: frames, the messages they carry
// and the authenticated connection both ends speak over TCP with mutual
// TLS. Package replication builds the primary and the standby on it;
// benchmarks measure it directly. It is internal: hosts use replication.
//
// A frame (all integers little-endian):
//
//	| length u32 | type u8 | reserved 3 bytes (0) | epoch u64 | xxhash64 u64 | payload |
//
// The checksum covers type, reserved bytes, epoch and payload. Length is
// bounded (MaxFrameBytes, or less per connection) before anything is
// allocated. Payloads by type: Hello (standby → primary), Welcome,
// Reject (either way, with a code and a reason), Records (a Batch: the
// primary's durable LSN, flags, consecutive records) and Ack (a
// standby's received, flushed and applied positions). Every decoder has a
// fuzz target seeded from testdata/fuzz.
//
// The handshake: TLS 1.3 with both certificates checked against the
// cluster CA and the allowlist (package peer), then Hello, answered by
// Welcome or Reject. A Listener runs each connection's handshake on a
// goroutine of its own, under HandshakeTimeout and within MaxHandshakes
// and MaxHandshakesPerSource (package handshake), so connections that
// never finish theirs do not delay a standby's. A Conn may be read from
// one goroutine and written from any.
package wire
