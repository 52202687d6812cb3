package wal

import (
	"context"
	"fmt"
)

// CutTail cuts the records after lsn off the end of the log: the tail
// that diverged from the history a node now follows (a deposed primary
// rejoining, a standby whose primary lost records it had not
// acknowledged, a standby restarting its log after a base snapshot). If
// save is not nil, every record to be cut is passed to it first, in LSN
// order, and the log is cut only once save has taken them all, so that
// what was cut can be inspected. It returns how many records were cut
// (0 if lsn is the last). lsn must be in [First()-1, Last()]: a cut
// before the log's first record gives ErrOutOfRange. See TruncateBack for
// crash safety and readers.
func (l *Log) CutTail(ctx context.Context, lsn LSN, save func(Record) error) (int, error) {
	first, last := l.First(), l.Last()
	if lsn >= last {
		return 0, nil
	}
	if lsn+1 < first {
		return 0, fmt.Errorf("%w: the log starts at %d, after LSN %d where it is to be cut", ErrOutOfRange, first, lsn)
	}
	if save != nil {
		r := l.NewReader(lsn + 1)
		for at := lsn + 1; at <= last; at++ {
			rec, err := r.Next(ctx)
			if err == nil {
				err = save(rec)
			}
			if err != nil {
				r.Close()
				return 0, fmt.Errorf("wal: save LSN %d before cutting it: %w", at, err)
			}
		}
		r.Close()
	}
	if err := l.TruncateBack(lsn); err != nil {
		return 0, err
	}
	return int(last - lsn), nil
}
