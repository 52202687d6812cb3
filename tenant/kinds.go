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

// TagOf returns the tag of the tenant a key or forget record names
// (false for another kind, or a record that does not parse; a sealed
// event names only its key, which Registry.Open looks up). It
// authenticates nothing: for passing records over, not for deciding
// anything.
func TagOf(k wal.Kind, data []byte) (Tag, bool) {
	switch k {
	case KindKey:
		h, err := ParseKeyRecord(data)
		return h.Tag, err == nil
	case KindForget:
		h, err := ParseForgetRecord(data)
		return h.Tag, err == nil
	}
	return Tag{}, false
}
