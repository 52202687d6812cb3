package snapshot

import (
	"sync"
	"time"
)

// progress rate-limits calls of Options.Progress for one operation.
type progress struct {
	fn       func(Progress)
	op       string
	total    int64
	interval time.Duration

	mu   sync.Mutex
	last time.Time
}

func newProgress(r *Repo, op string, total int64) *progress {
	return &progress{fn: r.opts.Progress, op: op, total: total, interval: r.opts.ProgressInterval, last: time.Now()}
}

// report passes n (bytes so far) on if the interval has passed. Safe for
// concurrent use; calls of fn never overlap.
func (p *progress) report(n int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= p.interval {
		p.last = now
		p.fn(Progress{Op: p.op, Bytes: n, Total: p.total})
	}
}

// done sends the final report.
func (p *progress) done(n int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn(Progress{Op: p.op, Bytes: n, Total: p.total, Done: true})
}
