package archive

import (
	"context"
	"errors"
	"fmt"

	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// VerifyLevel says how deeply Verify checks, after pgBackRest's
// levels. Each level includes the ones before it.
type VerifyLevel int

const (
	// VerifyConsistent checks the listing: the timeline reads, every
	// object is on it, and no LSN is missing between the first archived
	// record and the newest.
	VerifyConsistent VerifyLevel = iota
	// VerifyValid also reads every object of the history: it must
	// decrypt, authenticate and decode to the records its name promises.
	VerifyValid
	// VerifyPITR also checks that from every base snapshot on the
	// timeline the archive reaches the newest record without a gap.
	VerifyPITR
)

// Report is what Verify found.
type Report struct {
	Level       VerifyLevel // the level checked
	Timeline    string      // the history checked
	Objects     int         // WAL objects on the history
	Read        int         // objects read and decoded (VerifyValid)
	Records     int64       // records decoded (VerifyValid)
	First, Last wal.LSN     // the first and newest archived LSNs of the history
	// Problems lists every problem, each an *ObjectError naming its
	// object: gaps (ErrGap), damage (ErrCorrupt), objects
	// outside the timeline (ErrOffTimeline).
	Problems []error
	// Unreachable lists base snapshots from which the newest record
	// cannot be reached (VerifyPITR).
	Unreachable []snapshot.ID
}

// OK reports whether nothing is wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 && len(r.Unreachable) == 0 }

// Verify checks the WAL archive at the given level and reports
// every problem it finds; the error is for failures to check (the bucket
// is unreachable, the timeline does not read).
func Verify(ctx context.Context, store Store, level VerifyLevel) (Report, error) {
	rep := Report{Level: level}
	v, err := loadView(ctx, store)
	if err != nil {
		return rep, err
	}
	rep.Timeline = v.hist.String()
	for _, s := range v.offline {
		rep.Problems = append(rep.Problems, &ObjectError{Object: s.String(), LSN: s.First, Err: ErrOffTimeline,
			Detail: fmt.Sprintf("epoch %d has no timeline object", s.Epoch)})
	}
	valid := v.valid()
	rep.Objects = len(valid)
	cov := v.covered()
	if len(cov) > 0 {
		rep.First, rep.Last = cov[0][0], cov[len(cov)-1][1]
	}
	for k := 1; k < len(cov); k++ {
		p := v.planFrom(cov[k][0])
		rep.Problems = append(rep.Problems, &ObjectError{Object: p.pieces[0].seg.String(), LSN: cov[k-1][1] + 1, Err: ErrGap,
			Detail: fmt.Sprintf("no object holds LSN %d to %d", cov[k-1][1]+1, cov[k][0]-1)})
	}
	if level >= VerifyValid {
		for _, pc := range valid {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			recs, err := readSegment(ctx, store, pc.seg.segName)
			if err != nil {
				var ae *ObjectError
				if !errors.As(err, &ae) || ae.Err != ErrCorrupt && ae.Err != ErrGap {
					return rep, err
				}
				rep.Problems = append(rep.Problems, err)
				continue
			}
			rep.Read++
			rep.Records += int64(len(recs))
		}
	}
	if level >= VerifyPITR {
		ms, err := store.List(ctx)
		if err != nil {
			return rep, err
		}
		for _, m := range ms {
			b, ok := v.hist.bound(m.Epoch)
			if !isBase(m) || !ok || wal.LSN(m.LSN) > b {
				continue
			}
			if p := v.planFrom(wal.LSN(m.LSN) + 1); p.end < rep.Last {
				rep.Unreachable = append(rep.Unreachable, m.ID)
			}
		}
	}
	return rep, nil
}
