package peers_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/continuity-go/continuity/bench/internal/peers"
	"github.com/continuity-go/continuity/wal"
	twal "github.com/tidwall/wal"
	ewal "go.etcd.io/etcd/server/v3/storage/wal"
	"go.uber.org/zap"
)

// TestAppenders appends from several goroutines to every implementation
// and reads the log back with the library itself: the adapters must write
// every record they acknowledge.
func TestAppenders(t *testing.T) {
	const writers, each = 4, 25
	for _, impl := range peers.Impls() {
		t.Run(string(impl), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			a, err := peers.Open(impl, dir)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					p := peers.Payload(100, uint64(w))
					for range each {
						if err := a.Append(p); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if bc, ok := a.(peers.BatchCounter); ok {
				if c := bc.Counters(); c.Records != writers*each || c.Batches == 0 || c.Batches > c.Records {
					t.Errorf("counters %+v, want %d records in 1 to %d batches", c, writers*each, writers*each)
				}
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if got := countRecords(t, impl, dir); got != writers*each {
				t.Errorf("read back %d records, want %d", got, writers*each)
			}
		})
	}
}

func countRecords(t *testing.T, impl peers.Impl, dir string) int {
	t.Helper()
	switch impl {
	case peers.Continuity, peers.ContinuityRetention: // 100 small records: one segment, nothing dropped
		l, err := wal.Open(dir, wal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		r := l.NewReader(l.First())
		defer r.Close()
		n := 0
		for range l.Last() - l.First() + 1 {
			rec, err := r.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Data) != 100 {
				t.Fatalf("record %d has %d bytes, want 100", rec.LSN, len(rec.Data))
			}
			n++
		}
		return n
	case peers.Tidwall, peers.TidwallGroup:
		l, err := twal.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		first, err := l.FirstIndex()
		if err != nil {
			t.Fatal(err)
		}
		last, err := l.LastIndex()
		if err != nil {
			t.Fatal(err)
		}
		return int(last - first + 1)
	case peers.Etcd, peers.EtcdGroup:
		w, err := ewal.OpenForRead(zap.NewNop(), filepath.Join(dir, "wal"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		_, _, ents, err := w.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range ents {
			if e.GetIndex() != uint64(i+1) || len(e.GetData()) != 100 {
				t.Fatalf("entry %d: index %d, %d bytes", i, e.GetIndex(), len(e.GetData()))
			}
		}
		return len(ents)
	}
	t.Fatalf("no reader for %s", impl)
	return 0
}

func TestRawFile(t *testing.T) {
	for _, mode := range []peers.RawMode{peers.RawPrealloc, peers.RawAppend} {
		t.Run(string(mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "raw")
			r, err := peers.OpenRaw(path, mode)
			if err != nil {
				t.Fatal(err)
			}
			p := peers.Payload(4096, 1)
			for range 3 {
				if err := r.Append(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := 3 * 4096
			if mode == peers.RawPrealloc {
				want = peers.RawPreallocBytes
			}
			if len(b) != want || !bytes.Equal(b[2*4096:3*4096], p) {
				t.Errorf("file has %d bytes, want %d, with the payload at 8 KiB", len(b), want)
			}
		})
	}
	if _, err := peers.OpenRaw(filepath.Join(t.TempDir(), "x"), "bogus"); err == nil {
		t.Error("OpenRaw accepted an unknown mode")
	}
}

func TestPayloadDeterministic(t *testing.T) {
	a, b, c := peers.Payload(1000, 7), peers.Payload(1000, 7), peers.Payload(1000, 8)
	if !bytes.Equal(a, b) {
		t.Error("same seed, different bytes")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds, same bytes")
	}
	if bytes.Equal(a, make([]byte, 1000)) {
		t.Error("payload is all zeros")
	}
}
