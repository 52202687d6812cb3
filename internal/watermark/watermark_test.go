package watermark

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lsn stands for wal.LSN, which this package must not import.
type lsn uint64

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestMarkMoves(t *testing.T) {
	type op struct {
		set  bool // Set, else Advance
		v    lsn
		want lsn  // Load after the op
		wake bool // whether it closes the Changed channel taken before it
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"zero value", nil},
		{"advance", []op{{v: 3, want: 3, wake: true}, {v: 7, want: 7, wake: true}}},
		{"advance to zero", []op{{v: 0, want: 0}}},
		{"advance lower", []op{{v: 5, want: 5, wake: true}, {v: 2, want: 5}}},
		{"advance equal", []op{{v: 5, want: 5, wake: true}, {v: 5, want: 5}}},
		{"set higher", []op{{set: true, v: 4, want: 4, wake: true}}},
		{"set lower", []op{{v: 9, want: 9, wake: true}, {set: true, v: 2, want: 2, wake: true}}},
		{"set equal", []op{{v: 9, want: 9, wake: true}, {set: true, v: 9, want: 9}}},
		{"advance after set lower", []op{{v: 9, want: 9, wake: true}, {set: true, v: 2, want: 2, wake: true}, {v: 5, want: 5, wake: true}}},
		{"top", []op{{v: ^lsn(0), want: ^lsn(0), wake: true}, {v: 1, want: ^lsn(0)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Mark[lsn]
			assert.Equal(t, lsn(0), m.Load())
			for i, o := range tt.ops {
				ch := m.Changed()
				if o.set {
					m.Set(o.v)
				} else {
					m.Advance(o.v)
				}
				assert.Equal(t, o.want, m.Load(), "op %d", i)
				assert.Equal(t, o.wake, isClosed(ch), "op %d: Changed channel closed", i)
			}
		})
	}
}

func TestMarkChanged(t *testing.T) {
	var m Mark[lsn]
	a, b := m.Changed(), m.Changed()
	require.Equal(t, a, b, "Changed before a move returns the same channel")
	require.False(t, isClosed(a))

	m.Advance(1)
	assert.True(t, isClosed(a))
	c := m.Changed()
	assert.NotEqual(t, a, c, "Changed after a move returns a new channel")
	assert.False(t, isClosed(c))

	m.Advance(1)
	m.Set(1)
	assert.False(t, isClosed(c), "no move, no wake")
	m.Set(0)
	assert.True(t, isClosed(c))
}

func TestMarkWaitReady(t *testing.T) {
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
	defer cancel()
	tests := []struct {
		name   string
		at     lsn
		target lsn
		ctx    context.Context
		want   error
	}{
		{"zero target on zero value", 0, 0, t.Context(), nil},
		{"reached", 5, 5, t.Context(), nil},
		{"passed", 9, 5, t.Context(), nil},
		{"reached, ctx canceled", 5, 5, canceled, nil},
		{"below, ctx canceled", 4, 5, canceled, context.Canceled},
		{"below, deadline passed", 4, 5, expired, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Mark[lsn]
			m.Set(tt.at)
			err := m.Wait(tt.ctx, tt.target)
			assert.ErrorIs(t, err, tt.want)
			if tt.want == nil {
				assert.NoError(t, err)
			}
		})
	}
}

// waitAsync starts m.Wait(ctx, v) and returns the channel its result
// arrives on.
func waitAsync(ctx context.Context, m *Mark[lsn], v lsn) <-chan error {
	done := make(chan error, 1)
	go func() { done <- m.Wait(ctx, v) }()
	return done
}

func TestMarkWaitBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Mark[lsn]
		done := waitAsync(t.Context(), &m, 10)
		for _, step := range []struct {
			set bool
			v   lsn
		}{{v: 3}, {v: 9}, {set: true, v: 1}, {v: 2}} {
			if step.set {
				m.Set(step.v)
			} else {
				m.Advance(step.v)
			}
			synctest.Wait()
			require.Empty(t, done, "Wait(10) returned at %d", m.Load())
		}
		m.Advance(10)
		synctest.Wait()
		require.Len(t, done, 1, "Wait(10) still blocked at 10")
		assert.NoError(t, <-done)
	})
}

func TestMarkWaitCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Mark[lsn]
		ctx, cancel := context.WithCancelCause(t.Context())
		done := waitAsync(ctx, &m, 1)
		synctest.Wait()
		require.Empty(t, done)
		cancel(errors.New("stop"))
		assert.ErrorIs(t, <-done, context.Canceled, "Wait returns ctx.Err(), not the cause")

		ctx, cancel2 := context.WithTimeout(t.Context(), time.Minute)
		defer cancel2()
		assert.ErrorIs(t, m.Wait(ctx, 1), context.DeadlineExceeded)
	})
}

// TestMarkConcurrent runs waiters, writers and Changed loops at once; run
// it with -race.
func TestMarkConcurrent(t *testing.T) {
	const writers, waiters, watchers, top = 4, 64, 4, 2000
	var m Mark[lsn]
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for i := range waiters {
		target := lsn(1 + i*top/waiters)
		wg.Go(func() { errs <- m.Wait(t.Context(), target) })
	}
	for range watchers {
		wg.Go(func() {
			for {
				ch := m.Changed()
				if m.Load() >= top {
					return
				}
				<-ch
			}
		})
	}
	// Waiters past the top wait until they are canceled.
	ctx, cancel := context.WithCancel(t.Context())
	beyond := make(chan error, waiters)
	var bwg sync.WaitGroup
	for i := range waiters {
		bwg.Go(func() { beyond <- m.Wait(ctx, top+1+lsn(i)) })
	}
	// Writer w advances through w+1, w+1+writers, …: one of them ends at
	// top, and the others' advances interleave below it.
	for w := range writers {
		wg.Go(func() {
			for v := lsn(w + 1); v <= top; v += writers {
				m.Advance(v)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Equal(t, lsn(top), m.Load())

	cancel()
	bwg.Wait()
	close(beyond)
	for err := range beyond {
		assert.ErrorIs(t, err, context.Canceled)
	}
}

func TestSignal(t *testing.T) {
	var s Signal
	s.Broadcast() // without waiters: nothing to wake
	a, b := s.Changed(), s.Changed()
	require.Equal(t, a, b)
	require.False(t, isClosed(a))
	s.Broadcast()
	assert.True(t, isClosed(a))
	c := s.Changed()
	assert.False(t, isClosed(c), "a new channel after a Broadcast")
	s.Broadcast()
	assert.True(t, isClosed(c))
}

// TestSignalClose: Close wakes the waiters and every later Changed is
// closed; a Broadcast after it does nothing.
func TestSignalClose(t *testing.T) {
	var s Signal
	a := s.Changed()
	s.Close()
	assert.True(t, isClosed(a), "Close wakes the waiters")
	assert.True(t, isClosed(s.Changed()), "Changed after Close is closed")
	s.Broadcast()
	s.Close() // twice: no panic
	assert.True(t, isClosed(s.Changed()))
}

// TestSignalConcurrent uses a Signal as callers do: state under the
// caller's mutex, Broadcast and Changed under it too.
func TestSignalConcurrent(t *testing.T) {
	const waiters, top = 16, 1000
	var (
		mu sync.Mutex
		n  int
		s  Signal
	)
	var wg sync.WaitGroup
	for i := range waiters {
		target := 1 + i*top/waiters
		wg.Go(func() {
			for {
				mu.Lock()
				cur, ch := n, s.Changed()
				mu.Unlock()
				if cur >= target {
					return
				}
				<-ch
			}
		})
	}
	wg.Go(func() {
		for range top {
			mu.Lock()
			n++
			s.Broadcast()
			mu.Unlock()
		}
	})
	wg.Wait()
}

// TestMarkWaitProperty checks, against a model, that a Wait returns nil
// exactly when the mark reaches its target, returns ctx.Err() when
// canceled before, and that Changed channels close exactly on moves.
// Inside a synctest bubble, every step lets the waiters run to a block
// (synctest.Wait), so "has not returned" is exact.
func TestMarkWaitProperty(t *testing.T) {
	type waiter struct {
		target lsn
		cancel context.CancelFunc
		done   <-chan error
	}
	type watcher struct {
		ch    <-chan struct{}
		moved bool // the mark moved since ch was taken
	}
	rapid.Check(t, func(rt *rapid.T) {
		rapid.SyncTest(rt, func(rt *rapid.T) {
			var (
				m        Mark[lsn]
				v        lsn // the model
				pending  []waiter
				watchers []watcher
			)
			defer func() {
				for _, w := range pending {
					w.cancel()
					<-w.done
				}
			}()
			moveTo := func(next lsn) {
				if next != v {
					for i := range watchers {
						watchers[i].moved = true
					}
				}
				v = next
			}
			posGen := rapid.Custom(func(rt *rapid.T) lsn { return lsn(rapid.Uint64Range(0, 20).Draw(rt, "v")) })
			rt.Repeat(map[string]func(*rapid.T){
				"Advance": func(rt *rapid.T) {
					x := posGen.Draw(rt, "x")
					m.Advance(x)
					moveTo(max(v, x))
				},
				"Set": func(rt *rapid.T) {
					x := posGen.Draw(rt, "x")
					m.Set(x)
					moveTo(x)
				},
				"Wait": func(rt *rapid.T) {
					x := posGen.Draw(rt, "target")
					ctx, cancel := context.WithCancel(context.Background())
					pending = append(pending, waiter{target: x, cancel: cancel, done: waitAsync(ctx, &m, x)})
				},
				"WaitCanceled": func(rt *rapid.T) {
					x := posGen.Draw(rt, "target")
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					err := m.Wait(ctx, x)
					if x <= v {
						require.NoError(rt, err, "Wait(%d) at %d", x, v)
					} else {
						require.ErrorIs(rt, err, context.Canceled, "Wait(%d) at %d", x, v)
					}
				},
				"Cancel": func(rt *rapid.T) {
					if len(pending) == 0 {
						rt.Skip("no waiter")
					}
					i := rapid.IntRange(0, len(pending)-1).Draw(rt, "waiter")
					w := pending[i]
					pending = append(pending[:i], pending[i+1:]...)
					w.cancel()
					// Still pending after the last step: its target is
					// above the mark.
					require.ErrorIs(rt, <-w.done, context.Canceled)
				},
				"Changed": func(rt *rapid.T) {
					watchers = append(watchers, watcher{ch: m.Changed()})
				},
				"": func(rt *rapid.T) {
					require.Equal(rt, v, m.Load())
					for _, w := range watchers {
						require.Equal(rt, w.moved, isClosed(w.ch), "Changed channel closed")
					}
					synctest.Wait()
					still := pending[:0]
					for _, w := range pending {
						select {
						case err := <-w.done:
							require.NoError(rt, err)
							require.LessOrEqual(rt, w.target, v, "Wait(%d) returned at %d", w.target, v)
							w.cancel()
						default:
							require.Greater(rt, w.target, v, "Wait(%d) still blocked at %d", w.target, v)
							still = append(still, w)
						}
					}
					pending = still
				},
			})
		})
	})
}
