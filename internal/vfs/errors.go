package vfs

import "errors"

// ErrLocked is returned (wrapped) by FS.Lock when another process or
// another open handle in this process holds the lock.
var ErrLocked = errors.New("vfs: lock held by another process")
