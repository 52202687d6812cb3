package testkit

import (
	"fmt"
	"testing"
	"time"
)

const (
	// EventuallyTimeout is how long Eventually polls before it fails the
	// test. It bounds a hang; it is never a timing assertion. It is
	// generous because CI runs the tests with the race detector on a busy
	// 2-core machine shared with other builds, where an election, a
	// lease or a child process can take many times longer than on a
	// laptop. A test that must show that something happens quickly
	// measures and logs the time instead (benchmarks judge speed).
	EventuallyTimeout = time.Minute

	// EventuallyTick is how long Eventually waits between two calls of the
	// condition: short, so that a test goes on soon after the condition
	// holds.
	EventuallyTick = 10 * time.Millisecond
)

// Eventually calls cond until it returns true, and fails the test with
// t.Fatalf if it has not after EventuallyTimeout. The message names what
// the test waited for: format and args as in fmt.Sprintf, formatted when
// Eventually is called, so they describe the expectation rather than the
// last observation (a condition that wants the last observation in the
// log can call t.Logf when it changes).
//
// cond is called first at once, then every EventuallyTick, always on the
// calling goroutine (unlike testify's Eventually, which calls it on a
// goroutine of its own and leaves that goroutine running after a
// timeout): cond may read the test's variables without a lock and may
// call t.Fatal, and no call of cond outlives Eventually. Like t.Fatalf,
// Eventually must be called from the goroutine running the test.
//
// Use it where a test waits for another goroutine or process to reach a
// state that no channel, context or WaitFor-style method reports. It is
// not for "never" checks: a condition that must stay false for a while
// is watched over a window the scenario defines.
func Eventually(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	eventually(t, EventuallyTimeout, EventuallyTick, cond, format, args...)
}

// eventually is Eventually with the timeout and the tick as parameters,
// so that its own test need not wait a minute.
func eventually(t testing.TB, timeout, tick time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if cond() {
		return
	}
	start := time.Now()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for range ticker.C {
		if cond() {
			return
		}
		if time.Since(start) >= timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, fmt.Sprintf(format, args...))
		}
	}
}
