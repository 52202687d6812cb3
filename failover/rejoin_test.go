package failover

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/continuity-go/continuity/wal"
)

func TestRejoin(t *testing.T) {
	ctx := context.Background()
	l, err := wal.Open(t.TempDir(), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 1; i <= 100; i++ {
		if _, _, err := l.Append(ctx, fmt.Appendf(nil, "event %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	st := State{Timeline: []TimelineEntry{{Epoch: 1, Fork: 0}, {Epoch: 2, Fork: 90}, {Epoch: 3, Fork: 80}, {Epoch: 4, Fork: 95}}}
	fork, ok := st.RejoinPoint(1)
	if !ok || fork != 80 {
		t.Fatalf("RejoinPoint(1) = %d, %v; want 80 (the lowest later fork)", fork, ok)
	}
	if _, ok := st.RejoinPoint(4); ok {
		t.Fatal("a node of the newest epoch has nothing to cut")
	}
	dir := t.TempDir()
	n, path, err := Rejoin(ctx, l, fork, dir)
	if err != nil || n != 20 || l.Last() != 80 {
		t.Fatalf("Rejoin: %d cut, last %d, %v", n, l.Last(), err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	want := wal.LSN(81)
	for sc.Scan() {
		var rec struct {
			LSN  wal.LSN `json:"lsn"`
			Data []byte  `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.LSN != want || string(rec.Data) != fmt.Sprintf("event %d", want) {
			t.Fatalf("quarantine line for LSN %d: %+v", want, rec)
		}
		want++
	}
	if want != 101 {
		t.Fatalf("quarantine ends before LSN %d", want)
	}
	if n, _, err := Rejoin(ctx, l, 80, dir); err != nil || n != 0 {
		t.Fatalf("a second Rejoin cut %d: %v", n, err)
	}
}
