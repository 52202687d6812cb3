package snapshot

import (
	"context"
	"fmt"
	"time"

	"gocloud.dev/blob"
)

// kindSealed is the kind of objects that other packages store in the
// repository under its keys (the WAL archive): see Repo.Seal.
const kindSealed byte = 7

// SealedOverhead is how many bytes Seal adds to prefix and body.
const SealedOverhead = headerSize + tagSize

// Seal encrypts body for an object named name that a package other than
// this one keeps in the repository's bucket, under the repository's keys,
// so that one repository (one set of key slots) holds snapshots and the
// WAL archive. The result is the common object header, prefix in the
// clear, then body sealed with AES-256-GCM under a key of its own. Header,
// prefix, the repository ID and name are authenticated, so an object
// copied under another name, or from another repository, fails Unseal.
func (r *Repo) Seal(name string, prefix, body []byte) ([]byte, error) {
	if err := r.checkOpen(); err != nil {
		return nil, err
	}
	h := header{version: formatVersion, kind: kindSealed, salt: newSalt()}
	out := h.append(make([]byte, 0, headerSize+len(prefix)+len(body)+tagSize))
	out = append(out, prefix...)
	aead, err := r.keys.objectAEAD(kindSealed, h.salt[:])
	if err != nil {
		return nil, err
	}
	var nb [nonceSize]byte
	return aead.Seal(out, nonce(&nb, 0), body, sealedAD(r.keys.objectAD(out), name)), nil
}

// Unseal authenticates and decrypts an object Seal made for name, whose
// clear prefix is prefixLen bytes. Damage gives an *ObjectError naming
// the object, with ErrCorrupt, ErrTruncated or a *VersionError.
func (r *Repo) Unseal(name string, prefixLen int, b []byte) (prefix, body []byte, err error) {
	if err := r.checkOpen(); err != nil {
		return nil, nil, err
	}
	h, err := parseHeader(name, b, kindSealed)
	if err != nil {
		return nil, nil, err
	}
	split := headerSize + prefixLen
	if len(b) < split+tagSize {
		return nil, nil, objErr(name, -1, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b)))
	}
	aead, err := r.keys.objectAEAD(kindSealed, h.salt[:])
	if err != nil {
		return nil, nil, err
	}
	var nb [nonceSize]byte
	body, err = aead.Open(nil, nonce(&nb, 0), b[split:], sealedAD(r.keys.objectAD(b[:split]), name))
	if err != nil {
		return nil, nil, corrupt(name, int64(split), "authentication failed (damaged, or not this repository's object under this name)")
	}
	return b[headerSize:split], body, nil
}

func sealedAD(ad []byte, name string) []byte { return append(ad, name...) }

// Bucket returns the bucket the repository lives in.
func (r *Repo) Bucket() *blob.Bucket { return r.bucket }

// Now returns the repository's clock (Options.Now).
func (r *Repo) Now() time.Time { return r.opts.Now() }

// ReadObject reads a whole object of at most max bytes from the
// repository's bucket; a missing object gives an *ObjectError with
// ErrMissing, a larger one ErrCorrupt.
func (r *Repo) ReadObject(ctx context.Context, name string, max int64) ([]byte, error) {
	return getObjectMax(ctx, r.bucket, name, max)
}

// WriteObject writes an object once (IfNotExist where the store supports
// it, so history is never overwritten).
func (r *Repo) WriteObject(ctx context.Context, name string, data []byte) error {
	if err := r.checkWritable(); err != nil {
		return err
	}
	return r.put(ctx, name, data)
}

// DeleteObject deletes an object of the repository's bucket; one already
// gone is not an error.
func (r *Repo) DeleteObject(ctx context.Context, name string) error {
	if err := r.checkWritable(); err != nil {
		return err
	}
	return r.del(ctx, name)
}
