package archive

import (
	"context"
	"errors"
	"time"

	"github.com/continuity-go/continuity/snapshot"
)

// deniedRetry is how long an archiver whose delete was denied skips its
// own deletes before it tries one again (the credentials may have
// changed).
const deniedRetry = time.Hour

// deletes tracks whether the archiver may delete the objects it makes
// superfluous itself: old heads and compacted pieces. Guarded by
// Archiver.mu.
type deletes struct {
	deniedUntil time.Time // skip deletes until then
	warned      bool      // the denial has been logged
}

// deleteOwn deletes an object the archiver itself made superfluous. An
// archiver whose credentials may put, get and list but not delete (the
// least privilege for archiving) leaves such objects for a prune with
// credentials that may: once the store denies a delete, deleteOwn skips
// deletes for deniedRetry, counts each it skips in
// Status.DeletesDeferred, and returns false. Any other error is
// returned.
func (a *Archiver) deleteOwn(ctx context.Context, name string) (deleted bool, err error) {
	now := a.opts.Now()
	a.mu.Lock()
	skip := now.Before(a.dels.deniedUntil)
	if skip {
		a.st.DeletesDeferred++
	}
	a.mu.Unlock()
	if skip {
		return false, nil
	}
	err = a.store.DeleteObject(ctx, name)
	if errors.Is(err, snapshot.ErrRetained) {
		// Under Object Lock: it goes once its date passes (retention).
		a.mu.Lock()
		a.st.DeletesDeferred++
		a.mu.Unlock()
		return false, nil
	}
	if !errors.Is(err, snapshot.ErrDenied) {
		return err == nil, err
	}
	a.mu.Lock()
	a.dels.deniedUntil = now.Add(deniedRetry)
	a.st.DeletesDeferred++
	warn := !a.dels.warned
	a.dels.warned = true
	a.mu.Unlock()
	if warn {
		a.lg.Warn("archive: the store denies this archiver deletes; superseded objects (old heads, compacted pieces) stay until a retention run with credentials that may delete (ctl forget)",
			"object", name, "err", err)
	}
	return false, nil
}
