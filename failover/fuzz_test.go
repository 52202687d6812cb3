package failover

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzState decodes arbitrary Raft snapshots (fsm.Restore's input): never
// a panic; what decodes re-encodes to a snapshot that decodes to the same
// State, and a command applies to it without panicking.
func FuzzState(f *testing.F) {
	seed := State{Epoch: 3, Primary: "n1", Members: map[string]Member{"n1": {ID: "n1", RaftAddr: "a:1", Voter: true}},
		Timeline: []TimelineEntry{{Epoch: 1}, {Epoch: 3, Fork: 40}}, Paused: true, PauseReason: "upgrade", PausedBy: "n2"}
	for _, s := range []State{{}, seed} {
		b, err := encodeState(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"Members":{"x":{}},"Reports":null}`))
	f.Add([]byte(`{"v":1,"PausedUntil":"9999-12-31T23:59:59Z"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		if err != nil {
			return
		}
		enc, err := encodeState(s)
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		s2, err := decodeState(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		enc2, err := encodeState(s2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip changed the state:\n%s\n%s", enc, enc2)
		}
		_ = s.apply(command{Op: opRenew, Node: s.Primary, Epoch: s.Epoch}, s.Index+1)
	})
}

// FuzzForward reads arbitrary bytes as a forwarded command (the leader's
// side) and as a reply (the sender's): never a panic, never an allocation
// past the protocol's bounds, and what the writer wrote reads back.
func FuzzForward(f *testing.F) {
	frame := func(first byte, body []byte) []byte {
		b := []byte{first, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(b[1:], uint32(len(body)))
		return append(b, body...)
	}
	f.Add(frame(forwardMagic, encodeCommand(command{Op: opRenew, Node: "n1", Epoch: 2})))
	f.Add(frame(forwardRefused, []byte(ErrUnauthorized.Error())))
	f.Add([]byte{forwardMagic, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{forwardOK})
	f.Fuzz(func(t *testing.T, b []byte) {
		if cmd, err := readForward(bytes.NewReader(b)); err == nil {
			if len(cmd) > maxCommandBytes {
				t.Fatalf("a command of %d bytes read", len(cmd))
			}
			_, _ = decodeCommand(cmd) // FuzzCommand checks the decoder itself
		}
		if _, msg, err := readReply(bytes.NewReader(b)); err == nil && len(msg) > maxForwardReply {
			t.Fatalf("a reply of %d bytes read", len(msg))
		}
		// What writeReply writes, readReply reads back (cut to the bound).
		var w bytes.Buffer
		writeReply(&w, forwardRefused, string(b))
		status, msg, err := readReply(&w)
		want := string(b)
		if len(want) > maxForwardReply {
			want = want[:maxForwardReply]
		}
		if err != nil || status != forwardRefused || msg != want {
			t.Fatalf("reply round trip: %d %q %v", status, msg, err)
		}
	})
}
