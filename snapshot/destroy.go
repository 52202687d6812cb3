package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cespare/xxhash/v2"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// DestroyOptions confirm and shape DestroyKeys.
type DestroyOptions struct {
	// Confirm must be the repository's ID (Repo.ID: 32 hex digits), so
	// that no caller destroys a repository by accident or the wrong
	// one. Anything else is refused and nothing is deleted.
	Confirm string
	// KeepConfig keeps the config object (the repository ID in clear
	// and, sealed, the chunker parameters). By default it is deleted
	// too; keys are deleted first either way.
	KeepConfig bool
}

// Bucket retention states in a DestroyReport.
const (
	RetentionUnknown   = "unknown"   // the store was not asked or did not say
	RetentionOff       = "off"       // no old versions kept, no objects locked
	RetentionEnabled   = "enabled"   // versioning or object lock is on
	RetentionSuspended = "suspended" // versioning was on: old versions made then remain
)

// DestroyReport says what DestroyKeys deleted and what it could not reach.
type DestroyReport struct {
	// RepoID is the destroyed repository's ID.
	RepoID string
	// Deleted lists the objects deleted: every object that was under
	// keys/ (decodable or not), then the config unless kept.
	Deleted []string
	// ConfigDeleted is set when the config object was deleted.
	ConfigDeleted bool
	// Versioning is the bucket's versioning: RetentionOff, Enabled,
	// Suspended, or Unknown (not S3, or the store did not say).
	Versioning string
	// ObjectLock is RetentionEnabled, RetentionOff or RetentionUnknown.
	ObjectLock string
	// Warnings are what DestroyKeys could not reach: old versions of
	// keys/ the bucket may keep, and always the copies of the key
	// outside the bucket.
	Warnings []string
}

// outOfReach is the warning every DestroyReport carries.
const outOfReach = "copies of the key or its plaintext outside the bucket are out of reach and must be destroyed by their owners: " +
	"key files (archive.key) and passphrases, KMS keys of keeper slots, processes that still have the repository open (they hold the master key in memory and can write new slots), " +
	"local WALs, standbys, restored state (ctl restore output) and any copy of the bucket"

// DestroyKeys crypto-shreds the repository: it deletes every object
// under keys/ (every key slot, including damaged or undecodable ones),
// so that the master key can no longer be recovered from the bucket by
// anyone; then it writes a small tombstone object ("destroyed", nothing
// secret in it) so that Open says ErrDestroyed rather than
// ErrNoRepository or ErrWrongKey; then, unless opts.KeepConfig, it
// deletes the config object. Packs, indexes, manifests and other sealed
// objects are left in place: without the master key they are random
// bytes to everyone. Delete them with the store's tools to free space.
//
// opts.Confirm must equal r.ID(); otherwise it returns an error and
// deletes nothing. It returns ErrReadOnly on a read-only Repo. It takes
// the repository's exclusive lock, so it waits (until ctx is done, then
// ErrLocked) while a Save, Prune, Restore or Verify runs in any process.
// Call it when no other call on r is running: once it has started
// deleting, r is unusable: every call returns ErrDestroyed, and the
// master key and the keys derived from it are zeroed in memory (the
// chunker's gear table and hashers already handed out are not).
//
// What it cannot reach is listed in the report's Warnings, and must be
// handled by whoever owns it:
//
//   - A bucket with versioning (enabled or suspended) or object lock may
//     keep old versions of keys/ and config, from which the master key
//     can be unwrapped with any old key: the bucket owner must purge
//     them. On S3 (gocloud.dev/blob/s3blob) it asks GetBucketVersioning
//     and GetObjectLockConfiguration; on other stores it reports
//     RetentionUnknown. It proceeds in every case.
//   - Always: key files and passphrases, KMS keys, other processes that
//     have the repository open, local WALs, standbys, restored state and
//     copies of the bucket.
//
// If it fails partway, the report lists what it deleted, and r is
// unusable all the same. While a slot is left, Open with its key and
// call DestroyKeys again; once none is, delete what is left of the
// config with the store's tools.
func (r *Repo) DestroyKeys(ctx context.Context, opts DestroyOptions) (DestroyReport, error) {
	rep := DestroyReport{RepoID: r.ID(), Deleted: []string{}, Versioning: RetentionUnknown, ObjectLock: RetentionUnknown}
	if err := r.checkWritable(); err != nil {
		return rep, err
	}
	if opts.Confirm != r.ID() {
		return rep, fmt.Errorf("snapshot: destroy keys: confirmation %q is not this repository's ID; give DestroyOptions.Confirm = %s", opts.Confirm, r.ID())
	}
	rep.Versioning, rep.ObjectLock, rep.Warnings = bucketRetention(ctx, r.bucket)
	lk, err := r.lock(ctx, "destroy", true)
	if err != nil {
		return rep, fmt.Errorf("snapshot: destroy keys: %w", err)
	}
	// From here on the Repo is unusable, whatever happens.
	r.mu.Lock()
	r.destroyed = true
	r.mu.Unlock()
	err = r.destroy(lk.ctx(), opts, &rep)
	lk.release()
	r.wipeKeys()
	rep.Warnings = append(rep.Warnings, outOfReach)
	if err != nil {
		return rep, fmt.Errorf("snapshot: destroy keys: %w", err)
	}
	r.log.Info("repository keys destroyed", "repo", rep.RepoID, "deleted", len(rep.Deleted),
		"versioning", rep.Versioning, "object_lock", rep.ObjectLock)
	return rep, nil
}

func (r *Repo) destroy(ctx context.Context, opts DestroyOptions, rep *DestroyReport) error {
	// Another process holding the master key could add a slot while we
	// delete: list again until keys/ is empty, a few times.
	for round := 0; ; round++ {
		names, err := listNames(ctx, r.bucket, keysPrefix)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			break
		}
		if round == 4 {
			return fmt.Errorf("key slots keep appearing under %s (%d after %d rounds): another process holding the key is adding them; stop it and run again", keysPrefix, len(names), round)
		}
		for _, n := range names {
			if err := r.del(ctx, n); err != nil {
				return err
			}
			rep.Deleted = append(rep.Deleted, n)
		}
	}
	// The older key epochs, sealed under a key only the slots held.
	epochs, err := listNames(ctx, r.bucket, epochsPrefix)
	if err != nil {
		return err
	}
	for _, n := range epochs {
		if err := r.del(ctx, n); err != nil {
			return err
		}
		rep.Deleted = append(rep.Deleted, n)
	}
	if err := putObject(ctx, r.bucket, tombstoneName, encodeTombstone(r.kr().repoID, r.opts.Now())); err != nil &&
		gcerrors.Code(err) != gcerrors.FailedPrecondition {
		return fmt.Errorf("write %s: %w", tombstoneName, err)
	}
	if opts.KeepConfig {
		return nil
	}
	if err := r.del(ctx, configName); err != nil {
		return err
	}
	rep.Deleted = append(rep.Deleted, configName)
	rep.ConfigDeleted = true
	return nil
}

// wipeKeys zeroes the master key and the keys derived from it.
func (r *Repo) wipeKeys() {
	k := r.kr()
	for _, m := range k.masters {
		clear(m)
	}
	for _, e := range k.enc {
		clear(e[:])
	}
	clear(k.dataID[:])
	clear(k.treeID[:])
	clear(k.gear[:])
}

// encodeTombstone builds the tombstone object (kindTombstone).
func encodeTombstone(repoID [repoIDSize]byte, at time.Time) []byte {
	h := header{version: formatVersion, kind: kindTombstone}
	e := encoder{B: h.append(nil)}
	e.Raw(repoID[:])
	e.U64(uint64(at.UnixNano()))
	e.U64(xxhash.Sum64(e.B))
	return e.B
}

// destroyed reports whether bucket holds DestroyKeys's tombstone.
func destroyed(ctx context.Context, bucket *blob.Bucket) bool {
	ok, err := bucket.Exists(ctx, tombstoneName)
	return err == nil && ok
}

// bucketRetention asks an S3 bucket whether it keeps old versions or locks
// objects. Other stores, and errors, give RetentionUnknown and a warning.
func bucketRetention(ctx context.Context, bucket *blob.Bucket) (versioning, lock string, warnings []string) {
	versioning, lock = RetentionUnknown, RetentionUnknown
	var client *s3.Client
	if !bucket.As(&client) {
		warnings = append(warnings, "the store's versioning and object lock are unknown (not S3): if it keeps old versions of keys/ and config, the bucket owner must purge them")
		return
	}
	name, _, err := s3Names(ctx, bucket, keysPrefix)
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("could not ask S3 about versioning and object lock (listing failed: %v): if the bucket keeps old versions of keys/ and config, its owner must purge them", err))
		return
	}
	v, err := client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &name})
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("could not ask S3 %s about versioning: %v", name, err))
	} else {
		switch v.Status {
		case types.BucketVersioningStatusEnabled:
			versioning = RetentionEnabled
		case types.BucketVersioningStatusSuspended:
			versioning = RetentionSuspended
		default:
			versioning = RetentionOff
		}
	}
	l, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: &name})
	switch {
	case err != nil && objectLockNotConfigured(err):
		lock = RetentionOff
	case err != nil:
		warnings = append(warnings, fmt.Sprintf("could not ask S3 %s about object lock: %v", name, err))
	case l.ObjectLockConfiguration != nil && l.ObjectLockConfiguration.ObjectLockEnabled == types.ObjectLockEnabledEnabled:
		lock = RetentionEnabled
	default:
		lock = RetentionOff
	}
	if versioning == RetentionEnabled || versioning == RetentionSuspended || lock == RetentionEnabled {
		warnings = append(warnings, fmt.Sprintf("S3 bucket %s has versioning %s and object lock %s: old versions of keys/ and config may still exist and open the repository with any old key; the bucket owner must purge them (and any locked versions once their retention ends)", name, versioning, lock))
	}
	return versioning, lock, warnings
}

// objectLockNotConfigured reports S3's answer for a bucket without object
// lock.
func objectLockNotConfigured(err error) bool {
	var ae interface{ ErrorCode() string }
	return errors.As(err, &ae) && ae.ErrorCode() == "ObjectLockConfigurationNotFoundError"
}
