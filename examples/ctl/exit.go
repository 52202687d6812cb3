package main

import (
	"context"
	"errors"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/snapshot"
)

// Exit statuses (see the package documentation). Scripts branch on them,
// so each kind of failure has its own.
const (
	exitOK          = 0
	exitFailed      = 1   // the command could not run: the bucket, a file, the network
	exitUsage       = 2   // a wrong command, flag or argument; a target file that must not be replaced
	exitIntegrity   = 3   // verify, drill or restore found damage or missing records
	exitNotFound    = 4   // no archive at the URL, no such snapshot or slot, a target outside the window
	exitWrongKey    = 5   // no key slot opens with the key given (of those tried), or none is readable, or it holds too old a key epoch
	exitLocked      = 6   // another process holds the archive's lock
	exitInterrupted = 130 // interrupted (Ctrl-C, SIGTERM)
)

// exitError carries the exit status and the JSON kind for err.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usage marks err as a usage error.
func usage(err error) error { return &exitError{exitUsage, err} }

// withCode marks err with an exit status.
func withCode(code int, err error) error { return &exitError{code, err} }

// classify returns the exit status for err and its kind as --json names
// it.
func classify(err error) (int, string) {
	var ee *exitError
	code := exitFailed
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.Is(err, context.Canceled):
		code = exitInterrupted
	case errors.Is(err, snapshot.ErrWrongKey), errors.Is(err, snapshot.ErrTooManySlots), errors.Is(err, snapshot.ErrKeyEpoch):
		code = exitWrongKey
	case errors.Is(err, archive.ErrNothingToRestore) && damaged(err):
		code = exitIntegrity // nothing to restore because the first object is damaged
	case errors.Is(err, snapshot.ErrNoRepository), errors.Is(err, snapshot.ErrNotFound), errors.Is(err, snapshot.ErrDestroyed),
		errors.Is(err, archive.ErrOutOfWindow), errors.Is(err, archive.ErrNothingToRestore):
		code = exitNotFound
	case errors.Is(err, snapshot.ErrLocked):
		code = exitLocked
	case damaged(err):
		code = exitIntegrity
	}
	return code, kindOf[code]
}

// damaged reports whether err says stored bytes failed their checks.
func damaged(err error) bool {
	for _, e := range []error{snapshot.ErrCorrupt, snapshot.ErrTruncated, snapshot.ErrReplayed,
		archive.ErrCorrupt, archive.ErrGap, archive.ErrBrokenChain} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// kindOf names each exit status in --json error output.
var kindOf = map[int]string{
	exitOK:          "ok",
	exitFailed:      "error",
	exitUsage:       "usage",
	exitIntegrity:   "integrity",
	exitNotFound:    "not_found",
	exitWrongKey:    "wrong_key",
	exitLocked:      "locked",
	exitInterrupted: "interrupted",
}
