package archive

import (
	"context"
	"fmt"

	"github.com/continuity-go/continuity/wal"
)

// linker reads a plan's pieces in order and checks that each continues
// the one before: the chain before a piece's first LSN, from its own
// object, must equal the chain after the previous piece's last LSN.
type linker struct {
	c     *chainer
	known bool      // chain holds the chain after at
	at    wal.LSN   // the last LSN taken
	chain chainHash // the chain after at
	first chainHash // the chain before the first piece taken
	taken bool      // a piece was taken
}

func newLinker() *linker { return &linker{c: newChainer()} }

// take checks that piece pc of the decoded object seg continues what was
// taken before (if that ended at pc.lo-1), and returns its records
// pc.lo through pc.hi. A piece that does not link gives an *ObjectError
// with ErrBrokenChain naming its object.
func (l *linker) take(pc piece, seg segment) ([]wal.Record, error) {
	s := pc.seg
	if pc.lo < s.First || pc.hi > s.Last || pc.lo > pc.hi || len(seg.recs) != int(s.Last-s.First)+1 {
		return nil, fmt.Errorf("archive: piece %d-%d outside object %s", pc.lo, pc.hi, s.String())
	}
	before := seg.prev
	if pc.lo > s.First {
		before = l.c.over(seg.prev, seg.recs[:pc.lo-s.First])
	}
	if l.known && l.at == pc.lo-1 && before != l.chain {
		return nil, &ObjectError{Object: s.String(), LSN: pc.lo, Err: ErrBrokenChain,
			Detail: fmt.Sprintf("its chain before LSN %d is %s, the history's is %s", pc.lo, before, l.chain)}
	}
	recs := seg.recs[pc.lo-s.First : pc.hi-s.First+1]
	after := seg.end
	if pc.hi < s.Last {
		after = l.c.over(before, recs)
	}
	if !l.taken {
		l.first, l.taken = before, true
	}
	l.known, l.at, l.chain = true, pc.hi, after
	return recs, nil
}

// takeWhole is take for a piece that is its whole object, from the
// object's authenticated chain alone (no records needed); false if pc is
// not its whole object (the caller reads it and calls take).
func (l *linker) takeWhole(pc piece, c segChain) (bool, error) {
	s := pc.seg
	if pc.lo != s.First || pc.hi != s.Last {
		return false, nil
	}
	if l.known && l.at == pc.lo-1 && c.prev != l.chain {
		return true, &ObjectError{Object: s.String(), LSN: pc.lo, Err: ErrBrokenChain,
			Detail: fmt.Sprintf("its chain before LSN %d is %s, the history's is %s", pc.lo, c.prev, l.chain)}
	}
	if !l.taken {
		l.first, l.taken = c.prev, true
	}
	l.known, l.at, l.chain = true, pc.hi, c.end
	return true, nil
}

// check authenticates piece pc and links it, reading its object only if
// it is not already known authentic or if pc is part of it.
func (l *linker) check(ctx context.Context, store Store, pc piece) error {
	c, err := authenticated(ctx, store, pc.seg.segName)
	if err != nil {
		return err
	}
	if whole, err := l.takeWhole(pc, c); whole {
		return err
	}
	seg, err := readSegment(ctx, store, pc.seg.segName)
	if err != nil {
		return err
	}
	_, err = l.take(pc, seg)
	return err
}
