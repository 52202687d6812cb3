package wire

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/continuity-go/continuity/wal"
)

func TestFrameRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var stream []byte
		type f struct {
			typ     FrameType
			epoch   uint64
			payload []byte
		}
		var want []f
		for range rapid.IntRange(0, 5).Draw(t, "frames") {
			x := f{FrameType(rapid.IntRange(1, 5).Draw(t, "type")), rapid.Uint64().Draw(t, "epoch"), rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "payload")}
			want = append(want, x)
			stream = AppendFrame(stream, x.typ, x.epoch, x.payload)
		}
		fr := NewFrameReader(bytes.NewReader(stream), 1024)
		for i, x := range want {
			got, err := fr.Next()
			require.NoError(t, err, "frame %d", i)
			require.Equal(t, x.typ, got.Type, "frame %d: type", i)
			require.Equal(t, x.epoch, got.Epoch, "frame %d: epoch", i)
			require.True(t, bytes.Equal(x.payload, got.Payload), "frame %d: payload differs", i)
		}
		_, err := fr.Next()
		require.Equal(t, io.EOF, err, "io.EOF at the end")
	})
}

func TestFrameErrors(t *testing.T) {
	good := AppendFrame(nil, FrameRecords, 7, []byte("payload"))
	for _, tc := range []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"bit flip in payload", func(b []byte) []byte { b[frameHeaderSize+2] ^= 1; return b }, ErrFrameChecksum},
		{"bit flip in epoch", func(b []byte) []byte { b[9] ^= 1; return b }, ErrFrameChecksum},
		{"reserved byte", func(b []byte) []byte { b[6] = 1; return b }, ErrFrameMalformed},
		{"too long", func(b []byte) []byte { b[3] = 0x7f; return b }, ErrFrameTooLarge},
		{"cut in header", func(b []byte) []byte { return b[:10] }, io.ErrUnexpectedEOF},
		{"cut in payload", func(b []byte) []byte { return b[:len(b)-1] }, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(bytes.Clone(good))
			_, err := NewFrameReader(bytes.NewReader(b), 1<<20).Next()
			var fe *FrameError
			require.ErrorAs(t, err, &fe)
			assert.ErrorIs(t, err, tc.want)
		})
	}
	// A length at the bound does not allocate beyond it; one past is refused
	// before any allocation.
	b := AppendFrame(nil, FrameRecords, 0, make([]byte, 100))
	_, err := NewFrameReader(bytes.NewReader(b), 99).Next()
	assert.ErrorIs(t, err, ErrFrameTooLarge)
}

func TestMessagesRoundTrip(t *testing.T) {
	h := Hello{Version: 2, Cluster: "orders", Node: "standby-1", Epoch: 4, LastLSN: 99, LastSum: 0x5eed}
	gh, err := DecodeHello(AppendHello(nil, h))
	require.NoError(t, err)
	assert.Equal(t, h, gh)
	w := Welcome{Version: 1, Cluster: "orders", Node: "primary", Epoch: 4}
	gw, err := DecodeWelcome(AppendWelcome(nil, w))
	require.NoError(t, err)
	assert.Equal(t, w, gw)
	r := Reject{Code: RejectEpoch, Reason: "epoch 3 is older than 4"}
	gr, err := DecodeReject(AppendReject(nil, r))
	require.NoError(t, err)
	assert.Equal(t, r, gr)
	a := Ack{Received: 10, Flushed: 9, Applied: 8}
	ga, err := DecodeAck(AppendAck(nil, a))
	require.NoError(t, err)
	assert.Equal(t, a, ga)
	_, err = DecodeAck(AppendAck(nil, Ack{Received: 1, Flushed: 2}))
	assert.ErrorIs(t, err, ErrFrameMalformed)

	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 20).Draw(t, "n")
		lsn := wal.LSN(rapid.Uint64Range(1, 1<<40).Draw(t, "first"))
		at := time.Unix(0, rapid.Int64Range(0, 1<<60).Draw(t, "time")).UTC()
		epoch := rapid.Uint64Range(0, 100).Draw(t, "epoch")
		recs := make([]wal.Record, n)
		for i := range recs {
			recs[i] = wal.Record{LSN: lsn + wal.LSN(i), Epoch: epoch, Time: at, Kind: wal.Kind(rapid.Byte().Draw(t, "kind")), Data: rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "data")}
			at = at.Add(time.Duration(rapid.IntRange(0, 1000).Draw(t, "dt")))
		}
		in := Batch{Committed: wal.LSN(rapid.Uint64().Draw(t, "committed")), Flags: BatchFlags(rapid.IntRange(0, int(knownFlags)).Draw(t, "flags")), Records: recs}
		b, err := DecodeBatch(AppendBatch(nil, in))
		require.NoError(t, err)
		require.Equal(t, in.Committed, b.Committed, "header's Committed")
		require.Equal(t, in.Flags, b.Flags, "header's Flags")
		got := b.Records
		require.Len(t, got, len(recs), "records")
		for i := range recs {
			require.Equal(t, recs[i].LSN, got[i].LSN, "record %d: LSN", i)
			require.Equal(t, recs[i].Epoch, got[i].Epoch, "record %d: epoch", i)
			require.Equal(t, recs[i].Kind, got[i].Kind, "record %d: kind", i)
			require.True(t, recs[i].Time.Equal(got[i].Time), "record %d: time %v, want %v", i, got[i].Time, recs[i].Time)
			require.True(t, bytes.Equal(recs[i].Data, got[i].Data), "record %d: data differs", i)
		}
	})
	// Gaps and regressions inside a batch are refused.
	base := time.Unix(100, 0)
	for name, recs := range map[string][]wal.Record{
		"gap":             {{LSN: 1, Time: base}, {LSN: 3, Time: base}},
		"epoch goes back": {{LSN: 1, Epoch: 2, Time: base}, {LSN: 2, Epoch: 1, Time: base}},
		"time goes back":  {{LSN: 1, Time: base}, {LSN: 2, Time: base.Add(-1)}},
		"LSN 0":           {{LSN: 0, Time: base}},
	} {
		_, err := DecodeBatch(AppendBatch(nil, Batch{Records: recs}))
		assert.ErrorIs(t, err, ErrFrameMalformed, name)
	}
	_, err = DecodeBatch(AppendBatch(nil, Batch{Flags: 1 << 7}))
	assert.ErrorIs(t, err, ErrFrameMalformed, "unknown flags")
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz")

func seedFrames() [][]byte {
	var s [][]byte
	s = append(s, AppendFrame(nil, FrameHello, 1, AppendHello(nil, Hello{Version: 2, Cluster: "c", Node: "n", LastLSN: 5, LastSum: 77})))
	s = append(s, AppendFrame(AppendFrame(nil, FrameAck, 2, AppendAck(nil, Ack{3, 2, 1})), FrameReject, 0, AppendReject(nil, Reject{Code: 2, Reason: "no"})))
	s = append(s, AppendFrame(nil, FrameRecords, 3, AppendBatch(nil, Batch{Committed: 1, Records: []wal.Record{{LSN: 1, Time: time.Unix(1, 0), Data: []byte("x")}}})))
	return append(s, nil, []byte{0xff, 0xff, 0xff, 0xff, 4, 0, 0, 0})
}

func seedPayloads() [][]byte {
	return [][]byte{
		append([]byte{byte(FrameHello)}, AppendHello(nil, Hello{Version: 2, Cluster: "c", Node: "n", LastLSN: 3, LastSum: 9})...),
		append([]byte{byte(FrameWelcome)}, AppendWelcome(nil, Welcome{Version: 1, Cluster: "c", Node: "p"})...),
		append([]byte{byte(FrameReject)}, AppendReject(nil, Reject{Code: 1, Reason: "r"})...),
		append([]byte{byte(FrameAck)}, AppendAck(nil, Ack{1, 1, 1})...),
		append([]byte{byte(FrameRecords)}, AppendBatch(nil, Batch{Committed: 6, Flags: FlagSync, Records: []wal.Record{{LSN: 7, Epoch: 1, Time: time.Unix(5, 0), Data: []byte("ev")}, {LSN: 8, Epoch: 1, Time: time.Unix(5, 1), Kind: 2}}})...),
		append([]byte{byte(FrameRecords)}, AppendBatch(nil, Batch{Committed: 8, Flags: FlagPing})...),
		{byte(FrameRecords), 0xff, 0xff, 0xff, 0xff},
		append([]byte{byte(FrameHello)}, AppendHello(nil, Hello{Version: 3, Cluster: "c", Node: "n", LastLSN: 3, Want: WantState})...),
		append([]byte{byte(FrameStateEnd)}, AppendStateEnd(nil, StateEnd{LSN: 42, Size: 7, Sum: [32]byte{1, 2, 3}})...),
	}
}

// FuzzFrameReader: any byte stream gives frames, io.EOF or a
// *FrameError, never a panic, and never a frame over the bound.
func FuzzFrameReader(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := NewFrameReader(bytes.NewReader(b), 4096)
		for range 100 {
			fm, err := fr.Next()
			if err != nil {
				if err != io.EOF {
					var fe *FrameError
					require.ErrorAs(t, err, &fe, "untyped error")
				}
				return
			}
			require.LessOrEqual(t, len(fm.Payload), 4096, "frame over the bound")
			// A frame that decodes re-encodes to the same bytes.
			again := AppendFrame(nil, fm.Type, fm.Epoch, fm.Payload)
			g, err := NewFrameReader(bytes.NewReader(again), 4096).Next()
			require.NoError(t, err, "re-encoding fails")
			require.True(t, bytes.Equal(fm.Payload, g.Payload), "re-encoding changes the payload")
		}
	})
}

// FuzzMessages: the first byte picks the message decoder (the handshake's
// Hello, Welcome and Reject, Ack, Records); decoding arbitrary payloads
// never panics, errors are *FrameError, and what decodes re-encodes to
// something that decodes the same.
func FuzzMessages(f *testing.F) {
	for _, s := range seedPayloads() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		p := b[1:]
		var err error
		switch FrameType(b[0] % 8) {
		case FrameHello:
			var h Hello
			if h, err = DecodeHello(p); err == nil {
				h2, err2 := DecodeHello(AppendHello(nil, h))
				require.NoError(t, err2, "hello round trip")
				require.Equal(t, h, h2, "hello round trip")
			}
		case FrameWelcome:
			var w Welcome
			if w, err = DecodeWelcome(p); err == nil {
				w2, err2 := DecodeWelcome(AppendWelcome(nil, w))
				require.NoError(t, err2, "welcome round trip")
				require.Equal(t, w, w2, "welcome round trip")
			}
		case FrameReject:
			var r Reject
			if r, err = DecodeReject(p); err == nil {
				r2, err2 := DecodeReject(AppendReject(nil, r))
				require.NoError(t, err2, "reject round trip")
				require.Equal(t, r, r2, "reject round trip")
			}
		case FrameAck:
			_, err = DecodeAck(p)
		case FrameStateEnd:
			var e StateEnd
			if e, err = DecodeStateEnd(p); err == nil {
				e2, err2 := DecodeStateEnd(AppendStateEnd(nil, e))
				require.NoError(t, err2, "state end round trip")
				require.Equal(t, e, e2, "state end round trip")
			}
		case FrameRecords:
			var b Batch
			if b, err = DecodeBatch(p); err == nil {
				b2, err2 := DecodeBatch(AppendBatch(nil, b))
				require.NoError(t, err2, "records round trip")
				require.Equal(t, b.Committed, b2.Committed, "records round trip: Committed")
				require.Equal(t, b.Flags, b2.Flags, "records round trip: Flags")
				require.Len(t, b2.Records, len(b.Records), "records round trip")
			}
		}
		if err != nil {
			var fe *FrameError
			require.ErrorAs(t, err, &fe, "untyped error")
		}
	})
}

func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzFrameReader": seedFrames(), "FuzzMessages": seedPayloads(),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, s := range seeds {
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s), 0o644))
		}
	}
}
