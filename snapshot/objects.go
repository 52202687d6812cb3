package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/zeebo/blake3"
	"gocloud.dev/gcerrors"
)

// Sealed objects: other packages (the WAL archive) keep objects of their
// own in the repository's bucket under the repository's keys, so that one
// set of key slots opens snapshots and archive alike.
//
// A sealed object is the common object header (kind 7), a prefix in the
// clear, then the body sealed with AES-256-GCM in pieces (pieces.go)
// under a key of its own (HKDF from the key epoch's key and the header's
// salt). Header, prefix, the repository ID and the object's name are
// authenticated, so an object copied under another name, or from
// another repository, does not open; a reader authenticates each piece
// before reading the next.
//
//	| header (kind 7, epoch, salt) | prefix (clear) | piece | tag | … |

// kindSealed is the header kind of sealed objects. Part of the on-disk
// format.
const kindSealed byte = 7

// ObjectInfo is one entry of ListObjects.
type ObjectInfo struct {
	Name  string // the object's name, or a directory's (ending in the delimiter)
	Size  int64  // bytes stored (0 for a directory)
	IsDir bool   // a directory: a common prefix up to the delimiter
}

// PutSealed seals prefix and body as the object name and writes it once:
// with IfNotExist where the store supports it, so history is never
// overwritten. It returns the bytes stored. An object that already
// exists gives an *ObjectError with ErrObjectExists; name must not lie
// in the repository's own namespace (config, keys/, data/, index/,
// snapshots/, locks/).
func (r *Repo) PutSealed(ctx context.Context, name string, prefix, body []byte) (int64, error) {
	if err := r.checkWritable(); err != nil {
		return 0, err
	}
	if err := checkSealedName(name); err != nil {
		return 0, err
	}
	if err := r.freshKeys(ctx, false); err != nil {
		return 0, err
	}
	data, err := r.seal(name, prefix, body)
	if err != nil {
		return 0, err
	}
	if err := r.put(ctx, name, data); err != nil {
		if gcerrors.Code(err) == gcerrors.FailedPrecondition {
			return 0, objErr(name, -1, ErrObjectExists)
		}
		return 0, storageErr(name, err)
	}
	return int64(len(data)), nil
}

// GetSealed reads the sealed object name, whose clear prefix is
// prefixLen bytes and whose body is at most maxBody bytes, and returns
// prefix and body once they authenticate. Nothing larger than those
// bounds is read. A missing object gives an *ObjectError with
// ErrMissing; damage one with ErrCorrupt, ErrTruncated or a
// *VersionError.
func (r *Repo) GetSealed(ctx context.Context, name string, prefixLen int, maxBody int64) (prefix, body []byte, err error) {
	if err := r.checkOpen(); err != nil {
		return nil, nil, err
	}
	if err := checkSealedName(name); err != nil {
		return nil, nil, err
	}
	_, prefix, body, err = r.getSealed(ctx, name, kindSealed, prefixLen, maxBody, true)
	return prefix, body, err
}

// DeleteObject deletes the sealed object name; one already gone is not
// an error.
func (r *Repo) DeleteObject(ctx context.Context, name string) error {
	if err := r.checkWritable(); err != nil {
		return err
	}
	if err := checkSealedName(name); err != nil {
		return err
	}
	return r.del(ctx, name)
}

// ListObjects lists the objects under prefix in name order. With a
// delimiter, names are cut after the first delimiter past prefix and
// each such directory is listed once (IsDir), as blob.ListOptions does.
func (r *Repo) ListObjects(ctx context.Context, prefix, delimiter string) ([]ObjectInfo, error) {
	if err := r.checkOpen(); err != nil {
		return nil, err
	}
	objs, err := listObjects(ctx, r.bucket, prefix, delimiter)
	if err != nil {
		return nil, err
	}
	out := make([]ObjectInfo, len(objs))
	for i, o := range objs {
		out[i] = ObjectInfo{Name: o.Key, Size: o.Size, IsDir: o.IsDir}
	}
	return out, nil
}

// checkSealedName refuses names in the repository's own namespace.
func checkSealedName(name string) error {
	if name == "" || name == configName || name == tombstoneName {
		return fmt.Errorf("snapshot: %q is not a name for a sealed object", name)
	}
	for _, p := range []string{keysPrefix, dataPrefix, indexPrefix, snapsPrefix, locksPrefix, epochsPrefix} {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("snapshot: sealed object %q lies in the repository's own %s", name, p)
		}
	}
	return nil
}

// seal encrypts body for the object name: see the format above.
func (r *Repo) seal(name string, prefix, body []byte) ([]byte, error) {
	return r.kr().sealPieces(kindSealed, prefix, body, name)
}

func sealedAD(ad []byte, name string) []byte { return append(ad, name...) }

// SealBytes seals prefix and body as PutSealed does for the object name,
// without storing them: for a copy kept outside the bucket (a node's
// local copy of a sealed object). OpenBytes reads it back.
func (r *Repo) SealBytes(name string, prefix, body []byte) ([]byte, error) {
	if err := r.checkOpen(); err != nil {
		return nil, err
	}
	if err := checkSealedName(name); err != nil {
		return nil, err
	}
	return r.seal(name, prefix, body)
}

// OpenBytes authenticates and decrypts b, sealed for the object name by
// SealBytes or PutSealed, whose clear prefix is prefixLen bytes. Bytes
// sealed under a key epoch this key no longer holds give ErrKeyEpoch:
// read the object from the bucket instead (Reencrypt resealed it there).
func (r *Repo) OpenBytes(name string, b []byte, prefixLen int) (prefix, body []byte, err error) {
	if err := r.checkOpen(); err != nil {
		return nil, nil, err
	}
	if err := checkSealedName(name); err != nil {
		return nil, nil, err
	}
	_, prefix, body, err = r.kr().openFrom(bytes.NewReader(b), int64(len(b)), name, kindSealed, prefixLen, int64(len(b)), true)
	return prefix, body, err
}

// NameKey returns a 32-byte key for naming things without revealing
// them (keyed hashes of tenant IDs), one per purpose. It derives from the
// repository's ID keys, so it never changes, not even when the master
// key is rotated: names made with it stay valid for the repository's
// life. Never use it to encrypt.
func (r *Repo) NameKey(purpose string) ([32]byte, error) {
	var out [32]byte
	if err := r.checkOpen(); err != nil {
		return out, err
	}
	blake3.DeriveKey("continuity/snapshot/v1/name-key/"+purpose, r.kr().dataID[:], out[:])
	return out, nil
}
