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

// link checks that a piece of object s covering LSNs lo through hi,
// whose chain is before its first LSN and after its last, continues what
// was taken before (if that ended at lo-1), and takes it. A piece that
// does not link gives an *ObjectError with ErrBrokenChain naming s.
func (l *linker) link(s segName, lo, hi wal.LSN, before, after chainHash) error {
	if l.known && l.at == lo-1 && before != l.chain {
		return &ObjectError{Object: s.String(), LSN: lo, Err: ErrBrokenChain,
			Detail: fmt.Sprintf("its chain before LSN %d is %s, the history's is %s", lo, before, l.chain)}
	}
	if !l.taken {
		l.first, l.taken = before, true
	}
	l.known, l.at, l.chain = true, hi, after
	return nil
}

// take links piece pc of the decoded object seg (see link) and returns its
// records pc.lo through pc.hi.
func (l *linker) take(pc piece, seg segment) ([]wal.Record, error) {
	s := pc.seg
	if pc.lo < s.First || pc.hi > s.Last || pc.lo > pc.hi || len(seg.recs) != int(s.Last-s.First)+1 {
		return nil, fmt.Errorf("archive: piece %d-%d outside object %s", pc.lo, pc.hi, s.String())
	}
	if err := l.link(s.segName, pc.lo, pc.hi, seg.chainBefore(l.c, pc.lo), seg.chainAfter(l.c, pc.hi)); err != nil {
		return nil, err
	}
	return seg.recs[pc.lo-s.First : pc.hi-s.First+1], nil
}

// whole reports whether piece pc is its whole object: then its chain is
// the object's sealed Prev and End, and no record is needed to link it.
func (pc piece) whole() bool { return pc.lo == pc.seg.First && pc.hi == pc.seg.Last }

// takeWhole links a piece that is its whole object from the object's
// authenticated chain alone (see whole).
func (l *linker) takeWhole(pc piece, c segChain) error {
	return l.link(pc.seg.segName, pc.lo, pc.hi, c.prev, c.end)
}

// check authenticates piece pc and links it: from the object's chain if
// pc is its whole object (read only if not already known authentic),
// else from its records.
func (l *linker) check(ctx context.Context, store Store, pc piece) error {
	if pc.whole() {
		c, err := authenticated(ctx, store, pc.seg.segName)
		if err != nil {
			return err
		}
		return l.takeWhole(pc, c)
	}
	seg, err := readSegment(ctx, store, pc.seg.segName)
	if err != nil {
		return err
	}
	_, err = l.take(pc, seg)
	return err
}
