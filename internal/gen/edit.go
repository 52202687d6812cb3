package gen

import "slices"

// Edit returns a copy of data with edits small random edits, determined by
// seed, the way an application changes a few records of its state between
// two snapshots. Each edit is, with equal probability, an insertion of 1 to
// maxLen random bytes, a deletion of 1 to maxLen bytes, or an overwrite of
// 1 to maxLen bytes with random bytes.
//
// The edit positions are drawn uniformly over data and applied from the
// front; an edit that falls inside the range a previous deletion or
// overwrite consumed moves to the end of that range, and deletions and
// overwrites stop at the end of data. The result's length is therefore
// len(data) plus the inserted bytes minus the deleted ones. Edit panics if
// edits is negative or maxLen is less than 1 while edits is positive. data
// is not modified.
func Edit(seed uint64, data []byte, edits int, maxLen int) []byte {
	r := newRNG(seed)
	type edit struct{ off, op, n int }
	es := make([]edit, edits)
	for i := range es {
		es[i] = edit{off: r.intn(len(data) + 1), op: r.intn(3), n: 1 + r.intn(maxLen)}
	}
	slices.SortStableFunc(es, func(a, b edit) int { return a.off - b.off })

	out := make([]byte, 0, len(data)+edits*maxLen)
	pos := 0 // next byte of data to copy
	for _, e := range es {
		off := max(e.off, pos)
		out = append(out, data[pos:off]...)
		pos = off
		switch e.op {
		case 0: // insert
			out = appendRandom(out, r, e.n)
		case 1: // delete
			pos = min(pos+e.n, len(data))
		case 2: // overwrite
			n := min(e.n, len(data)-pos)
			out = appendRandom(out, r, n)
			pos += n
		}
	}
	return append(out, data[pos:]...)
}

// InsertBytes returns a copy of data with one random byte inserted at each
// of count random offsets, determined by seed: the smallest change that
// shifts all the content after it, and so the classic test of a chunker's
// shift resistance. Offsets are drawn uniformly from [0, len(data)], so two
// insertions may land at the same offset. The result is len(data)+count
// bytes long. InsertBytes panics if count is negative. data is not
// modified.
func InsertBytes(seed uint64, data []byte, count int) []byte {
	r := newRNG(seed)
	offs := make([]int, count)
	for i := range offs {
		offs[i] = r.intn(len(data) + 1)
	}
	slices.Sort(offs)
	out := make([]byte, 0, len(data)+count)
	pos := 0
	for _, off := range offs {
		out = append(out, data[pos:off]...)
		out = append(out, byte(r.next()))
		pos = off
	}
	return append(out, data[pos:]...)
}

func appendRandom(b []byte, r *rng, n int) []byte {
	b = slices.Grow(b, n)
	r.fill(b[len(b) : len(b)+n])
	return b[:len(b)+n]
}
