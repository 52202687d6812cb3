package snapshot

import (
	"context"
	"errors"
	"fmt"

	"slices"
)

// PruneOptions tunes Prune.
type PruneOptions struct {
	// DryRun computes and returns what Prune would do without writing or
	// deleting anything.
	DryRun bool
	// MaxUnused is the fraction of unused bytes above which a pack that
	// is still partly used is repacked (its used blobs copied to new
	// packs, then the pack deleted). Default 0.3; 1 never repacks.
	MaxUnused float64
}

// PruneStats reports what Prune did (or would do, in a dry run).
type PruneStats struct {
	// Snapshots is how many snapshots' data was kept.
	Snapshots int
	// PacksDeleted counts packs deleted outright (nothing used, or
	// unindexed leftovers of failed Saves older than LockStale);
	// PacksRepacked counts partly used packs rewritten; PacksWritten the
	// new packs those became.
	PacksDeleted, PacksRepacked, PacksWritten int
	// BlobsRemoved counts unused blobs dropped.
	BlobsRemoved int
	// BytesFreed is the bytes of deleted objects minus the bytes of new
	// packs.
	BytesFreed int64
	// Retained names the packs nothing uses that Object Lock keeps
	// (Options.ObjectLock): they stay indexed until a Prune after their
	// date deletes them.
	Retained []string
}

// Prune deletes data no snapshot references. It takes the repository's
// exclusive lock (waiting while Saves run, until ctx is done) and is safe
// against a crash at any point: it writes new packs, then one new index
// naming every kept pack, then deletes the old indexes, and only then the
// packs that no index names any more. Packs that no index names and that
// are younger than Options.LockStale are left alone (a Save that lost its
// lock may still be writing them); the next Prune deletes them.
func (r *Repo) Prune(ctx context.Context, opts PruneOptions) (PruneStats, error) {
	if err := r.checkOpen(); err != nil {
		return PruneStats{}, err
	}
	if opts.MaxUnused == 0 {
		opts.MaxUnused = 0.3
	}
	if opts.MaxUnused < 0 || opts.MaxUnused > 1 {
		return PruneStats{}, fmt.Errorf("snapshot: PruneOptions.MaxUnused %v: want 0 (default 0.3) to 1", opts.MaxUnused)
	}
	// A dry run writes nothing: a shared lock (none when read-only) lets
	// it run beside saves, and with read-only credentials.
	lk, err := r.lock(ctx, "prune", !opts.DryRun)
	if err != nil {
		return PruneStats{}, err
	}
	defer lk.release()
	if err := r.freshKeys(lk.ctx(), false); err != nil {
		return PruneStats{}, err
	}
	st, err := r.prune(lk.ctx(), opts)
	if err != nil {
		return st, fmt.Errorf("snapshot: prune: %w", err)
	}
	return st, nil
}

func (r *Repo) prune(ctx context.Context, opts PruneOptions) (PruneStats, error) {
	var st PruneStats
	prog := newProgress(r, "prune", -1)
	// A fresh index from what is in the bucket now.
	indexNames, err := listNames(ctx, r.bucket, indexPrefix)
	if err != nil {
		return st, err
	}
	if err := r.refreshIndex(ctx, true); err != nil {
		return st, err
	}

	used, nsnaps, err := r.usedBlobs(ctx)
	if err != nil {
		return st, err
	}
	st.Snapshots = nsnaps

	r.idxMu.RLock()
	x := r.idx
	r.idxMu.RUnlock()
	// A chunk in use that no index names lives in a pack Prune would take
	// for a leftover: refuse rather than delete it.
	missing := 0
	var example blobID
	for id := range used {
		if !x.has(id) {
			missing++
			example = id
		}
	}
	if missing > 0 {
		return st, fmt.Errorf("%w: %d chunks in use are in no index (e.g. %s); refusing to prune: RepairIndex indexes lost packs again from their own blob lists, Verify names the snapshots affected",
			ErrMissing, missing, example)
	}

	// Per pack: used bytes, counting each blob once, in the pack the
	// index resolves it to (duplicates elsewhere are garbage).
	type packUse struct {
		usedBytes, total int64
		usedBlobs, blobs int
	}
	uses := make([]packUse, len(x.packs))
	for i := range x.entries {
		e := &x.entries[i].loc
		u := &uses[e.pack]
		u.blobs++
		u.total += int64(e.length)
		if _, ok := used[e.id]; ok {
			if loc, _ := x.lookup(e.id); loc.pack == e.pack && loc.off == e.off {
				u.usedBlobs++
				u.usedBytes += int64(e.length)
			}
		}
	}
	var keep, repack, drop []int32
	for i, u := range uses {
		switch {
		case u.usedBlobs == 0:
			// A pack under Object Lock stays, indexed, until its date.
			if err := r.retained(ctx, x.packs[i].name()); errors.Is(err, ErrRetained) {
				st.Retained = append(st.Retained, x.packs[i].name())
				keep = append(keep, int32(i))
				continue
			} else if err != nil && !errors.Is(err, ErrMissing) {
				return st, err
			}
			drop = append(drop, int32(i))
		case !r.locking() && u.usedBlobs < u.blobs && float64(u.total-u.usedBytes) > opts.MaxUnused*float64(x.packs[i].size):
			// Not under Object Lock: a locked pack could not be
			// replaced by its repacked blobs.
			repack = append(repack, int32(i))
		default:
			keep = append(keep, int32(i))
		}
	}
	for _, i := range drop {
		st.BlobsRemoved += uses[i].blobs
		st.BytesFreed += x.packs[i].size
	}
	for _, i := range repack {
		st.BlobsRemoved += uses[i].blobs - uses[i].usedBlobs
		st.BytesFreed += x.packs[i].size
	}
	st.PacksDeleted = len(drop)
	st.PacksRepacked = len(repack)

	// Packs in the bucket that no index names.
	indexed := make(map[string]bool, len(x.packs))
	for _, p := range x.packs {
		indexed[p.name()] = true
	}
	var orphans []string
	present := make(map[string]bool, len(x.packs))
	objs, err := listObjects(ctx, r.bucket, dataPrefix, "")
	if err != nil {
		return st, err
	}
	cutoff := r.opts.Now().Add(-r.opts.LockStale)
	for _, o := range objs {
		present[o.Key] = true
		if indexed[o.Key] {
			continue
		}
		if o.ModTime.Before(cutoff) {
			if err := r.retained(ctx, o.Key); errors.Is(err, ErrRetained) {
				st.Retained = append(st.Retained, o.Key)
				continue
			} else if err != nil && !errors.Is(err, ErrMissing) {
				return st, err
			}
			orphans = append(orphans, o.Key)
			st.PacksDeleted++
			st.BytesFreed += o.Size
		}
	}
	for _, i := range slices.Concat(keep, repack) {
		if !present[x.packs[i].name()] {
			return st, objErr(x.packs[i].name(), -1, fmt.Errorf("%w: a pack in use is gone; refusing to prune (run Verify to see which snapshots are affected)", ErrMissing))
		}
	}
	if opts.DryRun {
		return st, nil
	}

	// 1. Copy the used blobs of packs being repacked into new packs.
	var newPacks []indexPack
	if len(repack) > 0 {
		np, freedBack, err := r.repack(ctx, x, repack, used, prog)
		if err != nil {
			return st, err
		}
		newPacks = np
		st.PacksWritten = len(np)
		st.BytesFreed -= freedBack
	}
	// 2. One index naming every kept pack.
	all := newPacks
	byPack := x.blobsByPack()
	for _, i := range keep {
		all = append(all, indexPack{packInfo: x.packs[i], blobs: byPack[i]})
	}
	if len(all) > 0 {
		if _, _, err := r.writeIndexObject(ctx, all); err != nil {
			return st, err
		}
	}
	// 3. Delete the old indexes, then 4. the packs no index names.
	for _, n := range indexNames {
		if err := r.del(ctx, n); err != nil {
			return st, err
		}
	}
	// Each was asked whether it is retained above (drop, orphans), or
	// is never under a lock (repack runs only without Object Lock).
	for _, list := range [][]int32{drop, repack} {
		for _, i := range list {
			if err := r.deleteObject(ctx, x.packs[i].name(), true); err != nil {
				return st, err
			}
		}
	}
	for _, n := range orphans {
		if err := r.deleteObject(ctx, n, true); err != nil {
			return st, err
		}
	}
	if err := r.refreshIndex(ctx, false); err != nil {
		return st, err
	}
	prog.done(st.BytesFreed)
	r.log.Info("pruned", "deleted", st.PacksDeleted, "repacked", st.PacksRepacked,
		"written", st.PacksWritten, "blobs removed", st.BlobsRemoved, "bytes freed", st.BytesFreed)
	return st, nil
}

// usedBlobs walks every snapshot's tree and returns the IDs of every data
// chunk and tree block in use.
func (r *Repo) usedBlobs(ctx context.Context) (map[blobID]struct{}, int, error) {
	ms, err := r.List(ctx)
	if err != nil {
		return nil, 0, err
	}
	used := make(map[blobID]struct{})
	for _, m := range ms {
		tr := r.newTreeReader(m)
		tr.onTree = func(id blobID) { used[id] = struct{}{} }
		err := tr.walk(ctx, func(id blobID) error {
			used[id] = struct{}{}
			return nil
		}, func() error { return nil })
		if err != nil {
			// A snapshot whose tree cannot be read would lose data it
			// still names if Prune went on.
			return nil, 0, fmt.Errorf("snapshot %s is damaged, refusing to prune (run Verify): %w", m.ID.Short(), err)
		}
	}
	return used, len(ms), nil
}

// repack copies the used blobs (all, if used is nil) of packs into new packs, still compressed
// (re-encrypted under the new packs' keys), uploads them and returns their
// index entries and total size.
func (r *Repo) repack(ctx context.Context, x *index, packs []int32, used map[blobID]struct{}, prog *progress) ([]indexPack, int64, error) {
	var out []indexPack
	var written, read int64
	var pw *packWriter
	flush := func() error {
		if pw == nil {
			return nil
		}
		data, ip := pw.finish(r.kr())
		pw = nil
		if err := r.putPack(ctx, ip.name(), data); err != nil {
			return fmt.Errorf("upload repacked pack: %w", err)
		}
		written += int64(len(data))
		r.recyclePack(data)
		out = append(out, ip)
		return nil
	}
	byPack := x.blobsByPack()
	for _, pi := range packs {
		p := x.packs[pi]
		data, err := r.readPack(ctx, p)
		if err != nil {
			return nil, 0, err
		}
		read += int64(len(data))
		prog.report(read)
		pr, err := r.kr().newPackReader(p)
		if err != nil {
			return nil, 0, err
		}
		for _, b := range byPack[pi] {
			if _, ok := used[b.id]; !ok && used != nil {
				continue
			}
			if loc, _ := x.lookup(b.id); loc.pack != pi || loc.off != b.off {
				continue // a duplicate; the copy the index resolves to is kept
			}
			if int64(b.off)+int64(b.length) > int64(len(data)) {
				return nil, 0, objErr(p.name(), int64(len(data)), ErrTruncated)
			}
			payload, err := pr.open(r.kr(), nil, b, data[b.off:b.off+b.length])
			if err != nil {
				return nil, 0, err
			}
			if pw == nil {
				if pw, err = r.newPackWriter(); err != nil {
					return nil, 0, err
				}
			}
			pw.add(b.typ, b.codec, b.id, payload, int(b.raw))
			if pw.full(r.opts.PackBytes) {
				if err := flush(); err != nil {
					return nil, 0, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	return out, written, nil
}
