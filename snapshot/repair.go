package snapshot

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// RepairReport says what RepairIndex found and did.
type RepairReport struct {
	// Packs is how many packs no index named; Indexed how many of them
	// were readable and are now indexed again.
	Packs, Indexed int
	// Blobs is how many blobs the new index names.
	Blobs int
	// Problems lists packs that could not be read back (their data is
	// lost; Verify names the snapshots affected).
	Problems []Problem
}

// RepairIndex indexes again every pack that no index names, from the list
// of blobs each pack carries sealed at its end: after an index object was
// lost or damaged, the snapshots whose chunks those packs hold restore
// again. It takes the repository's exclusive lock and writes one new
// index object; it deletes nothing. Packs of a Save that failed before
// writing its index are indexed too (Prune frees them if no snapshot
// uses them).
func (r *Repo) RepairIndex(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	if err := r.checkOpen(); err != nil {
		return rep, err
	}
	lk, err := r.lock(ctx, "repair", true)
	if err != nil {
		return rep, err
	}
	defer lk.release()
	ctx = lk.ctx()
	if err := r.refreshIndex(ctx, true); err != nil {
		return rep, err
	}
	r.idxMu.RLock()
	indexed := make(map[string]bool, len(r.idx.packs))
	for _, p := range r.idx.packs {
		indexed[p.name()] = true
	}
	r.idxMu.RUnlock()
	objs, err := listObjects(ctx, r.bucket, dataPrefix, "")
	if err != nil {
		return rep, err
	}
	var found []indexPack
	for _, o := range objs {
		if indexed[o.Key] {
			continue
		}
		rep.Packs++
		p, err := r.readPackIndex(ctx, o.Key)
		if err != nil {
			if !isDamage(err) {
				return rep, err
			}
			rep.Problems = append(rep.Problems, Problem{Object: o.Key, Err: err})
			continue
		}
		found = append(found, p)
		rep.Indexed++
		rep.Blobs += len(p.blobs)
	}
	if len(found) > 0 {
		if _, _, err := r.writeIndexObject(ctx, found); err != nil {
			return rep, err
		}
	}
	r.log.Info("index repaired", "packs", rep.Packs, "indexed", rep.Indexed, "blobs", rep.Blobs, "problems", len(rep.Problems))
	return rep, nil
}

// maxTrailerBytes bounds a pack trailer read before it authenticates
// (46 MiB): the most blobs a pack holds, their count and the tag.
const maxTrailerBytes = maxPackBlobs*blobEntrySize + 4 + tagSize

// readTrailer reads a pack's header and trailer by range reads and
// returns its authenticated list of blobs and its size.
func (r *Repo) readTrailer(ctx context.Context, name string) (header, []blobEntry, int64, error) {
	attrs, err := r.bucket.Attributes(ctx, name)
	if err != nil {
		return header{}, nil, 0, storageErr(name, err)
	}
	size := attrs.Size
	if size > maxPackBytes {
		return header{}, nil, 0, corrupt(name, -1, fmt.Sprintf("%d bytes, more than a pack holds (%d)", size, int64(maxPackBytes)))
	}
	if size < headerSize+tagSize+4 {
		return header{}, nil, 0, objErr(name, -1, ErrTruncated)
	}
	head, err := r.readRange(ctx, name, 0, headerSize)
	if err != nil {
		return header{}, nil, 0, err
	}
	hdr, err := parseHeader(name, head, kindPack)
	if err != nil {
		return header{}, nil, 0, err
	}
	lenBytes, err := r.readRange(ctx, name, size-4, 4)
	if err != nil {
		return header{}, nil, 0, err
	}
	tl := int64(leU32(lenBytes))
	if tl < tagSize || tl > maxTrailerBytes || headerSize+tl+4 > size {
		return header{}, nil, 0, corrupt(name, size-4, "impossible trailer length")
	}
	start := size - 4 - tl
	sealed, err := r.readRange(ctx, name, start, tl)
	if err != nil {
		return header{}, nil, 0, err
	}
	aead, err := r.kr().objectAEAD(hdr.epoch, kindPack, hdr.salt[:])
	if err != nil {
		return header{}, nil, 0, objErr(name, 11, err)
	}
	var nb [nonceSize]byte
	body, err := aead.Open(sealed[:0], nonce(&nb, 0), sealed, r.kr().objectAD(head))
	if err != nil {
		return header{}, nil, 0, corrupt(name, start, "trailer authentication failed")
	}
	blobs, err := decodePackTrailer(body, start)
	if err != nil {
		return header{}, nil, 0, corrupt(name, start, "trailer: "+err.Error())
	}
	return hdr, blobs, size, nil
}

// readRange reads n bytes of an object from off.
func (r *Repo) readRange(ctx context.Context, name string, off, n int64) ([]byte, error) {
	rd, err := r.bucket.NewRangeReader(ctx, name, off, n, nil)
	if err != nil {
		return nil, storageErr(name, err)
	}
	defer rd.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rd, b); err != nil {
		return nil, readErr(name, err)
	}
	return b, nil
}

// readPackIndex reads a whole pack and returns its own list of blobs,
// checked the way Verify checks packs.
func (r *Repo) readPackIndex(ctx context.Context, name string) (indexPack, error) {
	var p indexPack
	h := name[strings.LastIndexByte(name, '/')+1:]
	if len(h) != 2*objNameBytes {
		return p, corrupt(name, -1, "not a pack name")
	}
	if _, err := hex.Decode(p.id[:], []byte(h)); err != nil || packName(p.id) != name {
		return p, corrupt(name, -1, "not a pack name")
	}
	// The header and the trailer first, by range: nothing sized by the
	// bucket is read whole before the trailer authenticates.
	hdr, blobs, size, err := r.readTrailer(ctx, name)
	if err != nil {
		return p, err
	}
	data, err := getObjectMax(ctx, r.bucket, name, size)
	if err != nil {
		return p, err
	}
	if int64(len(data)) != size {
		return p, objErr(name, -1, fmt.Errorf("%w: changed while read", ErrTruncated))
	}
	p.salt = hdr.salt
	p.epoch = hdr.epoch
	p.size = size
	p.blobs = blobs
	var dec decompressor
	defer dec.close()
	if _, err := r.checkPack(p.packInfo, data, blobs, &dec, r.kr().newHasher()); err != nil {
		return p, fmt.Errorf("check pack: %w", err)
	}
	return p, nil
}

// DropDamagedManifests deletes those of the named manifests (names under
// snapshots/, as ListReadable's errors give them) that do not
// authenticate or decode (ErrCorrupt, ErrTruncated, ErrReplayed). Their
// snapshots cannot be restored, and a damaged manifest stops retention.
// Under the exclusive lock each is read again first: one that now reads,
// is gone, or is of a format version this build cannot read (a newer
// build may) is left. It returns the names deleted; Prune then frees the
// data only they used.
func (r *Repo) DropDamagedManifests(ctx context.Context, names []string) ([]string, error) {
	if err := r.checkOpen(); err != nil {
		return nil, err
	}
	if err := r.checkWritable(); err != nil {
		return nil, err
	}
	lk, err := r.lock(ctx, "repair", true)
	if err != nil {
		return nil, err
	}
	defer lk.release()
	ctx = lk.ctx()
	var dropped []string
	for _, name := range names {
		if !strings.HasPrefix(name, snapsPrefix) {
			return dropped, fmt.Errorf("snapshot: %q is not a manifest (snapshots/…)", name)
		}
		_, err := r.readManifest(ctx, name)
		var ve *VersionError
		switch {
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrTruncated), errors.Is(err, ErrReplayed):
			// damaged: dropped below
		case err == nil, errors.Is(err, ErrMissing), errors.As(err, &ve):
			continue // whole, gone, or for a newer build
		default:
			return dropped, err // the bucket, the key: nothing is known about it
		}
		if err := r.del(ctx, name); err != nil {
			return dropped, err
		}
		r.log.Warn("damaged manifest deleted", "object", name)
		dropped = append(dropped, name)
	}
	return dropped, nil
}
