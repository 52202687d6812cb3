package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gocloud.dev/blob"
)

// ReencryptOptions are Reencrypt's.
type ReencryptOptions struct {
	// SealedPrefix says how long the clear prefix of another package's
	// sealed object (PutSealed) is, by name; false for a name it does
	// not know. The WAL archive's is archive.SealedPrefixLen. Sealed
	// objects it does not know stay under their epoch (Left).
	SealedPrefix func(name string) (int, bool)
	// Retire, after a pass that left nothing under an older epoch (none
	// Left),
	// deletes the older epochs' keys: what they sealed (old versions in
	// a versioned bucket, copies elsewhere) no longer opens. It waits
	// for the current epoch to be 2×KeyCheckInterval old, so that no
	// process still seals under an older one (RetireAfter says when).
	Retire bool
}

// ReencryptReport is what Reencrypt did.
type ReencryptReport struct {
	Epoch    uint32 // the current epoch
	Checked  int    // packs (from the index) and other objects looked at
	Resealed int    // objects resealed in place under the current epoch
	Repacked int    // packs copied into new packs under the current epoch
	Bytes    int64  // bytes written
	// Left names the objects still sealed under an older epoch (sealed
	// objects of a layout SealedPrefix does not know).
	Left []string
	// Retired are the epochs whose keys Retire deleted.
	Retired []uint32
	// RetireAfter is set when Retire was asked but the current epoch is
	// too young: run again after it.
	RetireAfter time.Time
}

// reencryptBatch is how many packs one step of the pass copies before it
// writes the index and deletes them: what an interruption can cost.
const reencryptBatch = 16

// Reencrypt reseals every object sealed under an older key epoch under
// the current one: packs are copied into new packs (their blobs, IDs
// and compression unchanged), other objects rewritten in place. It holds
// the exclusive lock. It is resumable: objects already under the current
// epoch are skipped, and an interrupted pass leaves every object
// readable (an interrupted pack batch leaves copies, which Prune
// removes). Options.Progress reports bytes read of the total to check.
func (r *Repo) Reencrypt(ctx context.Context, opts ReencryptOptions) (ReencryptReport, error) {
	var rep ReencryptReport
	lk, err := r.lockKeys(ctx, "reencrypt")
	if err != nil {
		return rep, err
	}
	defer lk.release()
	ctx = lk.ctx()
	kr := r.kr()
	rep.Epoch = kr.current
	if err := r.reencrypt(ctx, kr, opts, &rep); err != nil {
		return rep, fmt.Errorf("snapshot: reencrypt: %w", err)
	}
	if opts.Retire && len(kr.masters) > 1 {
		if err := r.retire(ctx, kr, &rep); err != nil {
			return rep, fmt.Errorf("snapshot: reencrypt: retire: %w", err)
		}
	}
	r.log.Info("reencrypted", "epoch", kr.current, "checked", rep.Checked, "resealed", rep.Resealed,
		"repacked", rep.Repacked, "left", len(rep.Left), "retired", rep.Retired)
	return rep, nil
}

func (r *Repo) reencrypt(ctx context.Context, kr *keyring, opts ReencryptOptions, rep *ReencryptReport) error {
	if err := r.refreshIndex(ctx, true); err != nil {
		return err
	}
	// Packs no index names (an interrupted pass's, or ones whose index
	// was lost) under an older epoch: indexed again from their own blob
	// lists, so that the batches below copy them too.
	if err := r.indexOldOrphans(ctx, kr, rep); err != nil {
		return err
	}

	all, err := listObjects(ctx, r.bucket, "", "")
	if err != nil {
		return err
	}
	// Progress counts the bytes of what the pass must look at: the
	// packs under older epochs (copied) and every other object (its
	// header read, resealed if older).
	var total int64
	var others []blob.ListObject
	for _, o := range all {
		switch {
		case strings.HasPrefix(o.Key, keysPrefix), strings.HasPrefix(o.Key, locksPrefix),
			strings.HasPrefix(o.Key, epochsPrefix), strings.HasPrefix(o.Key, dataPrefix), o.Key == tombstoneName:
		default:
			others = append(others, *o)
			total += o.Size
		}
	}
	r.idxMu.RLock()
	for _, p := range r.idx.packs {
		if p.epoch < kr.current {
			total += p.size
		}
	}
	rep.Checked = len(r.idx.packs)
	r.idxMu.RUnlock()
	prog := newProgress(r, "reencrypt", total)
	var read int64

	// Packs, in batches: copy, index, delete.
	for {
		r.idxMu.RLock()
		x := r.idx
		r.idxMu.RUnlock()
		var batch []int32
		for i, p := range x.packs {
			if p.epoch < kr.current && len(batch) < reencryptBatch {
				batch = append(batch, int32(i))
			}
		}
		if len(batch) == 0 {
			break
		}
		indexNames, err := listNames(ctx, r.bucket, indexPrefix)
		if err != nil {
			return err
		}
		newPacks, written, err := r.repack(ctx, x, batch, nil, prog)
		if err != nil {
			return err
		}
		inBatch := map[int32]bool{}
		for _, i := range batch {
			inBatch[i] = true
			read += x.packs[i].size
		}
		prog.report(read)
		byPack := x.blobsByPack()
		keep := newPacks
		for i, p := range x.packs {
			if !inBatch[int32(i)] {
				keep = append(keep, indexPack{packInfo: p, blobs: byPack[i]})
			}
		}
		if _, _, err := r.writeIndexObject(ctx, keep); err != nil {
			return err
		}
		for _, n := range indexNames {
			if err := r.del(ctx, n); err != nil {
				return err
			}
		}
		for _, i := range batch {
			if err := r.del(ctx, x.packs[i].name()); err != nil {
				return err
			}
		}
		rep.Repacked += len(batch)
		rep.Bytes += written
		if err := r.refreshIndex(ctx, true); err != nil {
			return err
		}
	}

	// Everything else, in place. Index objects written above are
	// current already; those named before are gone.
	for _, o := range others {
		rep.Checked++
		n, err := r.resealObject(ctx, kr, o.Key, opts.SealedPrefix, rep)
		if err != nil {
			return err
		}
		rep.Bytes += n
		read += o.Size
		prog.report(read)
	}
	prog.done(read)
	return nil
}

// indexOldOrphans indexes the packs under an older epoch that no index
// names. One that cannot be read is left (Left).
func (r *Repo) indexOldOrphans(ctx context.Context, kr *keyring, rep *ReencryptReport) error {
	objs, err := listObjects(ctx, r.bucket, dataPrefix, "")
	if err != nil {
		return err
	}
	r.idxMu.RLock()
	indexed := make(map[string]bool, len(r.idx.packs))
	for _, p := range r.idx.packs {
		indexed[p.name()] = true
	}
	r.idxMu.RUnlock()
	var found []indexPack
	for _, o := range objs {
		if indexed[o.Key] {
			continue
		}
		hdr, err := r.readHeader(ctx, o.Key)
		if errors.Is(err, ErrMissing) {
			continue
		} else if err != nil {
			return err
		}
		if h, err := parseHeader(o.Key, hdr, kindPack); err == nil && h.epoch >= kr.current {
			continue
		}
		p, err := r.readPackIndex(ctx, o.Key)
		if err != nil {
			r.log.Warn("reencrypt: an unindexed pack does not read; leaving it", "pack", o.Key, "err", err)
			rep.Left = append(rep.Left, o.Key)
			continue
		}
		found = append(found, p)
	}
	if len(found) == 0 {
		return nil
	}
	_, _, err = r.writeIndexObject(ctx, found)
	return err
}

// resealObject reseals one object under kr's current epoch if it is
// sealed under an older one, and returns the bytes written.
func (r *Repo) resealObject(ctx context.Context, kr *keyring, name string, sealedPrefix func(string) (int, bool), rep *ReencryptReport) (int64, error) {
	kind, limit := kindSealed, int64(1<<30)
	switch {
	case name == configName:
		kind, limit = kindConfig, maxConfigBytes
	case strings.HasPrefix(name, indexPrefix):
		kind, limit = kindIndex, maxIndexBytes
	case strings.HasPrefix(name, snapsPrefix):
		kind, limit = kindManifest, maxManifestBytes
	}
	hdr, err := r.readHeader(ctx, name)
	if errors.Is(err, ErrMissing) {
		return 0, nil // deleted meanwhile (compaction, retention)
	} else if err != nil {
		return 0, err
	}
	h, err := parseHeader(name, hdr, kind)
	if err != nil {
		return 0, err
	}
	if h.epoch >= kr.current {
		return 0, nil
	}
	prefixLen := 0
	switch kind {
	case kindConfig:
		prefixLen = repoIDSize
	case kindSealed:
		n, ok := 0, false
		if sealedPrefix != nil {
			n, ok = sealedPrefix(name)
		}
		if !ok {
			rep.Left = append(rep.Left, name)
			return 0, nil
		}
		prefixLen = n
	}
	bound := ""
	if kind == kindSealed {
		bound = name
	}
	_, prefix, body, err := kr.getSealed(ctx, r.bucket, name, kind, prefixLen, limit, bound != "")
	if errors.Is(err, ErrMissing) {
		return 0, nil // deleted meanwhile
	} else if err != nil {
		return 0, err
	}
	if kind == kindIndex && h.version < epochVersion {
		packs, err := decodeIndexBody(body, false)
		if err != nil {
			return 0, corrupt(name, -1, "index body: "+err.Error())
		}
		body = encodeIndexBody(packs, true)
	}
	obj, err := kr.sealPieces(kind, prefix, body, bound)
	if err != nil {
		return 0, err
	}
	if kind == kindSealed {
		// Another package may delete its objects meanwhile (the
		// archive's compaction): write back only what is still there.
		// The window between this check and the write is short; an
		// object written back after its deletion is a superseded
		// piece its owner deletes again.
		if ok, err := r.bucket.Exists(ctx, name); err != nil || !ok {
			return 0, err
		}
	}
	if err := r.replace(ctx, name, obj); err != nil {
		return 0, fmt.Errorf("reseal %s: %w", name, err)
	}
	rep.Resealed++
	return int64(len(obj)), nil
}

// readHeader reads the first headerSize bytes of an object.
func (r *Repo) readHeader(ctx context.Context, name string) ([]byte, error) {
	return r.readRange(ctx, name, 0, headerSize)
}

// retire deletes the older epochs' keys once nothing is sealed under
// them and no process can still be sealing under them.
func (r *Repo) retire(ctx context.Context, kr *keyring, rep *ReencryptReport) error {
	if len(rep.Left) > 0 {
		return nil // Left says what holds the older epochs
	}
	after := kr.created.Add(2 * r.opts.KeyCheckInterval)
	if r.opts.Now().Before(after) {
		rep.RetireAfter = after
		return nil
	}
	if err := r.del(ctx, epochsName(kr.current)); err != nil {
		return err
	}
	for _, e := range kr.epochs() {
		if e != kr.current {
			rep.Retired = append(rep.Retired, e)
		}
	}
	r.keysMu.Lock()
	r.keys.Store(kr.retired())
	r.keysMu.Unlock()
	return nil
}
