package localblob

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"gocloud.dev/gcerrors"
)

// Errors a bucket's operations wrap; blob reports them through
// gcerrors.Code as the code each comment names.
var (
	// ErrInvalidKey: the key is empty, not UTF-8, or lies in the
	// temporary area (gcerrors.InvalidArgument).
	ErrInvalidKey = errors.New("localblob: invalid key")

	// ErrExists: a write with IfNotExist found the key taken
	// (gcerrors.FailedPrecondition).
	ErrExists = errors.New("localblob: object exists")

	// ErrKeyConflict: the key's path runs through an object, or is a
	// directory of other keys, as "a/b" does when "a" exists and the
	// other way round (gcerrors.Unknown, as fileblob reports it).
	ErrKeyConflict = errors.New("localblob: key conflicts with the path of another key")

	// ErrNotSupported: the write asks to store attributes the driver
	// cannot keep durably, or for a signed URL (gcerrors.Unimplemented).
	ErrNotSupported = errors.New("localblob: not supported")

	// ErrReadOnly: the bucket's directory could not be written when it was
	// opened, so the bucket only reads (gcerrors.PermissionDenied).
	ErrReadOnly = errors.New("localblob: bucket opened read-only")
)

// errNotFound is wrapped by every "no such object" error; such errors
// also match fs.ErrNotExist.
var errNotFound = errors.New("localblob: object not found")

// notFound reports that key names no object; cause is the file-system
// error, if any.
func notFound(key string, cause error) error {
	if cause == nil {
		cause = fs.ErrNotExist
	}
	return &keyError{op: "not found", key: key, err: errors.Join(errNotFound, cause)}
}

// keyError is an error about one key. Its message names the key, as blob
// expects of NotFound errors.
type keyError struct {
	op  string
	key string
	err error
}

func (e *keyError) Error() string {
	return "localblob: " + e.op + " " + quoteKey(e.key) + ": " + e.err.Error()
}
func (e *keyError) Unwrap() error { return e.err }

// errorCode maps an error of this package, or of the file system under
// it, to a gcerrors code.
func errorCode(err error) gcerrors.ErrorCode {
	switch {
	case err == nil:
		return gcerrors.OK
	case errors.Is(err, errNotFound), errors.Is(err, fs.ErrNotExist):
		return gcerrors.NotFound
	case errors.Is(err, ErrExists):
		return gcerrors.FailedPrecondition
	case errors.Is(err, ErrInvalidKey), errors.Is(err, syscall.ENAMETOOLONG):
		return gcerrors.InvalidArgument
	case errors.Is(err, ErrNotSupported):
		return gcerrors.Unimplemented
	case errors.Is(err, context.Canceled):
		return gcerrors.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return gcerrors.DeadlineExceeded
	case errors.Is(err, ErrReadOnly), errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return gcerrors.PermissionDenied
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return gcerrors.ResourceExhausted
	}
	return gcerrors.Unknown
}
