package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/continuity-go/continuity/replication"
	"github.com/continuity-go/continuity/wal"
)

// applyClock is a standby's state machine: it keeps nothing but when each
// record was applied, as time since base, so that the standby's lag can be
// computed record by record against the primary's Append return times.
type applyClock struct {
	base time.Time
	mu   sync.Mutex
	at   []time.Duration // at[i]: when LSN i+1 was applied
}

func (a *applyClock) Apply(rec wal.Record) error {
	now := time.Since(a.base)
	a.mu.Lock()
	defer a.mu.Unlock()
	if want := wal.LSN(len(a.at) + 1); rec.LSN != want {
		return fmt.Errorf("applied LSN %d, want %d", rec.LSN, want)
	}
	a.at = append(a.at, now)
	return nil
}

func (a *applyClock) Snapshot(w io.Writer) error { return nil }
func (a *applyClock) Restore(r io.Reader) error  { return nil }

// appliedAt returns when lsn was applied, and whether it was.
func (a *applyClock) appliedAt(lsn wal.LSN) (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if lsn < 1 || int(lsn) > len(a.at) {
		return 0, false
	}
	return a.at[lsn-1], true
}

// applied returns how many records were applied between from and to.
func (a *applyClock) appliedBetween(from, to time.Duration) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, t := range a.at {
		if t >= from && t < to {
			n++
		}
	}
	return n
}

// cluster is a primary and its standbys in this process, each with its
// own log in a directory of dir, connected over loopback TLS.
type cluster struct {
	plog    *wal.Log
	primary *replication.Primary // nil without standbys
	slogs   []*wal.Log
	sbs     []*replication.Standby
	clocks  []*applyClock
}

// openCluster opens a primary log in dir and, with standbys > 0, a
// Primary on 127.0.0.1 (PrimaryOptions.Window window; 0: its default) and
// that many Standbys (StandbyOptions.FlushDelay flushDelay; 0: its
// default) with their logs in sdir, and waits until every standby is
// connected. Every log has the default wal.Options: an fdatasync per
// group commit.
func openCluster(ctx context.Context, dir, sdir string, pk *pki, standbys, window int, flushDelay time.Duration, base time.Time) (c *cluster, err error) {
	c = &cluster{}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.close())
			c = nil
		}
	}()
	if c.plog, err = wal.Open(filepath.Join(dir, primaryNode), wal.Options{}); err != nil {
		return c, err
	}
	if standbys == 0 {
		return c, nil
	}
	var names []string
	for i := range standbys {
		names = append(names, standbyNode(i))
	}
	c.primary, err = replication.NewPrimary(c.plog, "127.0.0.1:0", replication.PrimaryOptions{
		Transport: pk.transport(primaryNode, names...),
		Node:      primaryNode,
		Window:    window,
	})
	if err != nil {
		return c, err
	}
	for _, name := range names {
		l, err := wal.Open(filepath.Join(sdir, name), wal.Options{})
		if err != nil {
			return c, err
		}
		c.slogs = append(c.slogs, l)
		clock := &applyClock{base: base}
		s, err := replication.NewStandby(l, clock, replication.StandbyOptions{
			Transport:  pk.transport(name, primaryNode),
			Node:       name,
			Primary:    c.primary.Addr().String(),
			FlushDelay: flushDelay,
		})
		if err != nil {
			return c, err
		}
		c.sbs = append(c.sbs, s)
		c.clocks = append(c.clocks, clock)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(c.primary.Standbys()) < standbys {
		select {
		case <-wctx.Done():
			return c, fmt.Errorf("%d of %d standbys connected after 10 s", len(c.primary.Standbys()), standbys)
		case <-time.After(time.Millisecond):
		}
	}
	return c, nil
}

// appender returns the op a writer runs in mode m.
func (c *cluster) appender(ctx context.Context, m mode, payload []byte) op {
	if m == modeBaseline {
		return func() (wal.LSN, error) {
			_, last, err := c.plog.Append(ctx, payload)
			return last, err
		}
	}
	rm := replication.Mode{Sync: m.sync()}
	return func() (wal.LSN, error) {
		_, last, err := c.primary.Append(ctx, rm, payload)
		return last, err
	}
}

// close stops the standbys, then the primary, then closes every log.
func (c *cluster) close() error {
	var errs []error
	for _, s := range c.sbs {
		errs = append(errs, s.Close())
	}
	if c.primary != nil {
		errs = append(errs, c.primary.Close())
	}
	for _, l := range c.slogs {
		errs = append(errs, l.Close())
	}
	if c.plog != nil {
		errs = append(errs, c.plog.Close())
	}
	return errors.Join(errs...)
}
