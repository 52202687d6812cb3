package peers

import (
	"context"
	"sync"

	"github.com/continuity-go/continuity/wal"
)

// continuityLog adapts *wal.Log, used with its defaults, optionally with
// a retention goroutine.
type continuityLog struct {
	log    *wal.Log
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	_ Appender     = (*continuityLog)(nil)
	_ BatchCounter = (*continuityLog)(nil)
)

func openContinuity(dir string, retention bool) (*continuityLog, error) {
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		return nil, err
	}
	c := &continuityLog{log: l, cancel: func() {}}
	if retention {
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		c.wg.Go(func() { c.retain(ctx) })
	}
	return c, nil
}

// retain drops the sealed segments whenever the log has more than one:
// it waits on the log's progress, never on a timer.
func (c *continuityLog) retain(ctx context.Context) {
	for {
		_, _, more := c.log.Progress()
		if c.log.Stats().Segments > 1 {
			_ = c.log.TruncateFront(c.log.Last())
		}
		select {
		case <-ctx.Done():
			return
		case <-more:
		}
	}
}

func (c *continuityLog) Append(p []byte) error {
	_, _, err := c.log.Append(context.Background(), p)
	return err
}

func (c *continuityLog) Counters() Counters {
	s := c.log.Stats()
	return Counters{Records: s.Records, Bytes: s.Bytes, Batches: s.Batches, Segments: uint64(s.Segments)}
}

func (c *continuityLog) Close() error {
	c.cancel()
	c.wg.Wait()
	return c.log.Close()
}
