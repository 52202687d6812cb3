package archive

import (
	"errors"
	"fmt"
	"strings"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// Errors of the WAL archive. Each comes inside an *ObjectError that names
// the object concerned.
var (
	// ErrCorrupt: an archived object does not decrypt, does not
	// authenticate or does not decode (a flipped bit, a truncated upload,
	// an object of another repository or under another name).
	ErrCorrupt = errors.New("archive: archived object damaged")
	// ErrGap: records of the history are missing from the archive
	// (an object deleted or never uploaded).
	ErrGap = errors.New("archive: records missing from the archive")
	// ErrOffTimeline: an archived object belongs to an epoch that the
	// newest timeline does not contain (a primary that wrote without a
	// timeline, or an object planted in the bucket).
	ErrOffTimeline = errors.New("archive: archived object outside the timeline")
	// ErrBrokenChain: an archived object authenticates but does not
	// continue the history before it (its chain differs): it holds
	// another history's records under the same LSNs, such as a deposed
	// primary's or an old copy's.
	ErrBrokenChain = errors.New("archive: archived object does not continue the history")
)

// ObjectError reports a problem with one object of the WAL archive.
type ObjectError struct {
	Object string  // the object's name in the bucket
	LSN    wal.LSN // the first LSN concerned, if known
	Err    error   // ErrCorrupt, ErrGap, ErrOffTimeline, or a storage error
	Detail string  // what exactly is wrong
	// Cost, set by Verify, says what the problem costs: the LSNs and
	// instants that cannot be restored because of it, or that nothing
	// is lost (a base snapshot bridges it).
	Cost string
}

// Error names the object, the LSN and what is wrong.
func (e *ObjectError) Error() string {
	s := fmt.Sprintf("archive: object %s", e.Object)
	if e.LSN != 0 {
		s += fmt.Sprintf(" (LSN %d)", e.LSN)
	}
	s += ": " + strings.TrimPrefix(e.Err.Error(), "archive: ")
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the cause.
func (e *ObjectError) Unwrap() error { return e.Err }

// ErrDeposed is returned, and kept in Status.Deposed, once the archive
// holds a timeline newer than the archiver's epoch: a newer primary
// archives the history now, and this archiver stops.
var ErrDeposed = errors.New("archive: a newer timeline exists; this archiver's primary is deposed")

// ErrOutOfWindow is the cause inside a *WindowError.
var ErrOutOfWindow = errors.New("archive: restore target outside the restorable window")

// ErrNothingToRestore: the repository has neither archived records nor a
// base snapshot on the archive's timeline.
var ErrNothingToRestore = errors.New("archive: nothing to restore: no base snapshot and no archived records from LSN 1")

// archiveErr wraps a storage or unseal error for object name.
func archiveErr(name string, lsn wal.LSN, err error) error {
	var ae *ObjectError
	if errors.As(err, &ae) {
		return err
	}
	// The detail is the storage layer's cause, without the object's
	// name again.
	detail := err.Error()
	var se *snapshot.ObjectError
	if errors.As(err, &se) && se.Object == name {
		detail = se.Err.Error()
		if se.Offset >= 0 {
			detail += fmt.Sprintf(" (at byte %d)", se.Offset)
		}
	}
	switch {
	case errors.Is(err, snapshot.ErrMissing):
		return &ObjectError{Object: name, LSN: lsn, Err: ErrGap, Detail: "object missing"}
	case errors.Is(err, snapshot.ErrCorrupt), errors.Is(err, snapshot.ErrTruncated), errors.Is(err, snapshot.ErrKeyEpoch):
		// An object under a key epoch the key does not hold reads as
		// damaged here: it was retired, or its header altered.
		return &ObjectError{Object: name, LSN: lsn, Err: ErrCorrupt, Detail: detail}
	}
	var ve *snapshot.VersionError
	if errors.As(err, &ve) {
		return &ObjectError{Object: name, LSN: lsn, Err: ErrCorrupt, Detail: detail}
	}
	return &ObjectError{Object: name, LSN: lsn, Err: err}
}
