package wal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is: most are returned wrapped.
var (
	// ErrClosed is returned by calls on a closed Log, and by a Reader's
	// Next once its Log is closed.
	ErrClosed = errors.New("wal: log closed")

	// ErrPoisoned is returned (wrapped together with the cause) by Append
	// and Write after a write or sync of the log failed. The log cannot
	// know what reached the disk, so it accepts nothing more; Close it and
	// Open it again, which recovers every record that was reported
	// durable.
	ErrPoisoned = errors.New("wal: log failed after a write or sync error; close and reopen it to recover")

	// ErrRecordTooLarge is returned when a payload is larger than
	// Options.MaxRecordBytes. Nothing is written.
	ErrRecordTooLarge = errors.New("wal: record larger than Options.MaxRecordBytes")

	// ErrTruncated is returned by a Reader whose next record was removed by
	// TruncateFront (it is below First) or by TruncateBack (it is past the
	// new Last). Open a new Reader from a position that exists.
	ErrTruncated = errors.New("wal: records truncated")

	// ErrOutOfRange is returned by TruncateFront for an LSN past Last()+1
	// and by TruncateBack for an LSN outside [First()-1, Last()].
	ErrOutOfRange = errors.New("wal: LSN out of range")

	// ErrNotFound is returned by LSNAt when no record is that old.
	ErrNotFound = errors.New("wal: no record at or before that time")

	// ErrGap is the cause inside a *SequenceError when a written record's
	// LSN is not the next one.
	ErrGap = errors.New("wal: LSN gap")

	// ErrStaleEpoch is the cause inside a *SequenceError when a record's
	// epoch, or an epoch passed to SetEpoch, is older than the log's.
	ErrStaleEpoch = errors.New("wal: epoch older than the log's")

	// ErrTimeRegression is the cause inside a *SequenceError when a
	// written record's time is before the log's last record.
	ErrTimeRegression = errors.New("wal: record time before the log's last record")

	// ErrChecksum is the cause inside a *CorruptionError when a frame's
	// checksum does not match its contents.
	ErrChecksum = errors.New("wal: checksum mismatch")

	// ErrFrameLength is the cause inside a *CorruptionError when a frame's
	// length field is impossible.
	ErrFrameLength = errors.New("wal: impossible frame length")

	// ErrBadHeader is the cause inside a *CorruptionError when a segment
	// header is damaged.
	ErrBadHeader = errors.New("wal: bad segment header")

	// ErrMissingRecords is the cause inside a *CorruptionError when a
	// segment ends before the next segment begins, or a segment is
	// missing, or a frame holds an unexpected LSN.
	ErrMissingRecords = errors.New("wal: records missing")

	// errZeroFrame: a frame header of zeros, the content of preallocated
	// space. Internal to decoding.
	errZeroFrame = errors.New("wal: zero frame header")
)

// CorruptionError reports damage to the log that recovery must not repair
// on its own: anything other than a torn tail of the last segment. Records
// before the damage are intact; the log cannot be opened until the damage
// is repaired or the log is restored from a replica or an archive.
type CorruptionError struct {
	Segment string // path of the segment file
	Offset  int64  // byte offset of the damaged frame or header
	LSN     LSN    // LSN expected at Offset (0 if unknown)
	Err     error  // ErrChecksum, ErrFrameLength, ErrBadHeader, ErrMissingRecords, io.ErrUnexpectedEOF
}

// Error describes the damage and what to do about it.
func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corruption in %s at offset %d (LSN %d): %v; restore the log from a replica or archive", e.Segment, e.Offset, e.LSN, e.Err)
}

// Unwrap returns the cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

// VersionError reports a segment written in a format version this package
// cannot read, typically by a newer release.
type VersionError struct {
	Segment string // path of the segment file ("" while decoding a header alone)
	Version uint16 // version found
}

// Error names the segment, the version and the versions supported.
func (e *VersionError) Error() string {
	return fmt.Sprintf("wal: segment %s has format version %d; this release reads versions %d to %d, upgrade it", e.Segment, e.Version, minFormatVersion, maxFormatVersion)
}

// SequenceError reports a record that cannot follow the log's last record:
// its LSN is not the next one (ErrGap), its epoch is older (ErrStaleEpoch)
// or its time is earlier (ErrTimeRegression). Nothing of the call that
// returned it was written.
type SequenceError struct {
	LSN       LSN    // LSN of the offending record (0 for SetEpoch)
	Want      LSN    // LSN the log expected next
	Epoch     uint64 // epoch of the offending record or SetEpoch call
	LastEpoch uint64 // the log's current epoch
	Err       error  // ErrGap, ErrStaleEpoch or ErrTimeRegression
}

// Error says which record broke which rule.
func (e *SequenceError) Error() string {
	switch e.Err {
	case ErrGap:
		return fmt.Sprintf("wal: record LSN %d does not follow the log, want LSN %d", e.LSN, e.Want)
	case ErrStaleEpoch:
		return fmt.Sprintf("wal: record LSN %d has epoch %d, older than the log's epoch %d", e.LSN, e.Epoch, e.LastEpoch)
	default:
		return fmt.Sprintf("wal: record LSN %d: %v", e.LSN, e.Err)
	}
}

// Unwrap returns the cause.
func (e *SequenceError) Unwrap() error { return e.Err }
