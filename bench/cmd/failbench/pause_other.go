//go:build !linux

package main

import "time"

// pause sleeps about d (at least the runtime timers' granularity).
func pause(d time.Duration) { time.Sleep(d) }
