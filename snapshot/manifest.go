package snapshot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// Meta is what the host tells Save about the state it stores.
type Meta struct {
	// Time is when the state was current. Default: when Save starts.
	Time time.Time
	// Host names the node that took the snapshot. Default
	// Options.Hostname.
	Host string
	// Tags label the snapshot for retention (Policy.Tags) and listing.
	Tags []string
	// Labels are free key/value metadata.
	Labels map[string]string
	// Parent is the snapshot this one follows, if the host tracks it.
	// Deduplication does not depend on it: every Save is incremental
	// against the whole repository.
	Parent ID
	// LSN and Epoch are the WAL position the state covers: replaying the
	// log from LSN+1 onto a restore of this snapshot gives later states.
	LSN, Epoch uint64
}

// Manifest describes a stored snapshot.
type Manifest struct {
	// ID names the snapshot.
	ID ID
	// Parent, Time, Host, Tags and Labels are from Meta.
	Parent ID
	Time   time.Time         // UTC
	Host   string            // node that took it
	Tags   []string          // for retention and listing
	Labels map[string]string // free metadata
	// LSN and Epoch are the WAL position from Meta.
	LSN, Epoch uint64
	// Size is the state's length in bytes.
	Size int64
	// Chunks is the state's number of chunks.
	Chunks int64
	// NewBytes is how many bytes of the state were not in the repository
	// before this snapshot; StoredBytes how many bytes of objects its
	// Save wrote (compressed, encrypted, with pack overhead).
	NewBytes, StoredBytes int64

	depth uint8
	root  []blobID
}

// HasTag reports whether m carries tag.
func (m Manifest) HasTag(tag string) bool { return slices.Contains(m.Tags, tag) }

const (
	maxTags    = 1024
	maxLabels  = 1024
	maxTreeDep = 16
)

func encodeManifestBody(m Manifest) []byte {
	var e encoder
	e.Raw(m.ID[:])
	e.Raw(m.Parent[:])
	e.U64(uint64(m.Time.UnixNano()))
	e.Str(m.Host)
	e.U32(uint32(len(m.Tags)))
	for _, t := range m.Tags {
		e.Str(t)
	}
	keys := slices.Sorted(maps.Keys(m.Labels))
	e.U32(uint32(len(keys)))
	for _, k := range keys {
		e.Str(k)
		e.Str(m.Labels[k])
	}
	e.U64(m.LSN)
	e.U64(m.Epoch)
	e.U64(uint64(m.Size))
	e.U64(uint64(m.Chunks))
	e.U64(uint64(m.NewBytes))
	e.U64(uint64(m.StoredBytes))
	e.U8(m.depth)
	e.U32(uint32(len(m.root)))
	for _, id := range m.root {
		e.Raw(id[:])
	}
	return e.B
}

// decodeManifestBody decodes a manifest body. It never panics and
// allocates at most a small multiple of len(b).
func decodeManifestBody(b []byte) (Manifest, error) {
	var m Manifest
	d := decoder{B: b}
	copy(m.ID[:], d.Take(snapIDSize))
	copy(m.Parent[:], d.Take(snapIDSize))
	m.Time = time.Unix(0, int64(d.U64())).UTC()
	m.Host = d.Str(4096)
	n := d.Count(4, maxTags)
	for i := 0; i < n && d.Err == nil; i++ {
		m.Tags = append(m.Tags, d.Str(4096))
	}
	n = d.Count(8, maxLabels)
	if n > 0 {
		m.Labels = make(map[string]string, n)
	}
	for i := 0; i < n && d.Err == nil; i++ {
		k := d.Str(4096)
		m.Labels[k] = d.Str(1 << 16)
	}
	m.LSN = d.U64()
	m.Epoch = d.U64()
	sz, chunks, nb, sb := d.U64(), d.U64(), d.U64(), d.U64()
	for _, v := range []uint64{sz, chunks, nb, sb} {
		if v > 1<<62 {
			d.Fail(errors.New("impossible size"))
		}
	}
	m.Size, m.Chunks, m.NewBytes, m.StoredBytes = int64(sz), int64(chunks), int64(nb), int64(sb)
	m.depth = d.U8()
	if m.depth > maxTreeDep {
		d.Fail(fmt.Errorf("tree depth %d exceeds %d", m.depth, maxTreeDep))
	}
	n = d.Count(blobIDSize, maxRootIDs)
	m.root = make([]blobID, n)
	for i := range m.root {
		copy(m.root[i][:], d.Take(blobIDSize))
	}
	if err := d.Done(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

func manifestName(id ID) string { return snapsPrefix + id.String() }

// writeManifest stores m under its ID, never overwriting.
func (r *Repo) writeManifest(ctx context.Context, m Manifest) (int64, error) {
	obj, err := r.kr().sealObject(kindManifest, nil, encodeManifestBody(m))
	if err != nil {
		return 0, err
	}
	if err := r.put(ctx, manifestName(m.ID), obj); err != nil {
		return 0, fmt.Errorf("snapshot: write manifest: %w", err)
	}
	return int64(len(obj)), nil
}

// Manifest reads one snapshot's manifest. A snapshot that does not exist
// gives ErrNotFound.
func (r *Repo) Manifest(ctx context.Context, id ID) (Manifest, error) {
	if err := r.checkOpen(); err != nil {
		return Manifest{}, err
	}
	m, err := r.readManifest(ctx, manifestName(id))
	if errors.Is(err, ErrMissing) {
		return Manifest{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return m, err
}

func (r *Repo) readManifest(ctx context.Context, name string) (Manifest, error) {
	_, _, body, err := r.getSealed(ctx, name, kindManifest, 0, maxManifestBytes, false)
	if err != nil {
		return Manifest{}, err
	}
	m, err := decodeManifestBody(body)
	if err != nil {
		return Manifest{}, corrupt(name, -1, "manifest body: "+err.Error())
	}
	if manifestName(m.ID) != name {
		return Manifest{}, objErr(name, -1, fmt.Errorf("%w: it is snapshot %s", ErrReplayed, m.ID))
	}
	return m, nil
}

// List returns every snapshot's manifest, oldest first (ties by ID). A
// manifest that does not authenticate or decode fails it; ListReadable
// reads past such manifests.
func (r *Repo) List(ctx context.Context) ([]Manifest, error) {
	out, damaged, err := r.ListReadable(ctx)
	if err != nil {
		return nil, err
	}
	if len(damaged) > 0 {
		return nil, damaged[0]
	}
	return out, nil
}

// ListReadable is List that reads past damaged manifests: it returns the
// manifests that authenticate, oldest first, and one *ObjectError per
// manifest that does not (ErrCorrupt, ErrTruncated, ErrReplayed,
// ErrKeyEpoch or a version this build cannot read), so that one damaged manifest costs
// only its own snapshot. Other errors (the bucket, the key) are returned.
func (r *Repo) ListReadable(ctx context.Context) (ms []Manifest, damaged []error, err error) {
	if err := r.checkOpen(); err != nil {
		return nil, nil, err
	}
	names, err := listNames(ctx, r.bucket, snapsPrefix)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Manifest, 0, len(names))
	for _, n := range names {
		m, err := r.readManifest(ctx, n)
		if errors.Is(err, ErrMissing) {
			continue // forgotten meanwhile
		}
		var ve *VersionError
		// A manifest under a key epoch this key does not hold (retired,
		// or its header's epoch altered in the bucket) cannot be read
		// either.
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrReplayed) || errors.Is(err, ErrKeyEpoch) || errors.As(err, &ve) {
			damaged = append(damaged, err)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID.String() < out[j].ID.String()
	})
	return out, damaged, nil
}

// Latest returns the newest snapshot, or ErrNotFound if there is none.
func (r *Repo) Latest(ctx context.Context) (Manifest, error) {
	ms, err := r.List(ctx)
	if err != nil {
		return Manifest{}, err
	}
	if len(ms) == 0 {
		return Manifest{}, ErrNotFound
	}
	return ms[len(ms)-1], nil
}
