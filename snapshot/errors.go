package snapshot

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is: most are returned wrapped in an
// *ObjectError that names the object.
var (
	// ErrKeyEpoch: an object is sealed under a key epoch the opened key
	// does not hold: one Reencrypt retired, or one newer than the key
	// slot that opened (a slot kept from before RotateMaster).
	ErrKeyEpoch = errors.New("snapshot: object sealed under a key epoch this key does not hold")

	// ErrSlotsLeft: RotateMaster was not given the keys of every key
	// slot and was not told to drop the others.
	ErrSlotsLeft = errors.New("snapshot: rotate: key slots would be left wrapping the old master key")

	// ErrWrongKey is returned by Open when no key slot of the repository
	// opens with the given KeyProvider (a wrong passphrase, raw key or
	// keeper). Nothing is read beyond the key slots.
	ErrWrongKey = errors.New("snapshot: no key slot opens with this key; check the passphrase, key or keeper")

	// ErrMissing is the cause inside an *ObjectError when an object the
	// repository refers to does not exist in the bucket (a deleted pack,
	// a lost index). Restoring from another copy of the bucket, or
	// Verify to see which snapshots are affected, are the ways forward.
	ErrMissing = errors.New("snapshot: object missing from the bucket")

	// ErrCorrupt is the cause inside an *ObjectError when an object's
	// bytes fail authentication or do not decode: they were damaged or
	// tampered with after they were written.
	ErrCorrupt = errors.New("snapshot: object damaged or tampered with (authentication failed)")

	// ErrTruncated is the cause inside an *ObjectError when an object is
	// shorter than the index or its own header says.
	ErrTruncated = errors.New("snapshot: object truncated")

	// ErrReplayed is the cause inside an *ObjectError when a manifest
	// authenticates but was stored under another snapshot's name: an old
	// manifest copied to a new ID.
	ErrReplayed = errors.New("snapshot: manifest stored under a name that is not its own (replayed)")

	// ErrNotFound is returned when a snapshot ID names no snapshot.
	ErrNotFound = errors.New("snapshot: no such snapshot")

	// ErrNoRepository is returned by Open when the bucket holds no
	// repository config; Init creates one.
	ErrNoRepository = errors.New("snapshot: no repository in the bucket; create one with Init")

	// ErrExists is returned by Init when the bucket already holds a
	// repository.
	ErrExists = errors.New("snapshot: a repository already exists in the bucket; use Open")

	// ErrObjectExists is the cause inside an *ObjectError when PutSealed
	// finds the object already written (objects are written once).
	ErrObjectExists = errors.New("snapshot: object already exists (objects are written once)")

	// ErrLocked is returned when an operation cannot take the repository
	// lock it needs because another process holds a conflicting one:
	// Prune needs the repository to itself, Save shares it. The error
	// text names the holder; wait and retry.
	ErrLocked = errors.New("snapshot: repository locked by another operation")

	// ErrClosed is returned by calls on a closed Repo.
	ErrClosed = errors.New("snapshot: repository closed")

	// ErrReadOnly is returned by calls that would write to a repository
	// opened with Options.ReadOnly.
	ErrReadOnly = errors.New("snapshot: repository opened read-only (Options.ReadOnly)")

	// ErrDenied is the cause inside an *ObjectError when the store
	// refuses an operation for lack of permission (S3's AccessDenied):
	// an archiver whose credentials may put but not delete, a
	// read-only user. The store's own error is wrapped beside it.
	ErrDenied = errors.New("snapshot: the store denied the operation (permission)")

	// ErrRetained is the cause (a *RetainedError) inside an
	// *ObjectError when a delete meets an object under Object Lock whose
	// date has not passed (Options.ObjectLock).
	ErrRetained = errors.New("snapshot: object retained under Object Lock")

	// ErrLastKey is returned by RemoveKey for the only remaining key
	// slot: without it the repository could never be opened again.
	// Repo.DestroyKeys deletes every slot on purpose.
	ErrLastKey = errors.New("snapshot: refusing to remove the last key slot")

	// ErrDestroyed is returned by Open, and by every call on the Repo
	// afterwards, once DestroyKeys has deleted the repository's key
	// slots: the master key cannot be recovered from the bucket, so
	// what remains of the repository cannot be decrypted by anyone.
	ErrDestroyed = errors.New("snapshot: the repository's keys were destroyed (crypto-shredded): what remains in the bucket cannot be decrypted")

	// ErrTooManySlots is returned by Open when none of the
	// Options.MaxKeySlots key slots of the provider's kind it tried
	// opened and the repository holds more than that: Open does not try
	// them all, because each try of a passphrase slot costs an argon2id
	// derivation and anyone who can write to the bucket can plant slots.
	// Remove stale slots (RemoveKey), or raise Options.MaxKeySlots.
	ErrTooManySlots = errors.New("snapshot: more key slots of this kind than Options.MaxKeySlots; none of those tried opened")

	// ErrSlotCost is the cause inside an *ObjectError for a passphrase
	// key slot whose argon2id costs exceed MaxPassphraseParams: it is
	// refused before any key derivation, since slots are not
	// authenticated before they are tried. PassphraseWith returns it for
	// costs a slot could not be opened with.
	ErrSlotCost = errors.New("snapshot: key slot demands argon2id costs above the limit")

	// ErrWeakPassphrase is returned by PassphraseWith for argon2id costs
	// below MinPassphraseParams.
	ErrWeakPassphrase = errors.New("snapshot: argon2id costs below the minimum")
)

// ObjectError reports a failure tied to one object of the repository.
type ObjectError struct {
	// Object is the object's name in the bucket, e.g. "data/3f/3f0a…".
	Object string
	// Offset is the byte offset within the object where the problem was
	// found, or -1 when the whole object is concerned.
	Offset int64
	// Err is the cause: ErrMissing, ErrCorrupt, ErrTruncated, ErrReplayed
	// or a storage error.
	Err error
}

// Error says which object, where, and what is wrong with it.
func (e *ObjectError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("%s at offset %d: %v", e.Object, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Object, e.Err)
}

// Unwrap returns the cause.
func (e *ObjectError) Unwrap() error { return e.Err }

// VersionError is returned when an object's format version is outside the
// range this build reads: the repository was written by a newer release.
type VersionError struct {
	// Object is the object's name in the bucket.
	Object string
	// Version is the format version the object has.
	Version uint16
	// Min and Max are the versions this build reads.
	Min, Max uint16
}

// Error names the object and the versions, and says to upgrade.
func (e *VersionError) Error() string {
	return fmt.Sprintf("snapshot: %s has format version %d; this build reads %d to %d: upgrade the library", e.Object, e.Version, e.Min, e.Max)
}

func objErr(name string, off int64, err error) error {
	return &ObjectError{Object: name, Offset: off, Err: err}
}

// corrupt builds an *ObjectError whose cause is ErrCorrupt with detail.
func corrupt(name string, off int64, detail string) error {
	return &ObjectError{Object: name, Offset: off, Err: fmt.Errorf("%w: %s", ErrCorrupt, detail)}
}
