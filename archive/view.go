package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// archiveView is one listing of the archive: every WAL object and the
// newest timeline.
type archiveView struct {
	hist    timeline // the newest timeline; Epochs is empty if none
	segs    []segObj // every WAL object, sorted by name
	offline []segObj // objects of epochs newer than hist
	// exclude holds objects known not to authenticate (Verify found
	// them damaged): planning treats them as missing.
	exclude map[segName]bool
	// badTimelines are timeline objects newer than hist that do not
	// authenticate, each an *ObjectError.
	badTimelines []error
}

type segObj struct {
	segName
	Size int64
}

// loadView lists the archive under wal/ and reads the newest timeline.
func loadView(ctx context.Context, store Store) (*archiveView, error) {
	v := &archiveView{}
	var tls []uint64
	objs, err := store.ListObjects(ctx, archivePrefix, "")
	if err != nil {
		return nil, fmt.Errorf("archive: list %s: %w", archivePrefix, err)
	}
	for _, o := range objs {
		n, isTL, err := parseArchiveName(o.Name)
		if err != nil {
			continue // not ours: a stray object is not history
		}
		if isTL {
			tls = append(tls, n.Epoch)
			continue
		}
		v.segs = append(v.segs, segObj{n, o.Size})
	}
	// The newest timeline that authenticates: one planted above it
	// (it does not authenticate) is reported, not followed.
	slices.Sort(tls)
	for i := len(tls) - 1; i >= 0; i-- {
		t, err := readTimeline(ctx, store, tls[i])
		if err == nil {
			v.hist = t
			break
		}
		if !isObjectErr(err) {
			return nil, err
		}
		v.badTimelines = append(v.badTimelines, err)
	}
	for _, s := range v.segs {
		if len(v.hist.Epochs) == 0 || s.Epoch > v.hist.epoch() {
			v.offline = append(v.offline, s)
		}
	}
	return v, nil
}

func readTimeline(ctx context.Context, store Store, epoch uint64) (timeline, error) {
	name := timelineObject(epoch)
	_, body, err := store.GetSealed(ctx, name, 0, maxTimelineBytes)
	if err != nil {
		return timeline{}, archiveErr(name, 0, err)
	}
	t, err := decodeTimeline(epoch, body)
	if err != nil {
		return timeline{}, &ObjectError{Object: name, Err: ErrCorrupt, Detail: err.Error()}
	}
	return t, nil
}

// piece is the part of one object that a plan reads: LSNs [lo, hi].
type piece struct {
	seg    segObj
	lo, hi wal.LSN
}

// plan is how to read the history from an LSN: the objects in order, each
// with the LSNs to take from it, and where it stops.
type plan struct {
	pieces []piece
	end    wal.LSN // last LSN the plan reaches (from-1 if none)
	gapAt  wal.LSN // first LSN missing after end, if an object exists beyond it; 0 if the plan reaches the tip
	next   segObj  // the object just past the gap
}

// valid returns the objects that supply records of the history, each
// with the highest LSN it may supply.
func (v *archiveView) valid() []piece {
	var ps []piece
	for _, s := range v.segs {
		b, ok := v.hist.bound(s.Epoch)
		if !ok || s.First > b || v.exclude[s.segName] {
			continue
		}
		ps = append(ps, piece{seg: s, lo: s.First, hi: min(s.Last, b)})
	}
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].lo != ps[j].lo {
			return ps[i].lo < ps[j].lo
		}
		return ps[i].hi > ps[j].hi
	})
	return ps
}

// planFrom covers the history from LSN from with as few objects as it can
// (the longest reaching one at every step), to the newest record or the
// first gap.
func (v *archiveView) planFrom(from wal.LSN) plan {
	ps := v.valid()
	p := plan{end: from - 1}
	for {
		best := -1
		for i, pc := range ps {
			if pc.lo <= p.end+1 && pc.hi > p.end && (best < 0 || pc.hi > ps[best].hi) {
				best = i
			}
		}
		if best < 0 {
			for _, pc := range ps { // sorted by lo: the first past end starts after a gap
				if pc.hi > p.end {
					p.gapAt, p.next = p.end+1, pc.seg
					break
				}
			}
			return p
		}
		pc := ps[best]
		pc.lo = p.end + 1
		p.pieces = append(p.pieces, pc)
		p.end = pc.hi
	}
}

// firstLSN is the lowest LSN any valid object holds (0 if none).
func (v *archiveView) firstLSN() wal.LSN {
	ps := v.valid()
	if len(ps) == 0 {
		return 0
	}
	return ps[0].lo
}

// covered reports the LSN ranges of the history that the archive holds:
// sorted, disjoint, not adjacent.
func (v *archiveView) covered() [][2]wal.LSN {
	var out [][2]wal.LSN
	for _, p := range v.valid() {
		if n := len(out); n > 0 && p.lo <= out[n-1][1]+1 {
			out[n-1][1] = max(out[n-1][1], p.hi)
			continue
		}
		out = append(out, [2]wal.LSN{p.lo, p.hi})
	}
	return out
}

// drop excludes the object s from planning: it did not authenticate.
func (v *archiveView) drop(s segName) {
	if v.exclude == nil {
		v.exclude = map[segName]bool{}
	}
	v.exclude[s] = true
}

// holds reports whether a valid object holds lsn.
func (v *archiveView) holds(lsn wal.LSN) bool {
	for _, p := range v.valid() {
		if p.lo <= lsn && lsn <= p.hi {
			return true
		}
	}
	return false
}

// tip is the highest LSN any valid object holds (0 if none).
func (v *archiveView) tip() wal.LSN {
	var t wal.LSN
	for _, p := range v.valid() {
		t = max(t, p.hi)
	}
	return t
}

// readSegment reads, authenticates and decodes one archived object, and
// remembers that it authenticated (see verified).
func readSegment(ctx context.Context, store Store, s segName) (segment, error) {
	name := s.String()
	prefix, body, err := store.GetSealed(ctx, name, segPrefixSize, maxSegmentBytes)
	if err != nil {
		return segment{}, archiveErr(name, s.First, err)
	}
	seg, err := decodeSegment(s, prefix, body)
	if err != nil {
		return segment{}, &ObjectError{Object: name, LSN: s.First, Err: ErrCorrupt, Detail: err.Error()}
	}
	markVerified(store, name, seg.prev, seg.end)
	seg.size = int64(len(prefix) + len(body))
	return seg, nil
}

// authenticateSegment reads and authenticates one archived object and
// checks its prefix against its name, without decoding the records: the
// object is then known to hold the records its name promises, with the
// chain its prefix states. It returns the chain and the bytes read, and
// remembers that the object authenticated.
func authenticateSegment(ctx context.Context, store Store, s segName) (segChain, int64, error) {
	name := s.String()
	prefix, body, err := store.GetSealed(ctx, name, segPrefixSize, maxSegmentBytes)
	if err != nil {
		return segChain{}, 0, archiveErr(name, s.First, err)
	}
	p, err := checkPrefix(s, prefix)
	if err != nil {
		return segChain{}, 0, &ObjectError{Object: name, LSN: s.First, Err: ErrCorrupt, Detail: err.Error()}
	}
	markVerified(store, name, p.prev, p.end)
	return segChain{p.prev, p.end}, int64(len(prefix) + len(body)), nil
}

// isExists reports whether err is a write refused because the object
// exists (IfNotExist).
func isExists(err error) bool { return errors.Is(err, snapshot.ErrObjectExists) }
