// Package blobview lets a bucket driver lend the bytes of a range it reads
// instead of copying them into the caller's buffer: a range reader whose
// As accepts a *View fills it. localblob maps the object file; a snapshot
// restore that decrypts straight out of the mapping saves the copy out
// of the page cache (the gain is measured in bench/README.md).
//
// The bytes are read-only, and valid until the reader is closed. They may
// be a mapping of a file that another process can truncate, or that the
// disk fails to read: reading such bytes raises SIGBUS, so a goroutine
// reads a View with debug.SetPanicOnFault set and passes what it
// recovers to Fault. Another process may also change the bytes while they
// are read: a reader authenticates what it keeps after it has left the
// View.
package blobview

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// View is a range's bytes, lent by the driver. Bytes is the whole range.
type View struct {
	Bytes []byte
}

// ErrFault is the cause of Fault's errors: reading a View faulted.
var ErrFault = errors.New("blobview: reading a mapped object faulted: its file was truncated, or could not be read (an I/O error)")

// Fault returns, for a value recovered from a panic, an error wrapping
// ErrFault if the panic is a memory fault inside view; for any other
// value nil (re-panic it). Only a goroutine that set
// debug.SetPanicOnFault sees such a panic instead of a crash.
func Fault(p any, view []byte) error {
	re, ok := p.(runtime.Error)
	if !ok || len(view) == 0 {
		return nil
	}
	var addr interface{ Addr() uintptr }
	if !errors.As(re, &addr) {
		return nil
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(view)))
	at := addr.Addr()
	if at < start || at-start >= uintptr(len(view)) {
		return nil
	}
	return fmt.Errorf("%w, %d bytes into the range", ErrFault, at-start)
}
