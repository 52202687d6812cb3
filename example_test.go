package continuity_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/continuity-go/continuity"
)

// total is a state machine: the sum of the numbers in the events.
type total struct {
	mu  sync.Mutex
	sum int
}

func (t *total) Apply(rec continuity.Record) error {
	n, err := strconv.Atoi(string(rec.Data))
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sum += n
	return nil
}

func (t *total) Snapshot(w io.Writer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := fmt.Fprint(w, t.sum)
	return err
}

func (t *total) Restore(r io.Reader) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := fmt.Fscan(r, &t.sum)
	return err
}

func (t *total) Sum() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sum
}

// A single node with its archive in a local directory: events appended
// are durable when Append returns, and in the state once WaitFor
// returns.
func Example() {
	dir, err := os.MkdirTemp("", "continuity-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	sm := &total{}
	n, err := continuity.Open(ctx, continuity.Config{
		Dir:     filepath.Join(dir, "node"),
		Archive: "file://" + filepath.ToSlash(filepath.Join(dir, "archive")) + "?create_dir=1",
		Logger:  slog.New(slog.DiscardHandler),
	}, sm)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	first, last, err := n.Append(ctx, []byte("1"), []byte("2"), []byte("3"))
	if err != nil {
		log.Fatal(err)
	}
	if err := n.WaitFor(ctx, last); err != nil { // read-your-writes
		log.Fatal(err)
	}
	fmt.Printf("LSNs %d..%d, sum %d\n", first, last, sm.Sum())
	// Output: LSNs 1..3, sum 6
}
