package archive

import (
	"io"

	"github.com/continuity-go/continuity/wal"
)

// StateMachine is the host's state, folded from the log's records.
// RestoreTo and Drill rebuild a state through it, and standbys apply the
// stream through it; this package owns the interface, and the root
// package re-exports it.
type StateMachine interface {
	// Apply folds one record into the state. It must be deterministic:
	// the same records in the same order give the same state on every
	// node. An error stops whoever applies (the state can no longer
	// follow the log).
	Apply(rec wal.Record) error
	// Snapshot writes the full state.
	Snapshot(w io.Writer) error
	// Restore replaces the state with one Snapshot wrote.
	Restore(r io.Reader) error
}
