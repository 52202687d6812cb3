package archive_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// history is a state machine: the events it applied, in order.
type history struct {
	mu     sync.Mutex
	events []string
}

func (h *history) Apply(rec wal.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, string(rec.Data))
	return nil
}

func (h *history) Snapshot(w io.Writer) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(w, strings.Join(h.events, "\n"))
	return err
}

func (h *history) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = strings.Split(string(b), "\n")
	return nil
}

// A log shipped to an archive, and the state rebuilt as of an LSN and as
// of an instant (point-in-time restore).
func ExampleRestoreTo() {
	dir, err := os.MkdirTemp("", "archive-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// The log stamps each record with this clock: 09:00, 09:01, 09:02.
	start := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	var minutes atomic.Int64
	clock := func() time.Time { return start.Add(time.Duration(minutes.Load()) * time.Minute) }
	l, err := wal.Open(filepath.Join(dir, "wal"), wal.Options{Now: clock})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	bucket, err := localblob.OpenBucket(filepath.Join(dir, "archive"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer bucket.Close()
	repo, err := snapshot.Init(ctx, bucket, snapshot.RawKey([32]byte{1}), snapshot.Format{}, snapshot.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer repo.Close()
	a, err := archive.NewArchiver(l, repo, archive.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()

	for i, ev := range []string{"open", "deposit 100", "withdraw 30"} {
		minutes.Store(int64(i))
		if _, _, err := l.Append(ctx, []byte(ev)); err != nil {
			log.Fatal(err)
		}
	}
	if err := a.Flush(ctx); err != nil { // everything appended is archived
		log.Fatal(err)
	}

	for _, target := range []archive.Target{archive.AtLSN(2), archive.AtTime(start.Add(30 * time.Second))} {
		var h history // a fresh state for each restore
		res, err := archive.RestoreTo(ctx, repo, target, &h, archive.RestoreOptions{})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("LSN %d (%s): %q\n", res.LSN, res.Time.Format("15:04"), h.events)
	}
	// Output:
	// LSN 2 (09:01): ["open" "deposit 100"]
	// LSN 1 (09:00): ["open"]
}
