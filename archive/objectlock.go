package archive

import (
	"strings"
	"time"
)

// LockSealed is snapshot.ObjectLock's Sealed for the archive's objects:
// WAL objects and timelines are locked for window (the point-in-time
// window: none is needed longer, and ApplyRetention deletes them once it
// has passed); heads and pins, which the archiver replaces every few
// seconds, are not locked. Other names get other(name) (nil: 0).
func LockSealed(window time.Duration, other func(name string) time.Duration) func(name string) time.Duration {
	return func(name string) time.Duration {
		switch {
		case strings.HasPrefix(name, headPrefix), strings.HasPrefix(name, pinPrefix):
			return 0
		case strings.HasPrefix(name, archivePrefix):
			return window
		case other != nil:
			return other(name)
		}
		return 0
	}
}
