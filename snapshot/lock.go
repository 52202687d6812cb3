package snapshot

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"
)

// Locks. Save takes a shared lock, Prune an exclusive one, so Prune never
// deletes a pack while a Save may still reference it (a Save deduplicates
// against packs Prune would consider garbage). A lock is an object under
// locks/; objects are never modified, so a holder refreshes its lock by
// writing a new object and deleting the old one every LockStale/4. A lock
// not refreshed for LockStale is stale: its holder is presumed dead and
// others ignore it. A holder whose newest lock object is older than
// LockStale/2 (refreshes failing, or the process paused) stops its
// operation with ErrLockLost, and a Save checks this again right before
// it publishes its index and manifest; the other half of LockStale is the
// margin for clock differences between hosts. After writing its lock a taker lists the locks again and
// backs off if it finds a conflict, so two takers never both win.
//
// Prune additionally never deletes a pack that no index names unless it
// is older than LockStale: such a pack may belong to a Save whose index
// is about to be written.

// ErrLockLost is the cause when an operation is stopped because its lock
// could not be refreshed before going stale.
var ErrLockLost = errors.New("snapshot: repository lock could not be refreshed; operation stopped")

type lockInfo struct {
	name      string
	exclusive bool
	host      string
	pid       uint32
	time      time.Time
	op        string
}

func (l lockInfo) String() string {
	kind := "shared"
	if l.exclusive {
		kind = "exclusive"
	}
	return fmt.Sprintf("%s lock %s held by %s pid %d for %s since %s", kind, strings.TrimPrefix(l.name, locksPrefix), l.host, l.pid, l.op, l.time.Format(time.RFC3339))
}

func encodeLockBody(l lockInfo) []byte {
	var e encoder
	if l.exclusive {
		e.U8(1)
	} else {
		e.U8(0)
	}
	e.Str(l.host)
	e.U32(l.pid)
	e.U64(uint64(l.time.UnixNano()))
	e.Str(l.op)
	return e.B
}

func decodeLockBody(b []byte) (lockInfo, error) {
	var l lockInfo
	d := decoder{B: b}
	l.exclusive = d.U8() == 1
	l.host = d.Str(4096)
	l.pid = d.U32()
	l.time = time.Unix(0, int64(d.U64())).UTC()
	l.op = d.Str(256)
	return l, d.Done()
}

type repoLock struct {
	r      *Repo
	info   lockInfo
	cancel context.CancelCauseFunc
	opCtx  context.Context
	// bg bounds refresh attempts; cancelled by release so that it never
	// waits for a slow one.
	bg       context.Context
	bgCancel context.CancelFunc
	wg       sync.WaitGroup

	mu   sync.Mutex
	name string
	at   time.Time // time recorded in the newest lock object written

	noop bool // ReadOnly: no lock object, nothing to refresh or check
}

// lock takes a shared or exclusive lock for op ("save", "prune", …), retrying with backoff while a
// conflicting live lock exists, until ctx is done or Options.LockWait
// has passed.
func (r *Repo) lock(ctx context.Context, op string, exclusive bool) (*repoLock, error) {
	if r.opts.ReadOnly {
		if exclusive || op == "save" {
			return nil, fmt.Errorf("%w: %s", ErrReadOnly, op)
		}
		// Readers of a read-only repository hold no lock object.
		lk := &repoLock{r: r, noop: true}
		lk.opCtx, lk.cancel = context.WithCancelCause(ctx)
		return lk, nil
	}
	info := lockInfo{exclusive: exclusive, host: r.opts.Hostname, pid: uint32(os.Getpid()), op: op}
	backoff := 100 * time.Millisecond
	var deadline <-chan time.Time
	if r.opts.LockWait > 0 {
		t := time.NewTimer(r.opts.LockWait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		name, at, conflict, err := r.tryLock(ctx, info)
		if err != nil {
			return nil, err
		}
		if conflict == nil {
			info.name = name
			return r.startLock(ctx, info, name, at), nil
		}
		r.log.Debug("repository locked, waiting", "holder", conflict.String())
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %s", ErrLocked, conflict)
		case <-deadline:
			t.Stop()
			return nil, fmt.Errorf("%w (waited %v): %s", ErrLocked, r.opts.LockWait, conflict)
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// tryLock writes a lock object and checks for conflicts; on a conflict it
// removes its own object and returns the conflicting lock.
func (r *Repo) tryLock(ctx context.Context, info lockInfo) (string, time.Time, *lockInfo, error) {
	if c, err := r.findConflict(ctx, info.exclusive, ""); err != nil || c != nil {
		return "", time.Time{}, c, err
	}
	info.time = r.opts.Now()
	name := locksPrefix + randomName()
	obj, err := r.kr().sealObject(kindLock, nil, encodeLockBody(info))
	if err != nil {
		return "", time.Time{}, nil, err
	}
	if err := putObject(ctx, r.bucket, name, obj); err != nil {
		return "", time.Time{}, nil, fmt.Errorf("snapshot: write lock: %w", err)
	}
	c, err := r.findConflict(ctx, info.exclusive, name)
	if err != nil || c != nil {
		_ = r.dropLock(context.WithoutCancel(ctx), name, info)
		return "", time.Time{}, c, err
	}
	return name, info.time, nil, nil
}

// findConflict returns a live lock that conflicts with taking an
// (exclusive or shared) lock, ignoring own.
func (r *Repo) findConflict(ctx context.Context, exclusive bool, own string) (*lockInfo, error) {
	locks, err := r.listLocks(ctx)
	if err != nil {
		return nil, err
	}
	now := r.opts.Now()
	for _, l := range locks {
		if l.name == own || now.Sub(l.time) > r.opts.LockStale {
			continue
		}
		if exclusive || l.exclusive {
			return &l, nil
		}
	}
	return nil, nil
}

func (r *Repo) listLocks(ctx context.Context) ([]lockInfo, error) {
	names, err := listNames(ctx, r.bucket, locksPrefix)
	if err != nil {
		return nil, err
	}
	var out []lockInfo
	for _, n := range names {
		raw, err := getObjectMax(ctx, r.bucket, n, maxLockBytes)
		if errors.Is(err, ErrMissing) {
			continue
		}
		if err != nil && !isDamage(err) {
			return nil, err
		}
		var body []byte
		if err == nil {
			body, err = r.kr().openObject(n, kindLock, 0, raw)
		}
		var l lockInfo
		if err == nil {
			if l, err = decodeLockBody(body); err != nil {
				err = corrupt(n, -1, "lock body: "+err.Error())
			}
		}
		if err != nil {
			// Not a lock a key holder wrote (or damaged): it cannot
			// stand for a live operation. Unlock(ctx, true) removes it.
			r.log.Warn("undecodable lock object ignored", "lock", n, "err", err)
			continue
		}
		l.name = n
		out = append(out, l)
	}
	return out, nil
}

func (r *Repo) startLock(ctx context.Context, info lockInfo, name string, at time.Time) *repoLock {
	lk := &repoLock{r: r, info: info, name: name, at: at}
	lk.opCtx, lk.cancel = context.WithCancelCause(ctx)
	lk.bg, lk.bgCancel = context.WithCancel(context.Background())
	lk.wg.Add(1)
	go func() {
		defer lk.wg.Done()
		lk.refreshLoop()
	}()
	return lk
}

// ctx is the operation's context: ctx of lock, also cancelled with
// ErrLockLost if the lock cannot be kept, and when it is released.
func (lk *repoLock) ctx() context.Context { return lk.opCtx }

// maxLockAge is how old the newest lock object may be while the holder
// still acts on it: half of LockStale, the other half being the margin
// for clock drift between hosts and for a write in flight.
func (lk *repoLock) maxLockAge() time.Duration { return lk.r.opts.LockStale / 2 }

// check returns ErrLockLost if the lock may be stale for others: called
// before the writes that publish a Save (its index and manifest), so a
// process that was paused for longer than that cannot publish a snapshot
// whose chunks a Prune elsewhere may have deleted meanwhile.
func (lk *repoLock) check() error {
	if lk.noop {
		return context.Cause(lk.opCtx)
	}
	lk.mu.Lock()
	at := lk.at
	lk.mu.Unlock()
	if age := lk.r.opts.Now().Sub(at); age > lk.maxLockAge() {
		lk.cancel(ErrLockLost)
		return fmt.Errorf("%w (last refreshed %v ago; LockStale is %v)", ErrLockLost, age.Round(time.Millisecond), lk.r.opts.LockStale)
	}
	return context.Cause(lk.opCtx)
}

// refreshLoop writes a new lock object every LockStale/4. When refreshes
// fail it stops the operation once the newest lock object is older than
// maxLockAge.
func (lk *repoLock) refreshLoop() {
	r := lk.r
	every := r.opts.LockStale / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-lk.bg.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(lk.bg, every)
		err := lk.refresh(ctx)
		cancel()
		if err == nil || lk.bg.Err() != nil {
			continue
		}
		r.log.Warn("lock refresh failed", "err", err)
		if lk.check() != nil {
			r.log.Warn("lock lost; stopping the operation", "op", lk.info.op)
		}
	}
}

func (lk *repoLock) refresh(ctx context.Context) error {
	r := lk.r
	info := lk.info
	info.time = r.opts.Now()
	obj, err := r.kr().sealObject(kindLock, nil, encodeLockBody(info))
	if err != nil {
		return err
	}
	name := locksPrefix + randomName()
	if err := putObject(ctx, r.bucket, name, obj); err != nil {
		return err
	}
	lk.mu.Lock()
	old := lk.name
	lk.name = name
	lk.at = info.time
	lk.mu.Unlock()
	return r.dropLock(ctx, old, info)
}

// dropLock removes the lock object name, written for info. Credentials
// that may put but not delete (an archiver's least privilege) cannot:
// the object is then written over with the same lock dated at the epoch,
// which every process reads as stale (released), and a prune with
// credentials that may delete removes it (Unlock).
func (r *Repo) dropLock(ctx context.Context, name string, info lockInfo) error {
	err := r.bucket.Delete(ctx, name)
	if err == nil || !errors.Is(storageErr(name, err), ErrDenied) {
		return err
	}
	info.time = time.Unix(0, 0)
	obj, err := r.kr().sealObject(kindLock, nil, encodeLockBody(info))
	if err != nil {
		return err
	}
	return writeObject(ctx, r.bucket, name, obj, false)
}

// release stops refreshing and deletes the lock object.
func (lk *repoLock) release() {
	if lk.noop {
		lk.cancel(context.Canceled)
		return
	}
	lk.bgCancel()
	lk.wg.Wait()
	lk.cancel(context.Canceled)
	lk.mu.Lock()
	name := lk.name
	lk.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lk.r.dropLock(ctx, name, lk.info); err != nil {
		lk.r.log.Warn("lock not removed; it goes stale by itself", "lock", name, "err", err)
	}
}

// Unlock removes stale locks, or every object under locks/ if all is set
// (including undecodable ones; only when no other process uses the
// repository: a live Save losing its lock to a Prune can lose data). It
// returns how many it removed.
func (r *Repo) Unlock(ctx context.Context, all bool) (int, error) {
	if err := r.checkWritable(); err != nil {
		return 0, err
	}
	var names []string
	if all {
		var err error
		if names, err = listNames(ctx, r.bucket, locksPrefix); err != nil {
			return 0, err
		}
	} else {
		locks, err := r.listLocks(ctx)
		if err != nil {
			return 0, err
		}
		now := r.opts.Now()
		for _, l := range locks {
			if now.Sub(l.time) > r.opts.LockStale {
				names = append(names, l.name)
			}
		}
	}
	for i, n := range names {
		if err := r.del(ctx, n); err != nil {
			return i, err
		}
	}
	return len(names), nil
}
