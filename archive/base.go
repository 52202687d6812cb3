package archive

import (
	"context"
	"errors"
	"fmt"

	"github.com/continuity-go/continuity/snapshot"
)

// requestSnapshot asks the snapshotter for a base snapshot (at most one
// request waits).
func (a *Archiver) requestSnapshot() {
	select {
	case a.snapCh <- struct{}{}:
	default:
	}
}

// snapshotter takes a base snapshot for each request until the archiver
// closes; a failure is recorded and logged, and the schedule goes on.
func (a *Archiver) snapshotter() {
	defer a.wg.Done()
	for {
		select {
		case <-a.snapCh:
			// Decided under snapMu: a request queued during a snapshot
			// (SnapshotNow's too) is judged once that one is saved.
			a.snapMu.Lock()
			var err error
			if a.snapshotDue() {
				_, err = a.snapshotLocked(a.ctx)
			}
			a.snapMu.Unlock()
			if err != nil && a.ctx.Err() == nil {
				a.fail(err)
				a.lg.Warn("base snapshot failed; the next one is on schedule", "err", err)
			}
		case <-a.ctx.Done():
			return
		}
	}
}

// snapshotDue reports whether a request still stands: SnapshotEvery has
// passed, or SnapshotEveryBytes were archived, since the last base
// snapshot. Uploads that complete while a snapshot runs request another
// (the bytes before its capture still count); once it is saved, only the
// bytes archived after its capture do.
func (a *Archiver) snapshotDue() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.snapDue || a.opts.SnapshotEveryBytes > 0 && a.sinceSnap >= a.opts.SnapshotEveryBytes {
		return true
	}
	a.snapsSkip++
	return false
}

// SnapshotNow takes a base snapshot: Options.Capture's state,
// saved through the repository with its LSN and the archiver's epoch in
// the manifest and the tag "base".
func (a *Archiver) SnapshotNow(ctx context.Context) (snapshot.Manifest, error) {
	if a.opts.Capture == nil {
		return snapshot.Manifest{}, errors.New("archive: Options.Capture is not set")
	}
	a.snapMu.Lock()
	defer a.snapMu.Unlock()
	return a.snapshotLocked(ctx)
}

// snapshotLocked is SnapshotNow with snapMu held.
func (a *Archiver) snapshotLocked(ctx context.Context) (snapshot.Manifest, error) {
	a.mu.Lock()
	epoch := a.st.Epoch
	counted := a.sinceSnap // archived before the capture: the snapshot holds them
	a.mu.Unlock()
	lsn, write, err := a.opts.Capture(ctx)
	if err != nil {
		return snapshot.Manifest{}, fmt.Errorf("archive: capture state: %w", err)
	}
	at := a.opts.Now() // every record up to lsn was appended before now
	// A state written in parts (EndPart: each tenant's) is chunked part
	// by part, so an unchanged part stores nothing.
	pr, pw := snapshot.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	m, stats, err := a.store.Save(ctx, pr, snapshot.Meta{Time: at, LSN: uint64(lsn), Epoch: epoch, Tags: []string{baseTag}})
	pr.CloseWithError(errors.New("snapshot ended"))
	if err != nil {
		return snapshot.Manifest{}, fmt.Errorf("archive: save base snapshot: %w", err)
	}
	a.mu.Lock()
	a.st.Snapshot, a.st.SnapshotAt, a.st.SnapshotTime, a.st.SnapshotStats = m.ID, lsn, m.Time, stats
	a.sinceSnap = max(a.sinceSnap-counted, 0)
	a.snapDue = false
	a.mu.Unlock()
	a.lg.Info("base snapshot saved", "id", m.ID.Short(), "lsn", lsn, "epoch", epoch)
	a.copyWhole()
	return m, nil
}

// baseTag is the tag of base snapshots: the archiver tags its own, and
// restore starts only from snapshots with this tag (and an LSN), so other
// snapshots in the same repository are never mistaken for the log's state.
const baseTag = "base"
