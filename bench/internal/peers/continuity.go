package peers

import (
	"context"

	"github.com/continuity-go/continuity/wal"
)

// continuityLog adapts *wal.Log, used with its defaults.
type continuityLog struct {
	log *wal.Log
}

var (
	_ Appender     = (*continuityLog)(nil)
	_ BatchCounter = (*continuityLog)(nil)
)

func openContinuity(dir string) (*continuityLog, error) {
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		return nil, err
	}
	return &continuityLog{log: l}, nil
}

func (c *continuityLog) Append(p []byte) error {
	_, _, err := c.log.Append(context.Background(), p)
	return err
}

func (c *continuityLog) Counters() Counters {
	s := c.log.Stats()
	return Counters{Records: s.Records, Bytes: s.Bytes, Batches: s.Batches, Segments: uint64(s.Segments)}
}

func (c *continuityLog) Close() error { return c.log.Close() }
