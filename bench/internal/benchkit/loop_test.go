package benchkit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoopWaitsForACall: calls far longer than the window still leave one
// counted call in it.
func TestLoopWaitsForACall(t *testing.T) {
	var calls atomic.Int64
	counted := make([]int, 3)
	var starts, ends int
	w, err := Loop{
		Writers: 3, Warmup: 0, Duration: time.Millisecond,
		Call: func(int) error { calls.Add(1); time.Sleep(20 * time.Millisecond); return nil },
		Counted: func(i int, began, returned time.Time) {
			if !returned.After(began) {
				t.Errorf("writer %d: returned %v before it began %v", i, returned, began)
			}
			counted[i]++
		},
		AtStart: func() { starts++ },
		AtEnd:   func() { ends++ },
	}.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := counted[0] + counted[1] + counted[2]
	if total == 0 || int64(total) > calls.Load() {
		t.Errorf("counted %v of %d calls", counted, calls.Load())
	}
	if w.Elapsed < time.Millisecond || w.Start.IsZero() {
		t.Errorf("window %+v shorter than its Duration", w)
	}
	if starts != 1 || ends != 1 {
		t.Errorf("AtStart ran %d times, AtEnd %d", starts, ends)
	}
}

// TestLoopErrors: a call's error, or the context's end, ends the run with
// that error once every writer has returned.
func TestLoopErrors(t *testing.T) {
	boom := errors.New("boom")
	var n atomic.Int64
	_, err := Loop{Writers: 2, Warmup: time.Hour, Duration: time.Hour, Call: func(int) error {
		if n.Add(1) > 5 {
			return boom
		}
		return nil
	}}.Run(context.Background())
	if !errors.Is(err, boom) {
		t.Errorf("call error: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, err = Loop{Writers: 2, Duration: time.Millisecond, AtStart: cancel, Call: func(int) error {
		<-ctx.Done()
		return nil
	}}.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("context ended: %v", err)
	}
}
