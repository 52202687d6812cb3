package cdc

import "errors"

var (
	// ErrInvalidParams is wrapped by every error Params.Validate reports.
	ErrInvalidParams = errors.New("cdc: invalid params")

	// ErrNilTable is returned by New when it is given no gear table.
	ErrNilTable = errors.New("cdc: nil gear table")

	// ErrInvalidRead is returned by Reader.Next when the underlying reader
	// broke the io.Reader contract by returning a count outside [0,
	// len(p)].
	ErrInvalidRead = errors.New("cdc: reader returned invalid count from Read")
)
