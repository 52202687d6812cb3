package archive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/continuity-go/continuity/internal/retention"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// RetentionPolicy says what ApplyRetention keeps.
type RetentionPolicy struct {
	// Window is the point-in-time window: every instant within Window of
	// now stays restorable (the base snapshot at or before its start,
	// every snapshot inside it, and the WAL from that base on).
	Window time.Duration
	// Keep chooses the snapshots kept beyond the window (daily, weekly,
	// monthly, yearly ...). Each is exact at its LSN, so it needs no WAL.
	Keep snapshot.Policy
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// RetentionResult reports what ApplyRetention did (or would do).
type RetentionResult struct {
	WindowStart    time.Time     // now minus the window
	Base           snapshot.ID   // the base snapshot of the window's start (zero if none)
	CutLSN         wal.LSN       // WAL objects ending at or before this LSN are not needed
	Kept           []snapshot.ID // snapshots kept
	Removed        []snapshot.ID // snapshots whose manifests were removed
	DeletedObjects []string      // WAL objects deleted
	// Superseded are WAL objects another object covers, and OldHeads
	// head objects before the newest few: what compaction and the head
	// writer leave when the archiver may not delete (Status.DeletesDeferred).
	// They are deleted too.
	Superseded []string
	OldHeads   []string
	// Retained names what the run would delete and Object Lock keeps
	// (snapshot.Options.ObjectLock): manifests and WAL objects whose
	// date has not passed. A later run deletes them.
	Retained []string
	PinLSN   wal.LSN // the first record kept, pinned before deleting (0: unchanged)
	// Decisions says, newest first, for every snapshot whether it is
	// kept and every reason: "point-in-time window", "base of the
	// point-in-time window" or a rule of Keep (snapshot.ExplainDecisions
	// prints them).
	Decisions []snapshot.Decision
}

// Reasons ApplyRetention gives beside Keep's rules.
const (
	ReasonWindow = "point-in-time window"
	ReasonBase   = "base of the point-in-time window"
)

// ApplyRetention applies a retention that understands the log: inside
// the window it keeps every snapshot and all the WAL needed to restore
// every instant; beyond it, the snapshots p.Keep chooses, without WAL.
// It removes the other snapshots' manifests (snapshot.Repo.Prune then
// frees their data) and deletes the WAL objects nothing needs: those
// that end before the window's base snapshot, and objects off the
// timeline (a deposed primary's tail) that end before the window. With
// dryRun it only reports.
func ApplyRetention(ctx context.Context, store Store, p RetentionPolicy, dryRun bool) (RetentionResult, error) {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Window <= 0 {
		return RetentionResult{}, errors.New("archive: RetentionPolicy.Window must be positive")
	}
	res := RetentionResult{WindowStart: p.Now().Add(-p.Window)}
	h, err := loadHistory(ctx, store)
	if err != nil {
		return res, err
	}
	// A damaged manifest stops retention: which snapshots to keep
	// cannot be decided without it. Verify names it; forget it first.
	ms, err := store.List(ctx)
	if err != nil {
		return res, err
	}
	keep := map[snapshot.ID]bool{}
	reasons := map[snapshot.ID][]string{}
	for _, m := range h.bases { // newest first: the first at or before the start is the base
		if !m.Time.After(res.WindowStart) {
			res.Base, res.CutLSN = m.ID, wal.LSN(m.LSN)
			keep[m.ID] = true
			reasons[m.ID] = append(reasons[m.ID], ReasonBase)
			break
		}
	}
	var old []retention.Item
	for _, m := range ms {
		if m.Time.After(res.WindowStart) {
			keep[m.ID] = true
			reasons[m.ID] = append(reasons[m.ID], ReasonWindow)
		} else {
			old = append(old, retention.Item{ID: m.ID.String(), Time: m.Time, Tags: m.Tags})
		}
	}
	ds, err := p.Keep.Apply(old)
	if errors.Is(err, retention.ErrEmptyPolicy) && len(old) == 0 {
		err = nil // nothing is beyond the window for a policy to decide
	}
	if err != nil {
		return res, fmt.Errorf("archive: %w", err)
	}
	for _, d := range ds {
		if d.Keep {
			id, _ := snapshot.ParseID(d.Item.ID)
			keep[id] = true
			reasons[id] = append(reasons[id], d.Reasons...)
		}
	}
	var remove []snapshot.ID
	for i := len(ms) - 1; i >= 0; i-- { // newest first, as Decisions are
		m := ms[i]
		res.Decisions = append(res.Decisions, snapshot.Decision{
			Item: retention.Item{ID: m.ID.String(), Time: m.Time, Tags: m.Tags},
			Keep: keep[m.ID], Reasons: reasons[m.ID]})
	}
	for _, m := range ms {
		if keep[m.ID] {
			res.Kept = append(res.Kept, m.ID)
		} else {
			remove = append(remove, m.ID)
		}
	}
	res.Removed = remove
	if res.Base.IsZero() && h.v.firstLSN() == 1 {
		res.CutLSN = 0 // the window's start replays from LSN 1: keep it all
	}
	startNanos := res.WindowStart.UnixNano()
	cutsHistory := false
	for _, s := range h.v.segs {
		b, ok := h.v.hist.bound(s.Epoch)
		onHistory := ok && s.First <= b
		if onHistory && min(s.Last, b) <= res.CutLSN || !onHistory && s.LastNanos < startNanos {
			res.DeletedObjects = append(res.DeletedObjects, s.String())
			cutsHistory = cutsHistory || onHistory
		}
	}
	if err := findSuperseded(ctx, store, h.v.segs, &res); err != nil {
		return res, err
	}
	// The first object kept is pinned before anything is deleted, so
	// that deleting it later shows (verify).
	var first *piece
	for _, p := range h.v.valid() {
		if p.hi > res.CutLSN {
			first = &p
			break
		}
	}
	if cutsHistory && first != nil {
		res.PinLSN = first.seg.First
	}
	if dryRun {
		return res, nil
	}
	if res.PinLSN != 0 {
		if err := repin(ctx, store, first.seg.segName); err != nil {
			return res, err
		}
	}
	// Under Object Lock an object whose date has not passed stays; it is
	// reported, and a later run deletes it.
	removed := res.Removed[:0:0]
	for _, id := range remove {
		err := store.Remove(ctx, id)
		if re := (*snapshot.RetainedError)(nil); errors.As(err, &re) {
			res.Retained = append(res.Retained, "snapshots/"+id.String())
			res.Kept = append(res.Kept, id)
			for i := range res.Decisions {
				if res.Decisions[i].Item.ID == id.String() {
					res.Decisions[i].Keep = true
					res.Decisions[i].Reasons = append(res.Decisions[i].Reasons, snapshot.ReasonRetained(re.Until))
				}
			}
			continue
		}
		if err != nil {
			return res, err
		}
		removed = append(removed, id)
	}
	res.Removed = removed
	for _, list := range []*[]string{&res.DeletedObjects, &res.Superseded, &res.OldHeads} {
		deleted := (*list)[:0:0]
		for _, name := range *list {
			err := store.DeleteObject(ctx, name)
			if errors.Is(err, snapshot.ErrRetained) {
				res.Retained = append(res.Retained, name)
				continue
			}
			if err != nil {
				return res, fmt.Errorf("archive: retention: %w", err)
			}
			deleted = append(deleted, name)
		}
		*list = deleted
	}
	return res, nil
}

// findSuperseded fills res.Superseded with the objects of segs (sorted
// by name) that another object of their epoch covers, leaving those
// already in res.DeletedObjects, and res.OldHeads with the heads before
// the newest keepAnchors.
func findSuperseded(ctx context.Context, store Store, segs []segObj, res *RetentionResult) error {
	gone := map[string]bool{}
	for _, name := range res.DeletedObjects {
		gone[name] = true
	}
	quiet := slog.New(slog.DiscardHandler) // Verify reports a cover that does not authenticate
	for i := 0; i < len(segs); {
		j := i + 1
		for j < len(segs) && segs[j].Epoch == segs[i].Epoch {
			j++
		}
		var epoch []segObj
		for _, s := range segs[i:j] {
			if !gone[s.String()] {
				epoch = append(epoch, s)
			}
		}
		_, covered := coveredObjects(ctx, store, epoch, quiet)
		for _, s := range covered {
			res.Superseded = append(res.Superseded, s.String())
		}
		i = j
	}
	_, _, heads, err := readHead(ctx, store)
	if err != nil {
		return err
	}
	for k := 0; k < len(heads.seqs)-1-keepAnchors; k++ {
		res.OldHeads = append(res.OldHeads, anchorName(headPrefix, heads.seqs[k]))
	}
	return nil
}

// repin pins the object s as the first of the archive's history: it reads
// and authenticates s, writes a pin for its first record unless the newest
// pin says so already, and deletes pins older than the one before.
func repin(ctx context.Context, store Store, s segName) error {
	seg, err := readSegment(ctx, store, s)
	if err != nil {
		return fmt.Errorf("archive: retention: the first object it would keep does not read; nothing is deleted: %w", err)
	}
	cur, found, pins, err := readPin(ctx, store)
	if err != nil {
		return err
	}
	if found && cur.LSN == s.First && cur.Prev == seg.prev {
		return nil
	}
	p := pin{LSN: s.First, Prev: seg.prev, Written: time.Now()}
	seq, err := writeAnchor(ctx, store, pinPrefix, cur.Seq, func(seq uint64) []byte { p.Seq = seq; return encodePin(p) })
	if err != nil {
		return err
	}
	return dropAnchors(ctx, store, pinPrefix, pins.seqs, seq-keepAnchors+1)
}
