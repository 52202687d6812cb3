package peers

import (
	"sync"

	twal "github.com/tidwall/wal"
)

// tidwallLog adapts *twal.Log, a single-writer log that fsyncs every Write
// when NoSync is false.
type tidwallLog struct {
	mu   sync.Mutex
	log  *twal.Log
	next uint64 // index of the next record
}

var _ Appender = (*tidwallLog)(nil)

func openTidwallLog(dir string) (*twal.Log, uint64, error) {
	// A fresh Options each time: Open fills in defaults in place.
	l, err := twal.Open(dir, &twal.Options{NoSync: false})
	if err != nil {
		return nil, 0, err
	}
	last, err := l.LastIndex()
	if err != nil {
		l.Close()
		return nil, 0, err
	}
	return l, last + 1, nil
}

func openTidwall(dir string) (*tidwallLog, error) {
	l, next, err := openTidwallLog(dir)
	if err != nil {
		return nil, err
	}
	return &tidwallLog{log: l, next: next}, nil
}

func (t *tidwallLog) Append(p []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.log.Write(t.next, p); err != nil {
		return err
	}
	t.next++
	return nil
}

func (t *tidwallLog) Close() error { return t.log.Close() }

// tidwallGroup writes groups of concurrent appends with one WriteBatch
// (one write, one fsync).
type tidwallGroup struct {
	*groupCommitter
	log   *twal.Log
	next  uint64 // owned by the committer goroutine
	batch twal.Batch
}

var (
	_ Appender     = (*tidwallGroup)(nil)
	_ BatchCounter = (*tidwallGroup)(nil)
)

func openTidwallGroup(dir string) (*tidwallGroup, error) {
	l, next, err := openTidwallLog(dir)
	if err != nil {
		return nil, err
	}
	t := &tidwallGroup{log: l, next: next}
	t.groupCommitter = newGroupCommitter(t.write)
	return t, nil
}

func (t *tidwallGroup) write(batch [][]byte) (int, error) {
	n := 0
	t.batch.Clear()
	for i, p := range batch {
		t.batch.Write(t.next+uint64(i), p)
		n += len(p)
	}
	if err := t.log.WriteBatch(&t.batch); err != nil {
		return 0, err
	}
	t.next += uint64(len(batch))
	return n, nil
}

func (t *tidwallGroup) Close() error {
	t.shutdown()
	return t.log.Close()
}
