package replication

import (
	"context"
	"fmt"

	"github.com/continuity-go/continuity/wal"
)

// Appending on the primary: the modes (asynchronous, synchronous to K
// standbys), what happens with too few standbys (PolicyBlock,
// PolicyDegrade), and waiting for standbys to flush.

// WaitFlushed waits until k standbys have flushed lsn to their WAL (sync
// replication: call it after Append, before acknowledging the write), or
// until ctx is done.
//
// Frames sent while it waits ask the standbys to sync at once; records
// sent before it was called are synced at the standbys' own pace
// (StandbyOptions.FlushDelay), so Append with Mode.Sync is the faster
// way to wait.
func (p *Primary) WaitFlushed(ctx context.Context, lsn wal.LSN, k int) error {
	p.syncing.Add(1)
	defer p.syncing.Add(-1)
	return p.waitSync(ctx, lsn, Mode{Sync: k, Policy: PolicyBlock})
}

// Mode says when Primary.Append returns.
type Mode struct {
	// Sync is how many standbys must have flushed the records; 0 is
	// asynchronous replication (Append returns when the local WAL has
	// them).
	Sync int
	// Policy says what Append does when fewer than Sync standbys are
	// connected.
	Policy Policy
}

// Policy is the synchronous mode's answer to too few standbys.
type Policy int

const (
	// PolicyBlock waits until enough standbys acknowledge (or ctx ends):
	// no acknowledged write can be lost with the primary (Patroni's
	// strict synchronous mode).
	PolicyBlock Policy = iota
	// PolicyDegrade returns once the local WAL has the records when
	// fewer than Sync standbys are connected, logging the degradation
	// (Degraded and DegradedAppends report it): availability over the
	// guarantee.
	PolicyDegrade
)

// Append appends records to the primary's WAL and returns per mode: after
// the local fdatasync (async), or once mode.Sync standbys have flushed
// them too. A deposed primary refuses with ErrDeposed before writing.
func (p *Primary) Append(ctx context.Context, mode Mode, data ...[]byte) (first, last wal.LSN, err error) {
	return p.AppendKind(ctx, mode, wal.KindEvent, data...)
}

// AppendKind is Append for records of kind k.
func (p *Primary) AppendKind(ctx context.Context, mode Mode, k wal.Kind, data ...[]byte) (first, last wal.LSN, err error) {
	if err := p.Deposed(); err != nil {
		return 0, 0, err
	}
	if mode.Sync > 0 {
		// Before the records exist, so that the frame carrying them
		// asks the standbys to sync them at once.
		p.syncing.Add(1)
		defer p.syncing.Add(-1)
	}
	first, last, err = p.log.AppendKind(ctx, k, data...)
	if err != nil || mode.Sync <= 0 {
		return first, last, err
	}
	if mode.Policy == PolicyDegrade && p.connected() < mode.Sync {
		p.setDegraded(true, mode.Sync)
		return first, last, nil
	}
	if err := p.waitSync(ctx, last, mode); err != nil {
		return first, last, err
	}
	p.setDegraded(false, mode.Sync)
	return first, last, nil
}

func (p *Primary) connected() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.standbys)
}

// setDegraded records whether a synchronous Append returned without its
// k standbys (d) or with them, and logs each change.
func (p *Primary) setDegraded(d bool, k int) {
	p.mu.Lock()
	was := p.degraded
	p.degraded = d
	if d {
		p.degradedAppends++
	}
	p.mu.Unlock()
	if d && !was {
		p.lg.Warn("synchronous replication degraded to asynchronous: too few standbys connected", "want", k, "connected", p.connected())
	} else if !d && was {
		p.lg.Info("synchronous replication restored", "standbys", k)
	}
}

// Degraded reports whether the last synchronous Append with PolicyDegrade
// returned without its standbys.
func (p *Primary) Degraded() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.degraded
}

// DegradedAppends is how many synchronous Appends with PolicyDegrade
// returned without their standbys since the Primary started: writes
// acknowledged that a loss of this primary can lose. Export it as a
// counter and alert when it rises (Degraded is the matching gauge).
func (p *Primary) DegradedAppends() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.degradedAppends
}

// waitSync waits for mode.Sync standbys to flush lsn. Under PolicyDegrade
// it gives up waiting when standbys disconnect below Sync.
func (p *Primary) waitSync(ctx context.Context, lsn wal.LSN, mode Mode) error {
	for {
		p.mu.Lock()
		n := 0
		for _, s := range p.standbys {
			if s.Flushed >= lsn {
				n++
			}
		}
		connected, ch, dep := len(p.standbys), p.changed.Changed(), p.deposed
		p.mu.Unlock()
		if n >= mode.Sync {
			return nil
		}
		if dep != nil {
			return dep
		}
		if mode.Policy == PolicyDegrade && connected < mode.Sync {
			p.setDegraded(true, mode.Sync)
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if connected < mode.Sync {
				return fmt.Errorf("%w (%d of %d) for LSN %d: %w", ErrTooFewStandbys, connected, mode.Sync, lsn, context.Cause(ctx))
			}
			return fmt.Errorf("replication: %d of %d standbys flushed LSN %d: %w", n, mode.Sync, lsn, context.Cause(ctx))
		}
	}
}
