package wal_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// Append events, read them back, and find the last one at or before a
// point in time.
func Example() {
	dir, err := os.MkdirTemp("", "wal-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := wal.Open(dir, wal.Options{SegmentBytes: 1 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()

	// Both events are on disk when Append returns.
	first, last, err := l.Append(ctx, []byte(`{"order":1,"status":"placed"}`), []byte(`{"order":1,"status":"paid"}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended", first, "to", last)

	r := l.NewReader(first)
	defer r.Close()
	for range 2 {
		rec, err := r.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d: %s\n", rec.LSN, rec.Data)
	}

	lsn, err := l.LSNAt(time.Now())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("state as of now ends at LSN", lsn)
	// Output:
	// appended 1 to 2
	// 1: {"order":1,"status":"placed"}
	// 2: {"order":1,"status":"paid"}
	// state as of now ends at LSN 2
}

// A standby writes the records its primary sent, keeping their LSN, epoch
// and time; a gap is refused with a *SequenceError that says what is
// missing.
func ExampleLog_Write() {
	dir, err := os.MkdirTemp("", "wal-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := wal.Open(dir, wal.Options{SegmentBytes: 1 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	// A standby restored from a snapshot at LSN 100 continues at 101.
	err = l.Write(ctx, wal.Record{LSN: 101, Epoch: 3, Time: t, Data: []byte("a")})
	fmt.Println(err, l.First(), l.Last())

	err = l.Write(ctx, wal.Record{LSN: 103, Epoch: 3, Time: t, Data: []byte("c")})
	var se *wal.SequenceError
	if errors.As(err, &se) {
		fmt.Println("need LSN", se.Want, "got", se.LSN)
	}
	// Output:
	// <nil> 101 101
	// need LSN 102 got 103
}
