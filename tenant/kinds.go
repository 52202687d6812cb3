package tenant

import "github.com/continuity-go/continuity/wal"

// The record kinds this package defines (wal.Record.Kind).
const (
	// KindSealed is a tenant's event, sealed (see the package doc).
	KindSealed wal.Kind = 1
	// KindKey says a tenant's data key exists from this record on
	// (KeyRecord).
	KindKey wal.Kind = 2
	// KindForget destroys a tenant's data key (ForgetRecord).
	KindForget wal.Kind = 3
	// KindGeneration starts a sealing generation: its epoch and LSN
	// (GenerationRecord).
	KindGeneration wal.Kind = 4
)

// Ours reports whether k is one of this package's kinds.
func Ours(k wal.Kind) bool { return k >= KindSealed && k <= KindGeneration }
