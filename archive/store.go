package archive

import (
	"context"
	"io"
	"time"

	"github.com/continuity-go/continuity/snapshot"
)

// Objects is where the archive keeps its WAL objects and timelines:
// sealed objects under the keys of the repository that also holds the
// base snapshots, so one set of key slots opens both. Names are the
// archive's (wal/...); the store authenticates each object with its name.
//
// Errors: a missing object is an error that errors.Is ErrMissing of
// package snapshot; damage one with snapshot.ErrCorrupt, ErrTruncated or
// a *snapshot.VersionError; a PutSealed of a name that exists one with
// snapshot.ErrObjectExists (objects are written once).
type Objects interface {
	// PutSealed seals prefix (in the clear, authenticated) and body
	// (encrypted) as the object name, writes it once, and returns the
	// bytes stored.
	PutSealed(ctx context.Context, name string, prefix, body []byte) (int64, error)
	// GetSealed reads and authenticates the object name, whose prefix is
	// prefixLen bytes and body at most maxBody; nothing larger is read.
	GetSealed(ctx context.Context, name string, prefixLen int, maxBody int64) (prefix, body []byte, err error)
	// DeleteObject deletes the object name; one already gone is not an
	// error.
	DeleteObject(ctx context.Context, name string) error
	// ListObjects lists the objects under prefix in name order (with a
	// delimiter, the directories below prefix, as blob.ListOptions).
	ListObjects(ctx context.Context, prefix, delimiter string) ([]snapshot.ObjectInfo, error)
	// LockDate returns the object's S3 Object Lock date (zero if none).
	LockDate(ctx context.Context, name string) (time.Time, error)
}

// Snapshots is where the archive keeps base snapshots: the state at an
// LSN, deduplicated and encrypted (see package snapshot).
type Snapshots interface {
	// Save stores the state r yields with meta and returns its manifest.
	Save(ctx context.Context, r io.Reader, meta snapshot.Meta) (snapshot.Manifest, snapshot.Stats, error)
	// Restore writes the state of snapshot id to w.
	Restore(ctx context.Context, id snapshot.ID, w io.Writer) error
	// List returns every snapshot's manifest; a damaged one fails it.
	List(ctx context.Context) ([]snapshot.Manifest, error)
	// ListReadable returns the manifests that authenticate, and an error
	// naming each that does not (see snapshot.Repo.ListReadable).
	ListReadable(ctx context.Context) ([]snapshot.Manifest, []error, error)
	// Remove deletes the manifests of ids (their data goes at the next
	// prune).
	Remove(ctx context.Context, ids ...snapshot.ID) error
}

// Store is an archive's storage: a snapshot repository (*snapshot.Repo)
// holds both the WAL objects and the base snapshots. It is an interface so
// that tests can inject faults between the archive and the repository.
type Store interface {
	Objects
	Snapshots
}

var _ Store = (*snapshot.Repo)(nil)
