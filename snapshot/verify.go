package snapshot

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// VerifyOptions chooses how deep Verify looks.
type VerifyOptions struct {
	// ReadData downloads packs, decrypts every blob and checks its ID
	// (pgBackRest's "valid" level). Without it Verify checks structure
	// only: every index and manifest decodes, every referenced chunk is
	// in an index, every indexed pack exists with the indexed size.
	ReadData bool
	// Fraction of packs to read when ReadData is set, chosen at random:
	// 0 means all; 0.1 reads a tenth (a quick sampled check per run that
	// reads everything over time).
	Fraction float64
	// Locks also asks the Object Lock date of every manifest and every
	// pack in use (one request each) and reports them in Report.Locks.
	Locks bool
}

// Problem is one piece of damage Verify found.
type Problem struct {
	// Object is the damaged or missing object.
	Object string
	// Err says what is wrong; errors.Is tells ErrMissing, ErrCorrupt,
	// ErrTruncated and ErrReplayed apart.
	Err error
	// Snapshots are the snapshots that cannot be fully restored because
	// of it.
	Snapshots []ID
}

// String describes the problem for logs and operators.
func (p Problem) String() string {
	ids := make([]string, len(p.Snapshots))
	for i, id := range p.Snapshots {
		ids[i] = id.Short()
	}
	return fmt.Sprintf("%s: %v (affects snapshots %v)", p.Object, p.Err, ids)
}

// Report is Verify's result.
type Report struct {
	// Snapshots, Indexes and Packs count the manifests, index objects
	// and indexed packs checked.
	Snapshots, Indexes, Packs int
	// Blobs is how many index entries were checked; BlobsRead how many
	// were decrypted and re-hashed.
	Blobs, BlobsRead int
	// BytesRead is the bytes downloaded to read data.
	BytesRead int64
	// Problems lists the damage found; empty means the repository is
	// whole (to the depth checked).
	Problems []Problem
	// Locks is what Object Lock protects (VerifyOptions.Locks), else nil.
	Locks *LockReport
}

// OK reports whether no problem was found.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the repository. Damage is reported in the Report, with
// the snapshots it affects; the error is only for failing to run (the
// bucket unreachable, ctx done). It holds a shared repository lock, so
// Prune does not run meanwhile.
func (r *Repo) Verify(ctx context.Context, opts VerifyOptions) (Report, error) {
	var rep Report
	if err := r.checkOpen(); err != nil {
		return rep, err
	}
	if opts.Fraction < 0 || opts.Fraction > 1 {
		return rep, fmt.Errorf("snapshot: VerifyOptions.Fraction %v: want 0 (all) to 1", opts.Fraction)
	}
	lk, err := r.lock(ctx, "verify", false)
	if err != nil {
		return rep, err
	}
	defer lk.release()
	ctx = lk.ctx()
	// Build an index of our own, keeping bad index objects as problems.
	x := newIndex()
	indexNames, err := listNames(ctx, r.bucket, indexPrefix)
	if err != nil {
		return rep, err
	}
	for _, n := range indexNames {
		packs, err := r.readIndexObject(ctx, n)
		if err != nil {
			if isDamage(err) {
				rep.Problems = append(rep.Problems, Problem{Object: n, Err: err})
				continue
			}
			return rep, err
		}
		rep.Indexes++
		for _, p := range packs {
			x.addPack(p)
		}
	}
	rep.Blobs = len(x.entries)

	// Packs present in the bucket, with sizes.
	sizes := make(map[string]int64)
	objs, err := listObjects(ctx, r.bucket, dataPrefix, "")
	if err != nil {
		return rep, err
	}
	for _, o := range objs {
		sizes[o.Key] = o.Size
	}
	rep.Packs = len(x.packs)

	// Which snapshots use which pack; structural check of every tree.
	names, err := listNames(ctx, r.bucket, snapsPrefix)
	if err != nil {
		return rep, err
	}
	users := make([][]ID, len(x.packs))
	var lockNames []string // the manifests that read
	vr := &Repo{bucket: r.bucket, opts: r.opts, log: r.log, format: r.format, chunk: r.chunk, idx: x}
	vr.keys.Store(r.kr())
	for _, n := range names {
		m, err := r.readManifest(ctx, n)
		if errors.Is(err, ErrMissing) {
			continue
		}
		if err != nil {
			if isDamage(err) {
				rep.Problems = append(rep.Problems, Problem{Object: n, Err: err})
				continue
			}
			return rep, err
		}
		rep.Snapshots++
		lockNames = append(lockNames, n)
		seen := make(map[int32]bool)
		note := func(id blobID) error {
			loc, ok := x.lookup(id)
			if !ok {
				return objErr(n, -1, fmt.Errorf("%w: chunk %s is in no index", ErrMissing, id))
			}
			if !seen[loc.pack] {
				seen[loc.pack] = true
				users[loc.pack] = append(users[loc.pack], m.ID)
			}
			return nil
		}
		tr := vr.newTreeReader(m)
		tr.onTree = func(id blobID) { _ = note(id) }
		if err := tr.walk(ctx, note, func() error { return nil }); err != nil {
			if isDamage(err) {
				rep.Problems = append(rep.Problems, Problem{Object: objectOf(err, n), Err: err, Snapshots: []ID{m.ID}})
				continue
			}
			return rep, err
		}
	}

	// Every indexed pack must exist with its indexed size.
	bad := make([]bool, len(x.packs))
	for i, p := range x.packs {
		size, ok := sizes[p.name()]
		switch {
		case !ok:
			bad[i] = true
			rep.Problems = append(rep.Problems, Problem{Object: p.name(), Err: ErrMissing, Snapshots: users[i]})
		case size != p.size:
			bad[i] = true
			rep.Problems = append(rep.Problems, Problem{Object: p.name(),
				Err: fmt.Errorf("%w: %d bytes, index says %d", ErrTruncated, size, p.size), Snapshots: users[i]})
		}
	}

	if opts.Locks {
		names := lockNames
		for i, p := range x.packs {
			if len(users[i]) > 0 && !bad[i] {
				names = append(names, p.name())
			}
		}
		if rep.Locks, err = r.lockReport(ctx, names); err != nil {
			return rep, err
		}
	}

	if opts.ReadData {
		byPack := x.blobsByPack()
		order := rand.Perm(len(x.packs))
		n := len(order)
		if opts.Fraction > 0 {
			n = max(1, int(opts.Fraction*float64(len(order))+0.5))
		}
		prog := newProgress(r, "verify", -1)
		var dec decompressor
		defer dec.close()
		h := r.kr().newHasher()
		for _, i := range order[:min(n, len(order))] {
			if bad[i] {
				continue
			}
			p := x.packs[i]
			data, err := r.readPack(ctx, p)
			if err != nil {
				if isDamage(err) {
					rep.Problems = append(rep.Problems, Problem{Object: p.name(), Err: err, Snapshots: users[i]})
					continue
				}
				return rep, err
			}
			rep.BytesRead += int64(len(data))
			prog.report(rep.BytesRead)
			blobs, err := r.checkPack(p, data, byPack[i], &dec, h)
			rep.BlobsRead += blobs
			if err != nil {
				rep.Problems = append(rep.Problems, Problem{Object: p.name(), Err: err, Snapshots: users[i]})
			}
		}
		prog.done(rep.BytesRead)
	}
	rep.Problems = mergeProblems(rep.Problems)
	return rep, nil
}

// mergeProblems reports each object once: a missing pack of tree blocks is
// found both by walking a snapshot's tree and by checking the indexed
// packs. The first error is kept and the affected snapshots are merged.
func mergeProblems(ps []Problem) []Problem {
	var out []Problem
	at := map[string]int{}
	for _, p := range ps {
		if i, ok := at[p.Object]; ok {
			for _, id := range p.Snapshots {
				if !slices.Contains(out[i].Snapshots, id) {
					out[i].Snapshots = append(out[i].Snapshots, id)
				}
			}
			continue
		}
		at[p.Object] = len(out)
		out = append(out, p)
	}
	for i := range out {
		slices.SortFunc(out[i].Snapshots, func(a, b ID) int { return compareIDs(a, b) })
	}
	return out
}

func compareIDs(a, b ID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// checkPack verifies a whole pack: header, trailer (it must list exactly
// the indexed blobs) and every blob's authentication and ID.
func (r *Repo) checkPack(p packInfo, data []byte, indexed []blobEntry, dec *decompressor, h *hasher) (int, error) {
	name := p.name()
	hdr, err := parseHeader(name, data, kindPack)
	if err != nil {
		return 0, err
	}
	if hdr.salt != p.salt {
		return 0, corrupt(name, 16, "salt differs from the index")
	}
	if hdr.epoch != p.epoch {
		return 0, corrupt(name, 11, fmt.Sprintf("key epoch %d, the index says %d", hdr.epoch, p.epoch))
	}
	trailer, err := r.packTrailer(name, data)
	if err != nil {
		return 0, err
	}
	if !slices.Equal(trailer, indexed) {
		sortBlobs(trailer)
		sortBlobs(indexed)
		if !slices.Equal(trailer, indexed) {
			return 0, corrupt(name, -1, fmt.Sprintf("pack lists %d blobs, index %d, or they differ", len(trailer), len(indexed)))
		}
	}
	pr, err := r.kr().newPackReader(p)
	if err != nil {
		return 0, err
	}
	n := 0
	var buf []byte // compressed blobs' plaintext, one after the other
	for _, b := range indexed {
		if _, buf, err = r.openChunk(pr, dec, h, b, data[b.off:b.off+b.length], buf[:0]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// packTrailer decodes a pack's own list of blobs.
func (r *Repo) packTrailer(name string, data []byte) ([]blobEntry, error) {
	if len(data) < headerSize+tagSize+4 {
		return nil, objErr(name, -1, ErrTruncated)
	}
	tl := int64(leU32(data[len(data)-4:]))
	start := int64(len(data)) - 4 - tl
	if tl < tagSize || start < headerSize {
		return nil, corrupt(name, int64(len(data)-4), "impossible trailer length")
	}
	hdr, err := parseHeader(name, data, kindPack)
	if err != nil {
		return nil, err
	}
	aead, err := r.kr().objectAEAD(hdr.epoch, kindPack, hdr.salt[:])
	if err != nil {
		return nil, objErr(name, 11, err)
	}
	var nb [nonceSize]byte
	body, err := aead.Open(nil, nonce(&nb, 0), data[start:len(data)-4], r.kr().objectAD(data[:headerSize]))
	if err != nil {
		return nil, corrupt(name, start, "trailer authentication failed")
	}
	blobs, err := decodePackTrailer(body, start)
	if err != nil {
		return nil, corrupt(name, start, "trailer: "+err.Error())
	}
	return blobs, nil
}

// decodePackTrailer decodes the sealed body of a pack trailer; blobs must
// lie before end. It never panics.
func decodePackTrailer(body []byte, end int64) ([]blobEntry, error) {
	d := decoder{B: body}
	n := d.Count(blobEntrySize, maxIndexBlobs)
	out := make([]blobEntry, 0, n)
	for i := 0; i < n && d.Err == nil; i++ {
		b := getBlob(&d)
		if d.Err == nil {
			if err := b.check(end); err != nil {
				d.Fail(err)
			}
		}
		out = append(out, b)
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	return out, nil
}

func sortBlobs(bs []blobEntry) {
	slices.SortFunc(bs, func(a, b blobEntry) int { return int(int64(a.off) - int64(b.off)) })
}

func leU32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// isDamage reports whether err is damage to report rather than a failure
// to run.
func isDamage(err error) bool {
	return errors.Is(err, ErrMissing) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) ||
		errors.Is(err, ErrReplayed) || errors.Is(err, ErrKeyEpoch) || errors.As(err, new(*VersionError))
}

func objectOf(err error, def string) string {
	var oe *ObjectError
	if errors.As(err, &oe) {
		return oe.Object
	}
	return def
}
