package main

import (
	"syscall"
	"time"
)

// pause sleeps about d, blocking the thread: the Go runtime's timers
// sleep at least about 1 ms on an idle Linux machine, nanosleep(2) keeps
// a 0.5 ms interval within a few tens of microseconds.
func pause(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}
