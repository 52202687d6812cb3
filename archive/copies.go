package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// Copy is a further destination of the archive (Options.Copies): another
// bucket, region or provider. The archiver copies into it what it
// writes, reading each object back from the archive and authenticating
// it (snapshot.Repo.CopyObjects) right after it landed, so the copy lags
// the archive by a GET and a PUT; and it copies the whole archive
// (snapshot.Repo.CopyTo: base snapshots, key slots, what others wrote)
// when it starts, after each base snapshot it takes, after a failure and
// every Every. A copy needs no credentials to the archive's bucket, the
// log is never held for it (the archive holds the records), and it
// keeps its own retention: nothing is deleted from it here.
type Copy struct {
	Name string // names the copy in Status
	// Open opens the copy's bucket: when the archiver starts and again
	// after a failed copy (a directory that went away and came back, a
	// client in a bad state). The archiver closes what it opened.
	Open func(ctx context.Context) (*blob.Bucket, error)
	// Every is how often the whole archive is copied. Default 10 min.
	Every time.Duration
	// Lock, if set, writes the copy under S3 Object Lock with this policy
	// (snapshot.CopyOptions.Lock): a copy that the archive's credentials,
	// or the copy's own, cannot erase before its dates.
	Lock *snapshot.ObjectLock
}

// CopyStatus is a copy's state (Status.Copies).
type CopyStatus struct {
	Name string
	// Archived: the copy holds every record up to here (as far as this
	// archiver knows: 0 until its first copy).
	Archived wal.LSN
	// Lag is how old the oldest record not in the copy is: the archive's
	// own Lag once the copy holds what the archive does, and from the
	// archiver's start until the first whole copy, at least the time
	// since then. It is the copy's recovery point.
	Lag time.Duration
	// Whole is when the last whole copy started: the copy holds every
	// object the archive held then.
	Whole time.Time
	// Pending counts the objects waiting to be copied (or being copied);
	// WholeDue says a whole copy is due or running.
	Pending  int
	WholeDue bool
	// Objects and Bytes count what was written to the copy.
	Objects, Bytes int64
	// Failures counts failed copies (each tried again); LastError is the
	// last one's, nil once one succeeded.
	Failures  int64
	LastError error
	// NotCopied is how many objects of the archive the last copy left
	// out (conflicts, objects that do not authenticate): ctl copy names
	// them.
	NotCopied int
}

// copySource is what a copy reads: a snapshot repository.
type copySource interface {
	CopyTo(ctx context.Context, dst *blob.Bucket, opts snapshot.CopyOptions) (snapshot.CopyStats, error)
	CopyObjects(ctx context.Context, dst *blob.Bucket, names []string, opts snapshot.CopyOptions) (snapshot.CopyStats, error)
}

var _ copySource = (*snapshot.Repo)(nil)

// maxFollowQueue bounds the names a copy that is down queues: past it, a
// whole copy catches up instead.
const maxFollowQueue = 1 << 16

// written is an object the archiver wrote, for the copies to follow.
type written struct {
	name     string
	first    time.Time // its first record's time (a WAL object; else zero)
	archived wal.LSN   // the archive's contiguous end once it landed
}

// follower keeps one copy up with the archive.
type follower struct {
	a    *Archiver
	cfg  Copy
	src  copySource
	wake chan struct{}

	roundMu sync.Mutex   // one round or purge at a time
	dst     *blob.Bucket // under roundMu

	mu      sync.Mutex
	queue   []written // landed in the archive, not yet copied, in that order
	purges  []string  // to delete from the copy before the next round
	whole   bool      // a whole copy is due
	inWhole bool      // a whole copy runs (asking again makes another due)
	start   time.Time
	st      CopyStatus
}

// startCopies starts a follower for each of Options.Copies.
func (a *Archiver) startCopies() {
	src, _ := a.store.(copySource) // Validate checked
	for _, c := range a.opts.Copies {
		f := &follower{a: a, cfg: c, src: src, wake: make(chan struct{}, 1), whole: true, start: a.opts.Now()}
		f.st.Name = c.Name
		a.copies = append(a.copies, f)
		a.wg.Add(1)
		go f.run()
	}
}

// wrote tells the copies that the archiver wrote the object name; first
// is a WAL object's first record time, archived the archive's end. WAL
// objects are queued under a.mu (completed), so a.mu may be held; the
// copies' mu nests inside it.
func (a *Archiver) wrote(name string, first time.Time, archived wal.LSN) {
	for _, f := range a.copies {
		f.mu.Lock()
		if len(f.queue) < maxFollowQueue {
			f.queue = append(f.queue, written{name, first, archived})
		} else {
			f.whole = true
		}
		f.mu.Unlock()
		f.poke()
	}
}

// Wrote tells the copies that name, a sealed object written into the
// archive's store by others (a tenant key slot, an audit record), is
// there, so that they copy it now rather than at the next whole copy.
func (a *Archiver) Wrote(name string) { a.wrote(name, time.Time{}, 0) }

// PurgeCopies deletes the sealed object name from every copy, and on S3
// every version of it (snapshot.PurgeObjectIn): a destroyed key's slot.
// Delete it from the archive first, so that no later copy brings it
// back; PurgeCopies waits for a copy in flight to end. gone names each
// copy it is gone from (copy:NAME:object); a copy that cannot delete it
// now gives a warning, and is tried again before each of its copies
// until it can.
func (a *Archiver) PurgeCopies(ctx context.Context, name string) (gone, warnings []string) {
	for _, f := range a.copies {
		rep, err := f.purge(ctx, name)
		warnings = append(warnings, rep.Warnings...)
		if err != nil {
			f.mu.Lock()
			f.purges = append(f.purges, name)
			f.mu.Unlock()
			f.poke()
			warnings = append(warnings, fmt.Sprintf("copy %s: %s is not deleted yet (%v): it is deleted once the copy can be reached, while this node archives", f.cfg.Name, name, err))
			continue
		}
		gone = append(gone, "copy:"+f.cfg.Name+":"+name)
	}
	return gone, warnings
}

// purge deletes name from the copy, between rounds.
func (f *follower) purge(ctx context.Context, name string) (snapshot.PurgeReport, error) {
	f.roundMu.Lock()
	defer f.roundMu.Unlock()
	if f.a.ctx.Err() != nil {
		return snapshot.PurgeReport{}, errors.New("the archiver stopped")
	}
	if err := f.open(ctx); err != nil {
		return snapshot.PurgeReport{}, err
	}
	return snapshot.PurgeObjectIn(ctx, f.dst, name)
}

// open opens the copy's bucket if it is not open. Caller holds roundMu.
func (f *follower) open(ctx context.Context) error {
	if f.dst != nil {
		return nil
	}
	dst, err := f.cfg.Open(ctx)
	if err != nil {
		return fmt.Errorf("open the copy: %w", err)
	}
	f.dst = dst
	return nil
}

// copyWhole asks every copy for a whole copy (a base snapshot landed).
func (a *Archiver) copyWhole() {
	for _, f := range a.copies {
		f.mu.Lock()
		f.whole = true
		f.mu.Unlock()
		f.poke()
	}
}

func (f *follower) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run copies until the archiver closes.
func (f *follower) run() {
	a := f.a
	defer a.wg.Done()
	defer func() {
		f.roundMu.Lock()
		if f.dst != nil {
			f.dst.Close()
		}
		f.roundMu.Unlock()
	}()
	t := time.NewTicker(f.cfg.Every)
	defer t.Stop()
	backoff := a.opts.MinBackoff
	for {
		f.mu.Lock()
		due := f.whole || len(f.queue) > 0 || len(f.purges) > 0
		f.mu.Unlock()
		if due {
			f.roundMu.Lock()
			err := f.round()
			if err != nil && a.ctx.Err() == nil {
				f.failed(err)
			}
			f.roundMu.Unlock()
			if a.ctx.Err() != nil {
				return
			}
			if err != nil {
				if !a.sleep(backoff) {
					return
				}
				backoff = min(2*backoff, a.opts.MaxBackoff)
				continue
			}
			backoff = a.opts.MinBackoff
		}
		select {
		case <-f.wake:
		case <-t.C:
			f.mu.Lock()
			f.whole = true
			f.mu.Unlock()
		case <-a.ctx.Done():
			return
		}
	}
}

// round deletes what PurgeCopies could not, then copies what is
// queued, or the whole archive if that is due. Caller holds roundMu.
func (f *follower) round() error {
	a := f.a
	if err := f.open(a.ctx); err != nil {
		return err
	}
	f.mu.Lock()
	purges := slices.Clone(f.purges)
	f.mu.Unlock()
	for _, name := range purges {
		rep, err := snapshot.PurgeObjectIn(a.ctx, f.dst, name)
		if err != nil {
			return fmt.Errorf("delete %s (a destroyed key's slot) from the copy: %w", name, err)
		}
		for _, w := range rep.Warnings {
			a.lg.Error("archive: a destroyed key's slot may still be readable in a copy", "copy", f.cfg.Name, "warning", w)
		}
		f.mu.Lock()
		f.purges = slices.DeleteFunc(f.purges, func(s string) bool { return s == name })
		f.mu.Unlock()
		a.lg.Info("archive: deleted a destroyed key's slot from a copy", "copy", f.cfg.Name, "object", name)
	}
	began := a.opts.Now()
	var archived wal.LSN
	f.mu.Lock()
	whole, n := f.whole, len(f.queue)
	// Taken now: a request made while it runs (a base snapshot landed
	// meanwhile) asks for another.
	f.whole, f.inWhole = false, whole
	f.mu.Unlock()
	if whole {
		// CopyTo lists the archive after this: it holds at least this.
		a.mu.Lock()
		archived = a.st.Archived
		a.mu.Unlock()
	}
	f.mu.Lock()
	names := make([]string, 0, n)
	for _, w := range f.queue[:n] {
		names = append(names, w.name)
		archived = max(archived, w.archived)
	}
	f.mu.Unlock()
	opts := snapshot.CopyOptions{SealedPrefix: a.opts.SealedPrefix, Lock: f.cfg.Lock}
	var st snapshot.CopyStats
	var err error
	if whole {
		st, err = f.src.CopyTo(a.ctx, f.dst, opts)
	} else {
		st, err = f.src.CopyObjects(a.ctx, f.dst, names, opts)
		if err == nil && len(st.Unauthenticated) > 0 {
			a.lg.Warn("archive: objects this archiver wrote do not authenticate when read back; the copy lacks them (ctl verify)", "copy", f.cfg.Name, "objects", st.Unauthenticated)
		}
	}
	if missing := slices.IndexFunc(st.Missing, isWALObject); err == nil && missing >= 0 {
		// WAL objects deleted before the copy read them: compacted (the
		// merged object is queued before its pieces are deleted, maybe
		// after this round began) or released by retention. The copy
		// may lack their records, so this round claims nothing, and a
		// whole copy follows. (Older heads go the same way, harmlessly:
		// a newer one follows.)
		a.lg.Info("archive: WAL objects were deleted from the archive before the copy read them; copying the whole archive again", "copy", f.cfg.Name, "object", st.Missing[missing])
		archived = 0
		f.mu.Lock()
		f.whole = true
		f.mu.Unlock()
		f.poke()
	}
	if err == nil && len(st.Conflicts) > 0 {
		err = fmt.Errorf("the copy holds %d object(s) under the archive's names with other sizes (e.g. %s): it is damaged, or another archive's", len(st.Conflicts), st.Conflicts[0])
	}
	f.mu.Lock()
	f.inWhole = false
	f.st.Objects += int64(st.Copied)
	f.st.Bytes += st.Bytes
	f.st.NotCopied = len(st.Conflicts) + len(st.Unauthenticated)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	f.queue = slices.Delete(f.queue, 0, n)
	if whole {
		f.st.Whole = began
	}
	f.st.Archived = max(f.st.Archived, archived)
	f.st.LastError = nil
	f.mu.Unlock()
	a.mu.Lock()
	a.notify() // Sync may wait for copies
	a.mu.Unlock()
	return nil
}

// isWALObject reports whether name is a WAL object's (not a timeline's,
// a head's or a pin's).
func isWALObject(name string) bool {
	_, isTimeline, err := parseArchiveName(name)
	return err == nil && !isTimeline
}

// copiesHolding counts the copies that hold every record up to lsn.
// Caller holds a.mu.
func (a *Archiver) copiesHolding(lsn wal.LSN) int {
	n := 0
	for _, f := range a.copies {
		f.mu.Lock()
		if f.st.Archived >= lsn {
			n++
		}
		f.mu.Unlock()
	}
	return n
}

// failed records a failed round: the next one reopens the copy's bucket
// and copies the whole archive. Caller holds roundMu.
func (f *follower) failed(err error) {
	f.mu.Lock()
	f.st.Failures++
	f.st.LastError = err
	n := f.st.Failures
	f.whole = true
	f.mu.Unlock()
	if f.dst != nil {
		f.dst.Close()
		f.dst = nil
	}
	if n == 1 || n%10 == 0 {
		f.a.lg.Warn("archive: copying failed; it is tried again", "copy", f.cfg.Name, "err", err, "failures", n)
	}
}

// status is the copy's state; lag is the archive's own.
func (f *follower) status(now time.Time, lag time.Duration) CopyStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Pending, st.WholeDue = len(f.queue), f.whole || f.inWhole
	st.Lag = lag
	if st.Whole.IsZero() {
		st.Lag = max(lag, now.Sub(f.start))
	}
	for _, w := range f.queue {
		if !w.first.IsZero() {
			st.Lag = max(st.Lag, now.Sub(w.first))
		}
	}
	return st
}

// validateCopies checks Options.Copies against store.
func validateCopies(cs []Copy) []error {
	var errs []error
	names := map[string]bool{}
	for i, c := range cs {
		switch {
		case c.Name == "":
			errs = append(errs, fmt.Errorf("Copies[%d].Name is empty", i))
		case names[c.Name]:
			errs = append(errs, fmt.Errorf("Copies[%d].Name %q is given twice", i, c.Name))
		}
		names[c.Name] = true
		if c.Open == nil {
			errs = append(errs, fmt.Errorf("Copies[%d].Open is nil", i))
		}
	}
	return errs
}

// errNoCopySource: Options.Copies on a store that cannot copy.
var errNoCopySource = errors.New("archive: Options.Copies needs a store that copies (a *snapshot.Repo)")
