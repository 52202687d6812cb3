package archive

import (
	"errors"
	"fmt"
	"time"

	"github.com/continuity-go/continuity/wal"
)

// upload is one object on its way to the bucket.
type upload struct {
	name     segName
	prefix   []byte // the object's clear prefix and body, until it landed
	body     []byte
	bytes    int64 // record payload bytes
	lastTime time.Time
	prev     chainHash // the chain before its first record
	end      chainHash // the chain after its last record
	done     bool
}

// matchUpload checks that the object already under u's name holds u's
// records (matchExisting).
func (a *Archiver) matchUpload(u *upload) error {
	seg, err := decodeSegment(u.name, u.prefix, u.body)
	if err != nil {
		return err
	}
	if err := matchExisting(a.ctx, a.store, u.name, seg); err != nil {
		return fmt.Errorf("archive: %s is already in the bucket and does not hold these records; the log keeps them: %w", u.name.String(), err)
	}
	return nil
}

// uploader uploads objects, retrying each until it is stored.
func (a *Archiver) uploader() {
	defer a.wg.Done()
	for u := range a.jobs {
		backoff := a.opts.MinBackoff
		start, fails := time.Now(), 0
		var size int64
		for {
			var err error
			size, err = a.store.PutSealed(a.ctx, u.name.String(), u.prefix, u.body)
			if isExists(err) {
				// An earlier attempt that landed, if the object holds
				// exactly these records; anything else under the name
				// (planted, damaged) must not release them from the log.
				err = a.matchUpload(u)
				size = int64(len(u.prefix) + len(u.body))
				if errors.Is(err, ErrCorrupt) {
					// Nothing authentic is there (a planted or damaged
					// object squats the name): replace it with the
					// records the log holds, after a backoff. An
					// authentic object of another history
					// (ErrBrokenChain) is never deleted.
					if derr := a.store.DeleteObject(a.ctx, u.name.String()); derr == nil {
						a.lg.Warn("archive: an object that does not authenticate squatted the next object's name; deleted it, the upload is retried", "object", u.name.String(), "err", err)
					}
				}
			}
			if err == nil {
				break
			}
			if a.ctx.Err() != nil {
				return
			}
			a.mu.Lock()
			a.st.Failures++
			a.st.LastError, a.st.ErrorTime = err, a.opts.Now()
			n := a.st.Failures
			a.mu.Unlock()
			if n == 1 || n%10 == 0 {
				a.lg.Warn("archive upload failed; retrying (the log keeps the records)", "object", u.name.String(), "err", err, "failures", n, "retry_in", backoff)
			}
			fails++
			if !a.sleep(backoff) {
				return
			}
			backoff = min(2*backoff, a.opts.MaxBackoff)
		}
		ev := UploadEvent{Object: u.name.String(), First: u.name.First, Last: u.name.Last, Bytes: int(size), Duration: time.Since(start), Failures: fails}
		ev.Archived = a.completed(u, size)
		if a.opts.OnUpload != nil {
			ev.At = a.opts.Now()
			a.opts.OnUpload(ev)
		}
	}
}

// completed marks u stored and advances the archived point over every
// upload done in LSN order, and returns the archived point.
func (a *Archiver) completed(u *upload, size int64) wal.LSN {
	a.mu.Lock()
	u.done = true
	a.st.Objects++
	a.st.Bytes += size
	// Our own bytes (or an object read back and found equal to them):
	// window and resume need not download it again.
	markVerified(a.store, u.name.String(), u.prev, u.end)
	u.prefix, u.body = nil, nil
	advanced := false
	for len(a.inflight) > 0 && a.inflight[0].done {
		h := a.inflight[0]
		a.inflight = a.inflight[1:]
		a.st.Archived, a.st.ArchivedTime = h.name.Last, h.lastTime
		a.chain = h.end
		a.sinceSnap += h.bytes
		advanced = true
	}
	archived := a.st.Archived
	// Queued for the copies in the order uploads complete, under a.mu:
	// an entry's archived point then covers only objects queued before
	// it, so a copy that copied a prefix of the queue holds it.
	a.wrote(u.name.String(), time.Unix(0, u.name.FirstNanos), archived)
	wantSnap := a.opts.SnapshotEveryBytes > 0 && a.sinceSnap >= a.opts.SnapshotEveryBytes
	if advanced {
		// Move the hold before anyone waiting learns of the progress, so
		// a TruncateFront after Flush returns is not refused.
		a.log.Hold(a.opts.Holder, archived+1)
		a.notify()
	}
	a.mu.Unlock()
	if wantSnap {
		a.requestSnapshot()
	}
	return archived
}
