package snapshot

import (
	"context"
	"io"
	"time"

	"golang.org/x/time/rate"
)

// minLimit is the least UploadLimit or ReadLimit: 64 KiB/s.
const minLimit = 64 << 10

// throttlePiece is how many bytes a throttled transfer waits for at a
// time, so that a pack goes out at the limit rather than in bursts of
// its whole size.
const throttlePiece = 256 << 10

// throttle is a token bucket of bytes per second, on the Repo's clock
// (Options.Now and Options.Sleep). A nil *throttle lets everything
// through.
type throttle struct {
	lim   *rate.Limiter
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// newThrottle returns a throttle of limit bytes per second, or nil for
// 0; the bucket holds one second's worth.
func newThrottle(limit int64, o Options) *throttle {
	if limit <= 0 {
		return nil
	}
	return &throttle{lim: rate.NewLimiter(rate.Limit(limit), int(limit)), now: o.Now, sleep: o.Sleep}
}

// wait takes n bytes from the bucket, sleeping until they are there.
func (t *throttle) wait(ctx context.Context, n int) error {
	if t == nil {
		return nil
	}
	for n > 0 {
		k := min(n, t.lim.Burst())
		now := t.now()
		r := t.lim.ReserveN(now, k)
		if d := r.DelayFrom(now); d > 0 {
			if err := t.sleep(ctx, d); err != nil {
				r.CancelAt(t.now())
				return err
			}
		}
		n -= k
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// throttledReader reads from r at most throttlePiece bytes a call and
// takes what it read from t before returning it.
type throttledReader struct {
	ctx context.Context
	r   io.Reader
	t   *throttle
}

func (tr *throttledReader) Read(p []byte) (int, error) {
	n, err := tr.r.Read(p[:min(len(p), throttlePiece)])
	if werr := tr.t.wait(tr.ctx, n); werr != nil {
		return n, werr
	}
	return n, err
}
