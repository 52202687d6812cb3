package wal

import (
	"context"
	"fmt"
	"iter"
)

// CutTail cuts the records after lsn off the end of the log: the tail
// that diverged from the history a node now follows (a deposed primary
// rejoining, a standby whose primary lost records it had not
// acknowledged, a standby restarting its log after a base snapshot). If
// save is not nil, it is called first with the records to be cut, in LSN
// order, and the log is cut only if it returns nil, so that a caller can
// keep (and sync) what is cut for inspection. It returns how many records
// were cut (0 if lsn is the last). lsn must be in [First()-1, Last()]: a
// cut before the log's first record gives ErrOutOfRange. See TruncateBack
// for crash safety and readers.
func (l *Log) CutTail(ctx context.Context, lsn LSN, save func(tail iter.Seq2[Record, error]) error) (int, error) {
	first, last := l.First(), l.Last()
	if lsn >= last {
		return 0, nil
	}
	if lsn+1 < first {
		return 0, fmt.Errorf("%w: the log starts at %d, after LSN %d where it is to be cut", ErrOutOfRange, first, lsn)
	}
	if save != nil {
		if err := save(l.records(ctx, lsn+1, last)); err != nil {
			return 0, fmt.Errorf("wal: save the tail after LSN %d before cutting it: %w", lsn, err)
		}
	}
	if err := l.TruncateBack(lsn); err != nil {
		return 0, err
	}
	return int(last - lsn), nil
}

// records yields the log's records from through to; a read error is
// yielded once and ends the sequence.
func (l *Log) records(ctx context.Context, from, to LSN) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		r := l.NewReader(from)
		defer r.Close()
		for at := from; at <= to; at++ {
			rec, err := r.Next(ctx)
			if err != nil {
				yield(Record{}, fmt.Errorf("wal: read LSN %d: %w", at, err))
				return
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}
