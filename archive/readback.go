package archive

import (
	"bytes"
	"context"
	"fmt"
)

// Names are not evidence: anyone who can write to the bucket can create
// an object under any name. Before the archiver deletes an object because
// another holds its records, or counts a write refused because the object
// exists as done (and so lets the log release the records), it reads that
// object, authenticates it and compares its records with the ones it
// expects.

// matchExisting reads the object n that a write-once put found already
// there and checks that it holds exactly want's records and chain (an
// earlier attempt of the same write that landed). Anything else is an
// error naming the object: the caller must not count the write as done.
func matchExisting(ctx context.Context, store Store, n segName, want segment) error {
	seg, err := readSegment(ctx, store, n)
	if err != nil {
		return err
	}
	got, recs := seg.recs, want.recs
	if seg.prev != want.prev || seg.end != want.end {
		return &ObjectError{Object: n.String(), LSN: n.First, Err: ErrBrokenChain, Detail: "holds the same LSNs on another history (its chain differs)"}
	}
	if len(got) != len(recs) {
		return &ObjectError{Object: n.String(), LSN: n.First, Err: ErrBrokenChain, Detail: fmt.Sprintf("holds %d records where this write has %d", len(got), len(recs))}
	}
	for i, r := range recs {
		g := got[i]
		if g.LSN != r.LSN || g.Epoch != r.Epoch || !g.Time.Equal(r.Time) || !bytes.Equal(g.Data, r.Data) {
			return &ObjectError{Object: n.String(), LSN: r.LSN, Err: ErrBrokenChain, Detail: "holds other records than this write under the same name"}
		}
	}
	return nil
}

// authenticated reports whether the object s reads, authenticates and
// decodes to the records its name promises (readSegment checks the name
// against the sealed prefix), and returns its chain; the error says why
// not. A name that authenticated before is not read again (see verified).
func authenticated(ctx context.Context, store Store, s segName) (segChain, error) {
	if c, ok := isVerified(store, s.String()); ok {
		return c, nil
	}
	c, _, err := authenticateSegment(ctx, store, s)
	return c, err
}
