package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
)

// LockMode is an S3 Object Lock retention mode.
type LockMode string

// The S3 Object Lock modes. Under Governance a user with
// s3:BypassGovernanceRetention can still delete; under Compliance nobody
// can, the account's root included, until the date passes.
const (
	Governance LockMode = "GOVERNANCE"
	Compliance LockMode = "COMPLIANCE"
)

// ObjectLock writes a repository's history under S3 Object Lock, so that
// credentials that may delete (a leaked key, ransomware) cannot remove it
// before its date. The bucket must have Object Lock enabled (and so
// versioning). What is locked, and for how long from its write:
//
//	object                      locked for
//	packs (data/), manifests    Snapshots
//	PutSealed objects           Sealed(name); 0 leaves one unlocked
//	keys, epochs, config, locks never: deleting key slots must still
//	indexes, tenant key slots   shred (DestroyKeys, forgetting a tenant);
//	                            indexes are rebuilt from the packs
//
// A delete of an object whose date has not passed fails with a
// *RetainedError; Prune and Forget skip such objects and report them,
// and Prune does not repack (a locked pack cannot be replaced). Objects
// stay as noncurrent versions once deleted: give the bucket a lifecycle
// rule that expires noncurrent versions.
type ObjectLock struct {
	Mode      LockMode                        // Governance or Compliance
	Snapshots time.Duration                   // how long packs and manifests are locked
	Sealed    func(name string) time.Duration // how long a PutSealed object is locked; nil or 0: not
}

func (l *ObjectLock) validate() error {
	if l == nil {
		return nil
	}
	var errs []error
	if l.Mode != Governance && l.Mode != Compliance {
		errs = append(errs, fmt.Errorf("snapshot: Options.ObjectLock.Mode %q: want %q or %q", l.Mode, Governance, Compliance))
	}
	if l.Snapshots <= 0 {
		errs = append(errs, fmt.Errorf("snapshot: Options.ObjectLock.Snapshots %v: want a positive duration", l.Snapshots))
	}
	return errors.Join(errs...)
}

// RetainedError is the cause inside an *ObjectError when a delete meets
// an object whose Object Lock date has not passed.
type RetainedError struct {
	Until time.Time // the lock's date
	Mode  LockMode  // the lock's mode
}

func (e *RetainedError) Error() string {
	return fmt.Sprintf("retained under %s Object Lock until %s", e.Mode, e.Until.UTC().Format(time.RFC3339))
}

// Is makes a *RetainedError match ErrRetained.
func (e *RetainedError) Is(target error) bool { return target == ErrRetained }

// lockFor is how long the object name is locked when written (0: not).
func (r *Repo) lockFor(name string) time.Duration { return r.opts.ObjectLock.lockFor(name) }

// lockFor is how long l locks the object name (0: not; nil l: nothing).
func (l *ObjectLock) lockFor(name string) time.Duration {
	switch {
	case l == nil:
		return 0
	case strings.HasPrefix(name, dataPrefix), strings.HasPrefix(name, snapsPrefix):
		return l.Snapshots
	case l.Sealed != nil && checkSealedName(name) == nil:
		return l.Sealed(name)
	}
	return 0
}

// lockedWrite returns the BeforeWrite hook that locks the object name, or
// nil if it is not locked.
func (r *Repo) lockedWrite(name string) func(as func(any) bool) error {
	d := r.lockFor(name)
	if d <= 0 {
		return nil
	}
	until := r.opts.Now().Add(d)
	if strings.HasPrefix(name, dataPrefix) {
		r.noteLock(name, until)
	}
	return lockHook(name, r.opts.ObjectLock.Mode, until)
}

// lockHook is the BeforeWrite hook that writes name locked in mode until
// then.
func lockHook(name string, mode LockMode, until time.Time) func(as func(any) bool) error {
	return func(as func(any) bool) error {
		var in *transfermanager.UploadObjectInput
		if !as(&in) {
			return fmt.Errorf("snapshot: %s: Object Lock needs an S3 bucket (gocloud's s3blob)", name)
		}
		in.ObjectLockMode = tmtypes.ObjectLockMode(mode)
		in.ObjectLockRetainUntilDate = &until
		return nil
	}
}

// extension is what a reused pack's date must reach now (need), and
// where it is moved when it does not (to: a tenth further, so that the
// next snapshots do not move it again).
func (l *ObjectLock) extension(now time.Time) (need, to time.Time) {
	return now.Add(l.Snapshots), now.Add(l.Snapshots + l.Snapshots/10)
}

// retain moves the Object Lock date of the object name (its version)
// in b to until, in mode.
func (b s3Bucket) retain(ctx context.Context, name string, version *string, mode LockMode, until time.Time) error {
	key := b.prefix + name
	_, err := b.client.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{
		Bucket: &b.name, Key: &key, VersionId: version,
		Retention: &s3types.ObjectLockRetention{Mode: s3types.ObjectLockRetentionMode(mode), RetainUntilDate: &until},
	})
	return err
}

// locking reports whether the repository's bucket may hold locked
// objects: Options.ObjectLock, or Object Lock enabled on the bucket.
func (r *Repo) locking() bool { return r.opts.ObjectLock != nil || r.lockAware }

// mayBeLocked reports whether a delete of name must first ask whether it
// is under a lock: with Options.ObjectLock, for the objects it locks;
// in a bucket with Object Lock enabled opened without it (ctl), for
// every object that could be.
func (r *Repo) mayBeLocked(name string) bool {
	switch {
	case r.opts.ObjectLock != nil:
		return r.lockFor(name) > 0
	case !r.lockAware:
		return false
	}
	return strings.HasPrefix(name, dataPrefix) || strings.HasPrefix(name, snapsPrefix) || checkSealedName(name) == nil
}

// retained returns a *RetainedError if the object name is under a lock
// whose date has not passed (asked only in a bucket with Object Lock).
func (r *Repo) retained(ctx context.Context, name string) error {
	if !r.locking() {
		return nil
	}
	attrs, err := r.bucket.Attributes(ctx, name)
	if err != nil {
		return storageErr(name, err)
	}
	var head s3.HeadObjectOutput
	if !attrs.As(&head) || head.ObjectLockRetainUntilDate == nil {
		return nil
	}
	if until := *head.ObjectLockRetainUntilDate; until.After(r.opts.Now()) {
		return &RetainedError{Until: until, Mode: LockMode(head.ObjectLockMode)}
	}
	return nil
}

// lockEnabled reports whether bucket is an S3 bucket with Object Lock
// enabled (false for other stores, and when it cannot be told).
func lockEnabled(ctx context.Context, bucket *blob.Bucket) bool {
	var client *s3.Client
	if !bucket.As(&client) {
		return false
	}
	_, err := checkObjectLock(ctx, bucket)
	return err == nil
}

// s3Bucket is the S3 client, bucket name and key prefix (of a
// blob.PrefixedBucket) behind a *blob.Bucket.
type s3Bucket struct {
	client *s3.Client
	name   string
	prefix string
}

// checkObjectLock fails unless bucket is an S3 bucket with Object Lock
// enabled.
func checkObjectLock(ctx context.Context, bucket *blob.Bucket) (s3Bucket, error) {
	var client *s3.Client
	if !bucket.As(&client) {
		return s3Bucket{}, errors.New("snapshot: Options.ObjectLock needs an S3 bucket (gocloud's s3blob)")
	}
	// The bucket's name and key prefix, from a listing's request.
	var name, prefix string
	it := bucket.List(&blob.ListOptions{BeforeList: func(as func(any) bool) error {
		var in *s3.ListObjectsV2Input
		if as(&in) {
			name, prefix = aws.ToString(in.Bucket), aws.ToString(in.Prefix)
		}
		return nil
	}})
	if _, err := it.Next(ctx); err != nil && !errors.Is(err, io.EOF) {
		return s3Bucket{}, fmt.Errorf("snapshot: list the bucket: %w", err)
	}
	if name == "" {
		return s3Bucket{}, errors.New("snapshot: Options.ObjectLock: cannot tell the S3 bucket's name")
	}
	out, err := client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: &name})
	if err != nil {
		return s3Bucket{}, fmt.Errorf("snapshot: Options.ObjectLock: bucket %s: %w (create it with Object Lock enabled)", name, err)
	}
	if out.ObjectLockConfiguration == nil || out.ObjectLockConfiguration.ObjectLockEnabled != s3types.ObjectLockEnabledEnabled {
		return s3Bucket{}, fmt.Errorf("snapshot: Options.ObjectLock: bucket %s does not have Object Lock enabled (it can only be enabled when the bucket is created, or on request to AWS)", name)
	}
	return s3Bucket{client: client, name: name, prefix: prefix}, nil
}

// extendLocks makes the packs a new snapshot reuses (names) retained at
// least as long as it: Options.ObjectLock.Snapshots from now. A pack's
// date is moved a tenth of that further, so that the next Saves do not
// move it again; dates this Repo wrote or moved are remembered, others
// asked for. Called before the snapshot's manifest is written.
func (r *Repo) extendLocks(ctx context.Context, names []string) error {
	l := r.opts.ObjectLock
	if l == nil || len(names) == 0 {
		return nil
	}
	need, to := l.extension(r.opts.Now())
	for _, name := range names {
		r.lockMu.Lock()
		until := r.lockDates[name]
		r.lockMu.Unlock()
		if !until.Before(need) {
			continue
		}
		attrs, err := r.bucket.Attributes(ctx, name)
		if err != nil {
			return storageErr(name, err)
		}
		var head s3.HeadObjectOutput
		if attrs.As(&head) && head.ObjectLockRetainUntilDate != nil {
			until = *head.ObjectLockRetainUntilDate
		}
		if until.Before(need) {
			if err := r.s3.retain(ctx, name, head.VersionId, l.Mode, to); err != nil {
				return fmt.Errorf("snapshot: extend the Object Lock of %s, which the new snapshot reuses: %w", name, err)
			}
			until = to
			r.extended.Add(1)
		}
		r.noteLock(name, until)
	}
	return nil
}

// noteLock remembers an object's lock date (for extendLocks).
func (r *Repo) noteLock(name string, until time.Time) {
	r.lockMu.Lock()
	defer r.lockMu.Unlock()
	if r.lockDates == nil {
		r.lockDates = map[string]time.Time{}
	}
	r.lockDates[name] = until
}

// LockDate returns the Object Lock date of the object name: zero if it
// has none (or the store has no Object Lock).
func (r *Repo) LockDate(ctx context.Context, name string) (time.Time, error) {
	if err := r.checkOpen(); err != nil {
		return time.Time{}, err
	}
	attrs, err := r.bucket.Attributes(ctx, name)
	if err != nil {
		return time.Time{}, storageErr(name, err)
	}
	var head s3.HeadObjectOutput
	if !attrs.As(&head) || head.ObjectLockRetainUntilDate == nil {
		return time.Time{}, nil
	}
	return *head.ObjectLockRetainUntilDate, nil
}

// LockReport says how far Object Lock protects objects in use
// (VerifyOptions.Locks).
type LockReport struct {
	// Checked counts the objects asked; Locked those under a lock whose
	// date has not passed.
	Checked, Locked int
	// Earliest is the earliest of those dates: until then none of the
	// locked objects can be deleted.
	Earliest time.Time
	// Unprotected names the objects in use without a lock, or whose
	// lock's date has passed.
	Unprotected []string
}

// Add counts one object whose lock date is until (zero: none), as of
// now.
func (l *LockReport) Add(name string, until, now time.Time) {
	l.Checked++
	if !until.After(now) {
		l.Unprotected = append(l.Unprotected, name)
		return
	}
	l.Locked++
	if l.Earliest.IsZero() || until.Before(l.Earliest) {
		l.Earliest = until
	}
}

// String summarizes the report for operators.
func (l LockReport) String() string {
	if l.Checked == 0 {
		return "Object Lock: nothing checked"
	}
	s := fmt.Sprintf("Object Lock: %d of %d objects locked", l.Locked, l.Checked)
	if l.Locked > 0 {
		s += ", the earliest until " + l.Earliest.UTC().Format(time.RFC3339)
	}
	if n := len(l.Unprotected); n > 0 {
		s += fmt.Sprintf("; %d unprotected (e.g. %s)", n, l.Unprotected[0])
	}
	return s
}

// lockReport asks the lock date of each object of names.
func (r *Repo) lockReport(ctx context.Context, names []string) (*LockReport, error) {
	rep := &LockReport{}
	now := r.opts.Now()
	for _, n := range names {
		until, err := r.LockDate(ctx, n)
		if errors.Is(err, ErrMissing) {
			continue // Verify reports it missing
		}
		if err != nil {
			return nil, err
		}
		rep.Add(n, until, now)
	}
	return rep, nil
}
