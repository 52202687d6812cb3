// Package blobview lets a bucket driver lend the bytes of a range it reads
// instead of copying them into the caller's buffer: a range reader whose
// As accepts a *View fills it. localblob maps the object file; a snapshot
// restore that decrypts straight out of the mapping saves the copy out
// of the page cache (on incompressible data, one core restored 9–15%
// faster: bench/README.md).
//
// The bytes are read-only, and valid until the reader is closed. They may
// be a mapping of a file that another process can truncate: reading past
// its new end raises SIGBUS, so a goroutine that reads a View sets
// debug.SetPanicOnFault and recovers the fault as an error (Fault).
package blobview

import (
	"errors"
	"fmt"
	"runtime"
)

// View is a range's bytes, lent by the driver. Bytes is the whole range.
type View struct {
	Bytes []byte
}

// Fault returns, for a value recovered from a panic, the error of a
// memory fault (a View whose file shrank under it); for any other value
// nil (re-panic it). Only a goroutine that set debug.SetPanicOnFault sees
// such a panic instead of a crash.
func Fault(p any) error {
	re, ok := p.(runtime.Error)
	if !ok {
		return nil
	}
	var addr interface{ Addr() uintptr }
	if !errors.As(re, &addr) {
		return nil
	}
	return fmt.Errorf("a mapped object faulted at address %#x: its file changed while it was read", addr.Addr())
}
