package peers

import (
	"errors"
	"sync"
	"sync/atomic"
)

// errGroupClosed is returned by a groupCommitter's Append after Close.
var errGroupClosed = errors.New("peers: log closed")

// maxGroupBytes bounds the payload bytes of one group, as
// continuity's default Options.MaxBatchBytes does.
const maxGroupBytes = 4 << 20

// groupCommitter turns a single-writer log with a batch API into one that
// concurrent goroutines can append to: one committer goroutine takes
// everything queued (up to maxGroupBytes), hands it to write as one batch,
// and wakes the callers. It is the scheme continuity's WAL uses, so that
// the grouped peer rows compare storage code, not batching policy.
type groupCommitter struct {
	write func(batch [][]byte) (wrote int, err error)

	mu      sync.Mutex
	pending []*groupReq
	closed  bool
	wake    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup

	records, bytes, batches atomic.Uint64
}

type groupReq struct {
	p    []byte
	err  error
	done chan struct{}
}

// newGroupCommitter starts the committer. write must write and sync the
// batch and return how many bytes it wrote to the file.
func newGroupCommitter(write func(batch [][]byte) (int, error)) *groupCommitter {
	g := &groupCommitter{
		write: write,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.loop()
	}()
	return g
}

func (g *groupCommitter) Append(p []byte) error {
	r := &groupReq{p: p, done: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errGroupClosed
	}
	g.pending = append(g.pending, r)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	<-r.done
	return r.err
}

func (g *groupCommitter) loop() {
	var reqs []*groupReq
	var batch [][]byte
	for {
		select {
		case <-g.stop:
			return
		case <-g.wake:
		}
		for {
			reqs = g.take(reqs[:0])
			if len(reqs) == 0 {
				break
			}
			batch = batch[:0]
			for _, r := range reqs {
				batch = append(batch, r.p)
			}
			n, err := g.write(batch)
			if err == nil {
				g.records.Add(uint64(len(batch)))
				g.bytes.Add(uint64(n))
				g.batches.Add(1)
			}
			for _, r := range reqs {
				r.err = err
				close(r.done)
			}
		}
	}
}

// take moves up to maxGroupBytes of queued requests (at least one) into
// dst.
func (g *groupCommitter) take(dst []*groupReq) []*groupReq {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, k := 0, 0
	for k < len(g.pending) {
		n += len(g.pending[k].p)
		if k > 0 && n > maxGroupBytes {
			break
		}
		k++
	}
	dst = append(dst, g.pending[:k]...)
	rest := copy(g.pending, g.pending[k:])
	clear(g.pending[rest:])
	g.pending = g.pending[:rest]
	return dst
}

func (g *groupCommitter) Counters() Counters {
	return Counters{Records: g.records.Load(), Bytes: g.bytes.Load(), Batches: g.batches.Load()}
}

// shutdown fails appends still queued, stops the committer and waits for
// it. The batch being written completes first.
func (g *groupCommitter) shutdown() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	pend := g.pending
	g.pending = nil
	g.mu.Unlock()
	close(g.stop)
	g.wg.Wait()
	for _, r := range pend {
		r.err = errGroupClosed
		close(r.done)
	}
}
