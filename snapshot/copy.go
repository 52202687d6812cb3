package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// CopyOptions are CopyTo's.
type CopyOptions struct {
	// SealedPrefix says how long the clear prefix of another package's
	// sealed object (PutSealed) is, by name, as in ReencryptOptions
	// (continuity.SealedPrefixLen for a Node's archive). Sealed objects
	// it does not know are not copied (CopyStats.Unknown).
	SealedPrefix func(name string) (int, bool)
	// DryRun only says what would be copied: it reads and authenticates
	// nothing.
	DryRun bool
	// Lock, if set, writes the copy's objects under S3 Object Lock with
	// this policy (as Options.ObjectLock), dated from when each is
	// copied, and moves the copy's dates of the packs a copied snapshot
	// reuses before its manifest lands, as Save does. The destination
	// must be an S3 bucket with Object Lock enabled.
	Lock *ObjectLock
}

// sealedPrefix is SealedPrefix's answer for name (false without one).
func (o CopyOptions) sealedPrefix(name string) (int, bool) {
	if o.SealedPrefix == nil {
		return 0, false
	}
	return o.SealedPrefix(name)
}

// CopyStats says what CopyTo did (or would do).
type CopyStats struct {
	Objects int   // objects of the repository looked at
	Copied  int   // objects written to the copy
	Bytes   int64 // bytes written to the copy
	// Present counts the objects the copy held already, under the same
	// name with the same size: objects are written once, so they are
	// the same (a repeated copy moves only what is new).
	Present int
	// Conflicts name objects the copy holds under the same name with
	// another size: left as they are (the copy is damaged, or another
	// repository's).
	Conflicts []string
	// Unauthenticated name objects of this repository that did not
	// authenticate (or a pack the index does not name, or of another
	// size): not copied. Verify says what they cost here.
	Unauthenticated []string
	// Unknown name sealed objects SealedPrefix does not know: not
	// copied.
	Unknown []string
	// Missing name objects that were gone when they were read (deleted
	// since they were listed, or named to CopyObjects): not copied.
	Missing []string
	// LocksExtended counts the copy's packs whose Object Lock dates were
	// moved to cover a snapshot copied after them (CopyOptions.Lock).
	LocksExtended int
}

// CopyTo copies the repository into dst: every object dst lacks, after
// it authenticated here, under the same name, so that dst opens with the
// same keys (its key slots are copied; add or remove slots there to give
// it keys of its own). dst must be empty or a copy of this repository. A
// repeated copy reads and writes only what is new: objects are written
// once and never change. Nothing is deleted from dst: a copy keeps its
// own retention (run Forget and Prune on it). It copies the key slots,
// epochs and config first (so that dst opens as soon as anything is in
// it), then packs, indexes and manifests in that order (a manifest never
// names a pack the copy lacks), then the sealed objects (the WAL
// archive) in name order. Options.ReadLimit and UploadLimit throttle
// the packs. The error is for failures to copy; what was skipped is in
// CopyStats.
func (r *Repo) CopyTo(ctx context.Context, dst *blob.Bucket, opts CopyOptions) (CopyStats, error) {
	var st CopyStats
	if err := r.checkOpen(); err != nil {
		return st, err
	}
	if err := r.refreshIndex(ctx, false); err != nil {
		return st, err
	}
	srcConfig, err := getObjectMax(ctx, r.bucket, configName, maxConfigBytes)
	if err != nil {
		return st, fmt.Errorf("snapshot: copy: %w", err)
	}
	dstConfig, err := getObjectMax(ctx, dst, configName, maxConfigBytes)
	switch {
	case errors.Is(err, ErrMissing):
		if destroyed(ctx, dst) {
			return st, fmt.Errorf("snapshot: copy: the destination holds a destroyed repository's remains (%q): copy into an empty bucket or prefix", tombstoneName)
		}
	case err != nil:
		return st, fmt.Errorf("snapshot: copy: the destination: %w", err)
	case !bytes.Equal(srcConfig, dstConfig):
		return st, fmt.Errorf("snapshot: copy: %w: the destination holds another repository; copy into an empty bucket or prefix, or into an earlier copy of this one", ErrExists)
	}
	var lk *copyLock
	if opts.Lock != nil && !opts.DryRun {
		if lk, err = r.newCopyLock(ctx, dst, opts.Lock); err != nil {
			return st, err
		}
	}
	have, err := listObjects(ctx, dst, "", "")
	if err != nil {
		return st, fmt.Errorf("snapshot: copy: list the destination: %w", err)
	}
	present := make(map[string]int64, len(have))
	for _, o := range have {
		present[o.Key] = o.Size
	}
	objs, err := listObjects(ctx, r.bucket, "", "")
	if err != nil {
		return st, fmt.Errorf("snapshot: copy: %w", err)
	}
	sizes := make(map[string]int64, len(objs))
	for _, o := range objs {
		sizes[o.Key] = o.Size
	}
	prog := newProgress(r, "copy", -1)

	// needed reports whether name must be copied, counting what it
	// finds in the copy already.
	needed := func(name string) bool {
		st.Objects++
		size, ok := present[name]
		switch {
		case !ok:
			return true
		case size == sizes[name]:
			st.Present++
		default:
			st.Conflicts = append(st.Conflicts, name)
		}
		return false
	}
	put := func(name string, raw []byte, t *throttle) error {
		if opts.DryRun {
			st.Copied++
			st.Bytes += int64(len(raw))
			return nil
		}
		err := writeThrottled(ctx, dst, name, raw, true, t, lk.before(name))
		if err != nil {
			return fmt.Errorf("snapshot: copy %s: %w", name, err)
		}
		st.Copied++
		st.Bytes += int64(len(raw))
		prog.report(st.Bytes)
		return nil
	}
	// copyRaw copies an object after check authenticates it; check
	// reads the object (it is given the bytes as they are read, so that
	// a planted one fails within its first piece) and returns its body.
	kr := r.kr()
	copyRaw := func(name string, max int64, check func(rd io.Reader, size int64) ([]byte, error)) error {
		if !needed(name) {
			return nil
		}
		if opts.DryRun {
			st.Copied++
			st.Bytes += sizes[name]
			return nil
		}
		raw, err := readChecked(ctx, r.bucket, name, max, check)
		if errors.Is(err, ErrMissing) {
			st.Missing = append(st.Missing, name) // deleted meanwhile (a prune, retention)
			return nil
		}
		if isDamage(err) {
			st.Unauthenticated = append(st.Unauthenticated, name)
			return nil
		}
		if err != nil {
			return err
		}
		return put(name, raw, nil)
	}
	open := func(name string, kind byte, prefixLen int, nameAD bool) func(io.Reader, int64) ([]byte, error) {
		return func(rd io.Reader, size int64) ([]byte, error) {
			_, _, body, err := kr.openFrom(rd, size, name, kind, prefixLen, size, nameAD)
			return body, err
		}
	}

	// 1. What opens the copy: key slots (each verified when it is used),
	// key epochs, then the config.
	for _, o := range objs {
		switch {
		case strings.HasPrefix(o.Key, keysPrefix):
			err = copyRaw(o.Key, maxSlotBytes, nil)
		case strings.HasPrefix(o.Key, epochsPrefix):
			err = copyRaw(o.Key, maxConfigBytes, open(o.Key, kindEpochs, 0, false))
		}
		if err != nil {
			return st, err
		}
	}
	if err := copyRaw(configName, maxConfigBytes, nil); err != nil {
		return st, err
	}

	// 2. Packs the (authenticated) index names, with their indexed size.
	r.idxMu.RLock()
	packs := slices.Clone(r.idx.packs)
	r.idxMu.RUnlock()
	indexed := make(map[string]bool, len(packs))
	for _, p := range packs {
		name := p.name()
		indexed[name] = true
		if !needed(name) {
			continue
		}
		if sizes[name] != p.size {
			st.Unauthenticated = append(st.Unauthenticated, name)
			continue
		}
		if opts.DryRun {
			st.Copied++
			st.Bytes += p.size
			continue
		}
		raw, err := r.readPack(ctx, p)
		if errors.Is(err, ErrMissing) {
			return st, fmt.Errorf("snapshot: copy: %w: a pack the index names is gone (a prune ran during the copy?); copy again", err)
		}
		if err != nil {
			return st, err
		}
		if err := put(name, raw, r.uploads); err != nil {
			return st, err
		}
	}

	// 3. Indexes and manifests, then 4. the sealed objects.
	for _, o := range objs {
		name := o.Key
		switch {
		case strings.HasPrefix(name, dataPrefix):
			if !indexed[name] {
				st.Objects++
				st.Unauthenticated = append(st.Unauthenticated, name)
			}
		case strings.HasPrefix(name, indexPrefix):
			err = copyRaw(name, maxIndexBytes, open(name, kindIndex, 0, false))
		}
		if err != nil {
			return st, err
		}
	}
	for _, o := range objs {
		name := o.Key
		if !strings.HasPrefix(name, snapsPrefix) {
			continue
		}
		err := copyRaw(name, maxManifestBytes, func(rd io.Reader, size int64) ([]byte, error) {
			body, err := open(name, kindManifest, 0, false)(rd, size)
			if err != nil {
				return nil, err
			}
			m, err := decodeManifestBody(body)
			if err != nil {
				return nil, corrupt(name, -1, "manifest body: "+err.Error())
			}
			if manifestName(m.ID) != name {
				return nil, objErr(name, -1, fmt.Errorf("%w: it is snapshot %s", ErrReplayed, m.ID))
			}
			n, err := lk.extendFor(ctx, m)
			st.LocksExtended += n
			if err != nil {
				return nil, err
			}
			return body, nil
		})
		if err != nil {
			return st, err
		}
	}
	for _, o := range objs {
		name := o.Key
		if checkSealedName(name) != nil {
			continue
		}
		n, ok := opts.sealedPrefix(name)
		if !ok {
			st.Unknown = append(st.Unknown, name)
			continue
		}
		if err := copyRaw(name, maxIndexBytes, open(name, kindSealed, n, true)); err != nil {
			return st, err
		}
	}
	prog.done(st.Bytes)
	r.log.Info("copied", "objects", st.Objects, "copied", st.Copied, "bytes", st.Bytes, "present", st.Present,
		"conflicts", len(st.Conflicts), "unauthenticated", len(st.Unauthenticated), "unknown", len(st.Unknown))
	return st, nil
}

// readChecked reads the object name (at most max bytes) and returns its
// bytes as stored once check, reading them as they arrive, accepts them
// (nil check: accepted unread).
func readChecked(ctx context.Context, bucket *blob.Bucket, name string, max int64, check func(io.Reader, int64) ([]byte, error)) ([]byte, error) {
	if check == nil {
		return getObjectMax(ctx, bucket, name, max)
	}
	rd, err := bucket.NewReader(ctx, name, nil)
	if err != nil {
		return nil, storageErr(name, err)
	}
	defer rd.Close()
	size := rd.Size()
	if size > max || size < 0 {
		return nil, corrupt(name, -1, fmt.Sprintf("%d bytes, more than the %d expected", size, max))
	}
	var raw bytes.Buffer
	if _, err := check(io.TeeReader(rd, &raw), size); err != nil {
		return nil, err
	}
	if _, err := io.Copy(&raw, rd); err != nil { // what check did not need to read
		return nil, readErr(name, err)
	}
	if int64(raw.Len()) != size {
		return nil, objErr(name, -1, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, raw.Len(), size))
	}
	return raw.Bytes(), nil
}

// CopyObjects copies the named sealed objects (PutSealed's, in the order
// given) into dst, a copy of this repository that CopyTo made, after each
// authenticated here: it follows objects as they are written, between
// whole copies. It lists neither bucket: a name dst holds already counts
// as Present if its size matches (else a Conflict), one gone here (a
// compaction or retention deleted it) is Missing, one SealedPrefix does
// not know is Unknown. Names that are not a sealed object's fail it.
func (r *Repo) CopyObjects(ctx context.Context, dst *blob.Bucket, names []string, opts CopyOptions) (CopyStats, error) {
	var st CopyStats
	if err := r.checkOpen(); err != nil {
		return st, err
	}
	var lk *copyLock
	if opts.Lock != nil && !opts.DryRun {
		var err error
		if lk, err = r.newCopyLock(ctx, dst, opts.Lock); err != nil {
			return st, err
		}
	}
	kr := r.kr()
	for _, name := range names {
		if err := checkSealedName(name); err != nil {
			return st, err
		}
		st.Objects++
		n, ok := opts.sealedPrefix(name)
		if !ok {
			st.Unknown = append(st.Unknown, name)
			continue
		}
		raw, err := readChecked(ctx, r.bucket, name, maxIndexBytes, func(rd io.Reader, size int64) ([]byte, error) {
			_, _, body, err := kr.openFrom(rd, size, name, kindSealed, n, size, true)
			return body, err
		})
		switch {
		case errors.Is(err, ErrMissing):
			st.Missing = append(st.Missing, name)
			continue
		case isDamage(err):
			st.Unauthenticated = append(st.Unauthenticated, name)
			continue
		case err != nil:
			return st, err
		}
		if opts.DryRun {
			st.Copied++
			st.Bytes += int64(len(raw))
			continue
		}
		err = writeThrottled(ctx, dst, name, raw, true, nil, lk.before(name))
		if gcerrors.Code(err) == gcerrors.FailedPrecondition {
			a, aerr := dst.Attributes(ctx, name)
			switch {
			case aerr != nil:
				return st, fmt.Errorf("snapshot: copy %s: %w", name, storageErr(name, aerr))
			case a.Size == int64(len(raw)):
				st.Present++
			default:
				st.Conflicts = append(st.Conflicts, name)
			}
			continue
		}
		if err != nil {
			return st, fmt.Errorf("snapshot: copy %s: %w", name, err)
		}
		st.Copied++
		st.Bytes += int64(len(raw))
	}
	return st, nil
}
