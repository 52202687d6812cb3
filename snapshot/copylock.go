package snapshot

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

// copyLock writes a copy's objects under its Object Lock policy
// (CopyOptions.Lock), dated from when each is copied.
type copyLock struct {
	r   *Repo
	l   *ObjectLock
	dst s3Bucket
	// fresh names the packs this copy wrote (locked for Snapshots from
	// then): they need no extension.
	fresh map[string]bool
}

// newCopyLock checks the policy l and that dst is an S3 bucket with
// Object Lock enabled.
func (r *Repo) newCopyLock(ctx context.Context, dst *blob.Bucket, l *ObjectLock) (*copyLock, error) {
	if err := l.validate(); err != nil {
		return nil, fmt.Errorf("snapshot: copy: CopyOptions.Lock: %w", err)
	}
	r.lockMu.Lock()
	b, ok := r.lockedDst[dst]
	r.lockMu.Unlock()
	if !ok {
		var err error
		if b, err = checkObjectLock(ctx, dst); err != nil {
			return nil, fmt.Errorf("snapshot: copy: the destination: %w", err)
		}
		// Remembered per bucket, so that following a copy object by
		// object (CopyObjects) does not ask each time.
		r.lockMu.Lock()
		if r.lockedDst == nil || len(r.lockedDst) >= 64 {
			r.lockedDst = map[*blob.Bucket]s3Bucket{}
		}
		r.lockedDst[dst] = b
		r.lockMu.Unlock()
	}
	return &copyLock{r: r, l: l, dst: b, fresh: map[string]bool{}}, nil
}

// before is the BeforeWrite hook that locks name in the copy (nil: not
// locked, or no copyLock).
func (c *copyLock) before(name string) func(as func(any) bool) error {
	if c == nil {
		return nil
	}
	d := c.l.lockFor(name)
	if d <= 0 {
		return nil
	}
	if strings.HasPrefix(name, dataPrefix) {
		c.fresh[name] = true
	}
	return lockHook(name, c.l.Mode, c.r.opts.Now().Add(d))
}

// extendFor makes the packs snapshot m uses retained in the copy at
// least as long as m will be (the policy's Snapshots from now),
// before m's manifest is copied: the copy's own kopia#1067. It returns
// how many dates it moved.
func (c *copyLock) extendFor(ctx context.Context, m Manifest) (int, error) {
	if c == nil {
		return 0, nil
	}
	packs := map[string]bool{}
	note := func(id blobID) {
		c.r.idxMu.RLock()
		if loc, ok := c.r.idx.lookup(id); ok {
			packs[c.r.idx.packs[loc.pack].name()] = true
		}
		c.r.idxMu.RUnlock()
	}
	tr := c.r.newTreeReader(m)
	tr.onTree = note
	if err := tr.walk(ctx, func(id blobID) error { note(id); return nil }, func() error { return nil }); err != nil {
		return 0, fmt.Errorf("snapshot: copy: read snapshot %s's tree to lock its packs: %w", m.ID.Short(), err)
	}
	need, to := c.l.extension(c.r.opts.Now())
	moved := 0
	for _, name := range slices.Sorted(maps.Keys(packs)) {
		if c.fresh[name] {
			continue
		}
		key := c.dst.prefix + name
		head, err := c.dst.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.dst.name, Key: &key})
		if err != nil {
			return moved, fmt.Errorf("snapshot: copy: ask the copy's %s for its Object Lock: %w", name, err)
		}
		if head.ObjectLockRetainUntilDate != nil && !head.ObjectLockRetainUntilDate.Before(need) {
			continue
		}
		if err := c.dst.retain(ctx, name, head.VersionId, c.l.Mode, to); err != nil {
			return moved, fmt.Errorf("snapshot: copy: extend the copy's Object Lock of %s, which snapshot %s uses: %w", name, m.ID.Short(), err)
		}
		moved++
	}
	return moved, nil
}
