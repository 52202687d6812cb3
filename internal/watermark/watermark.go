package watermark

import (
	"context"
	"sync"
)

// Mark is a position that goroutines wait to reach. It usually only
// rises (Advance); Set also lowers it, for the rare owner that moves a
// position back (a log cut back to a fork point).
//
// The zero value is a Mark at 0, ready to use. A Mark is safe for
// concurrent use and must not be copied after first use.
type Mark[T ~uint64] struct {
	mu   sync.Mutex
	v    T
	next next
}

// Load returns the mark's current position.
func (m *Mark[T]) Load() T {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v
}

// Advance raises the mark to v and wakes the waiters, if v is above the
// current position; otherwise it does nothing.
func (m *Mark[T]) Advance(v T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v <= m.v {
		return
	}
	m.v = v
	m.next.wake()
}

// Set moves the mark to v, even below its current position, and wakes
// the waiters if it moved. A Wait whose goroutine did not run while the
// mark was at or above its target may miss a position that Set lowers
// again: it returns only once the mark is at or above the target when it
// looks.
func (m *Mark[T]) Set(v T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v == m.v {
		return
	}
	m.v = v
	m.next.wake()
}

// Wait blocks until the mark is at or above v, then returns nil, or until
// ctx is done, then returns ctx.Err(). A mark already at v returns nil
// even when ctx is done.
func (m *Mark[T]) Wait(ctx context.Context, v T) error {
	for {
		m.mu.Lock()
		cur, ch := m.v, m.next.get()
		m.mu.Unlock()
		if cur >= v {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Changed returns a channel that is closed at the mark's next move (by
// Advance or Set), for waiting in a select beside other channels. Call it
// before Load, or a move between the two is missed. The channel is never
// sent on; a closed one stays closed, so call Changed again for the move
// after.
func (m *Mark[T]) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next.get()
}

// Signal broadcasts that something changed, without saying what: the
// waiters re-check the state they care about. The zero value is ready to
// use. A Signal is safe for concurrent use and must not be copied after
// first use.
type Signal struct {
	mu     sync.Mutex
	next   next
	closed bool
}

// Broadcast closes the channel the last Changed returned, waking every
// goroutine waiting on it. Without waiters it does nothing.
func (s *Signal) Broadcast() {
	s.mu.Lock()
	s.next.wake()
	s.mu.Unlock()
}

// Close wakes every waiter, like Broadcast, and ends the Signal: from
// then on Changed returns a closed channel and Broadcast does nothing
// (an owner that shuts down, whose waiters must not wait any more).
func (s *Signal) Close() {
	s.mu.Lock()
	s.next.wake()
	s.closed = true
	s.mu.Unlock()
}

// Changed returns a channel that is closed at the next Broadcast (or
// already closed, after Close). Call it
// before reading the state the Signal guards (or under the same lock as
// that read, if Broadcast is called under it), or a change between the
// two is missed. The channel is never sent on.
func (s *Signal) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return closedCh
	}
	return s.next.get()
}

// closedCh is what Changed returns after Close.
var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// next is the channel closed at the next change, made only when someone
// asks for it. The owner's mutex guards it.
type next struct{ ch chan struct{} }

func (n *next) get() <-chan struct{} {
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *next) wake() {
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}
