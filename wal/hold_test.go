package wal

import (
	"context"
	"errors"
	"testing"
)

func TestHoldRefusesTruncateFront(t *testing.T) {
	l, err := Open(t.TempDir(), Options{SegmentBytes: 64 << 10, DisablePreallocation: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for i := 0; i < 2000; i++ {
		if _, _, err := l.Append(ctx, make([]byte, 200)); err != nil {
			t.Fatal(err)
		}
	}
	l.Hold("archive", 500)
	l.Hold("standby", 800)
	err = l.TruncateFront(900)
	var he *HoldError
	if !errors.As(err, &he) || !errors.Is(err, ErrHeld) || he.Holder != "archive" || he.Held != 500 || he.Requested != 900 {
		t.Fatalf("TruncateFront(900) = %v, want a HoldError for archive at 500", err)
	}
	if l.First() != 1 {
		t.Fatalf("a refused TruncateFront moved First to %d", l.First())
	}
	if err := l.TruncateFront(500); err != nil {
		t.Fatalf("TruncateFront up to the hold: %v", err)
	}
	if l.First() > 500 {
		t.Fatalf("First = %d, past the hold", l.First())
	}
	l.Hold("archive", 1500)
	if err := l.TruncateFront(900); !errors.As(err, &he) || he.Holder != "standby" {
		t.Fatalf("TruncateFront(900) = %v, want the standby's hold", err)
	}
	l.Release("standby")
	if err := l.TruncateFront(1500); err != nil {
		t.Fatal(err)
	}
	if got := l.Holds(); len(got) != 1 || got["archive"] != 1500 {
		t.Fatalf("Holds() = %v", got)
	}
}
