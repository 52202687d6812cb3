package wal

import (
	"errors"
	"fmt"
)

// ErrHeld is the cause inside a *HoldError: TruncateFront was asked to
// drop records that a Hold keeps.
var ErrHeld = errors.New("wal: records still held")

// HoldError reports a TruncateFront refused because of a Hold: records
// from Held on are still needed by Holder (an archiver that has not
// shipped them yet, say). Truncate to at most Held, or wait.
type HoldError struct {
	Holder    string // name the hold was set under
	Held      LSN    // first LSN the holder still needs
	Requested LSN    // the LSN passed to TruncateFront
}

// Error names the holder and what to do.
func (e *HoldError) Error() string {
	return fmt.Sprintf("wal: TruncateFront(%d) refused: %q still needs records from LSN %d; truncate to at most %d or wait until it has them",
		e.Requested, e.Holder, e.Held, e.Held)
}

// Unwrap returns ErrHeld.
func (e *HoldError) Unwrap() error { return ErrHeld }

// Hold makes TruncateFront keep every record from lsn on, on behalf of
// holder (for example "archive"): a TruncateFront(to) with to > lsn fails
// with a *HoldError until the hold moves past to or is released. Calling
// Hold again with the same holder moves its hold; holds are in memory
// only and are set again by their owners after a restart.
func (l *Log) Hold(holder string, lsn LSN) {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	if l.holds == nil {
		l.holds = make(map[string]LSN)
	}
	l.holds[holder] = lsn
}

// Release removes holder's hold.
func (l *Log) Release(holder string) {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	delete(l.holds, holder)
}

// Holds returns a copy of the current holds, holder to first kept LSN.
func (l *Log) Holds() map[string]LSN {
	l.tmu.Lock()
	defer l.tmu.Unlock()
	m := make(map[string]LSN, len(l.holds))
	for k, v := range l.holds {
		m[k] = v
	}
	return m
}

// checkHolds fails TruncateFront(lsn) if a hold keeps records before lsn.
// The caller holds tmu.
func (l *Log) checkHolds(lsn LSN) error {
	var worst *HoldError
	for h, held := range l.holds {
		if lsn > held && (worst == nil || held < worst.Held || held == worst.Held && h < worst.Holder) {
			worst = &HoldError{Holder: h, Held: held, Requested: lsn}
		}
	}
	if worst != nil {
		return worst
	}
	return nil
}
