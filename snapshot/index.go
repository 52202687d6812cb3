package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// packInfo describes one pack object.
type packInfo struct {
	id    [objNameBytes]byte
	salt  [saltSize]byte
	size  int64
	epoch uint32 // the key epoch the pack is sealed under
}

func (p packInfo) name() string { return packName(p.id) }

// blobEntry is one blob's place in a pack, as index objects and pack
// trailers store it (46 bytes).
type blobEntry struct {
	typ, codec byte
	id         blobID
	off        uint32 // offset of the sealed blob in the pack
	length     uint32 // sealed length, tag included
	raw        uint32 // plaintext length
}

const blobEntrySize = 2 + blobIDSize + 12

func putBlob(e *encoder, b blobEntry) {
	e.U8(b.typ)
	e.U8(b.codec)
	e.Raw(b.id[:])
	e.U32(b.off)
	e.U32(b.length)
	e.U32(b.raw)
}

func getBlob(d *decoder) blobEntry {
	var b blobEntry
	b.typ = d.U8()
	b.codec = d.U8()
	copy(b.id[:], d.Take(blobIDSize))
	b.off = d.U32()
	b.length = d.U32()
	b.raw = d.U32()
	return b
}

// check validates one entry against its pack's size.
func (b blobEntry) check(packSize int64) error {
	switch {
	case b.typ != blobData && b.typ != blobTree:
		return fmt.Errorf("blob %s: unknown type %d", b.id, b.typ)
	case b.codec != codecRaw && b.codec != codecLZ4 && b.codec != codecZstd:
		return fmt.Errorf("blob %s: unknown codec %d", b.id, b.codec)
	case b.length < tagSize || b.length-tagSize > maxChunk || b.raw > maxChunk:
		return fmt.Errorf("blob %s: impossible length %d (raw %d)", b.id, b.length, b.raw)
	case b.codec == codecRaw && b.length-tagSize != b.raw:
		return fmt.Errorf("blob %s: raw blob of %d bytes stored in %d", b.id, b.raw, b.length-tagSize)
	case int64(b.off) < headerSize || int64(b.off)+int64(b.length) > packSize:
		return fmt.Errorf("blob %s: bytes %d+%d outside the pack's %d", b.id, b.off, b.length, packSize)
	}
	return nil
}

// indexPack is one pack's entry in an index object.
type indexPack struct {
	packInfo
	blobs []blobEntry
}

// maxIndexBlobs bounds blobs per pack in an index object (a 1 GiB pack of
// minimum-size blobs would hold fewer).
const maxIndexBlobs = 1 << 22

// encodeIndexBody encodes the sealed body of an index object. With
// epochs (objects of version epochVersion and later), each pack's key
// epoch, uint32, follows its size; without, every pack is epoch 0.
func encodeIndexBody(packs []indexPack, epochs bool) []byte {
	var e encoder
	e.U32(uint32(len(packs)))
	for _, p := range packs {
		e.Raw(p.id[:])
		e.Raw(p.salt[:])
		e.U64(uint64(p.size))
		if epochs {
			e.U32(p.epoch)
		}
		e.U32(uint32(len(p.blobs)))
		for _, b := range p.blobs {
			putBlob(&e, b)
		}
	}
	return e.B
}

// decodeIndexBody decodes and validates an index body. It never panics
// and never allocates more than a small multiple of len(b).
func decodeIndexBody(b []byte, epochs bool) ([]indexPack, error) {
	d := decoder{B: b}
	n := d.Count(objNameBytes+saltSize+12, 1<<24)
	packs := make([]indexPack, 0, n)
	for i := 0; i < n && d.Err == nil; i++ {
		var p indexPack
		copy(p.id[:], d.Take(objNameBytes))
		copy(p.salt[:], d.Take(saltSize))
		size, ok := checkedInt(d.U64(), 1<<40)
		if !ok {
			d.Fail(errors.New("impossible pack size"))
		}
		p.size = int64(size)
		if epochs {
			p.epoch = d.U32()
		}
		m := d.Count(blobEntrySize, maxIndexBlobs)
		p.blobs = make([]blobEntry, 0, m)
		for j := 0; j < m && d.Err == nil; j++ {
			e := getBlob(&d)
			if d.Err == nil {
				if err := e.check(p.size); err != nil {
					d.Fail(err)
				}
			}
			p.blobs = append(p.blobs, e)
		}
		packs = append(packs, p)
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	return packs, nil
}

// location is where a blob lives.
type location struct {
	pack int32
	blobEntry
}

type indexEntry struct {
	loc  location
	next int32 // next entry with the same key64, or -1
}

// index is the in-memory map from blob ID to location. Lookups hash the
// first 8 bytes of the ID (uniformly random: it is a keyed hash) and
// compare all 32. Not safe for concurrent use: Repo guards it.
type index struct {
	packs   []packInfo
	byPack  map[[objNameBytes]byte]int32
	table   map[uint64]int32
	entries []indexEntry
	// loaded records the index objects merged in, with the packs each
	// named, so a vanished object (Prune replaced it) forces a rebuild.
	loaded map[string][]int32
}

func newIndex() *index {
	return &index{
		byPack: make(map[[objNameBytes]byte]int32),
		table:  make(map[uint64]int32),
		loaded: make(map[string][]int32),
	}
}

func (x *index) len() int { return len(x.entries) }

func (x *index) lookup(id blobID) (location, bool) {
	i, ok := x.table[id.key64()]
	for ok && i >= 0 {
		e := &x.entries[i]
		if e.loc.id == id {
			return e.loc, true
		}
		i = e.next
	}
	return location{}, false
}

// blobsByPack returns each pack's blob entries, indexed like x.packs.
func (x *index) blobsByPack() [][]blobEntry {
	out := make([][]blobEntry, len(x.packs))
	for i := range x.entries {
		e := &x.entries[i].loc
		out[e.pack] = append(out[e.pack], e.blobEntry)
	}
	return out
}

func (x *index) has(id blobID) bool {
	_, ok := x.lookup(id)
	return ok
}

// addPack merges one pack's blobs; a pack already present is skipped.
func (x *index) addPack(p indexPack) int32 {
	if i, ok := x.byPack[p.id]; ok {
		return i
	}
	pi := int32(len(x.packs))
	x.packs = append(x.packs, p.packInfo)
	x.byPack[p.id] = pi
	for _, b := range p.blobs {
		k := b.id.key64()
		next, ok := x.table[k]
		if !ok {
			next = -1
		}
		x.table[k] = int32(len(x.entries))
		x.entries = append(x.entries, indexEntry{loc: location{pack: pi, blobEntry: b}, next: next})
	}
	return pi
}

// refreshIndex merges index objects written since the last refresh (by
// this or another process). If an object merged before has vanished
// (Prune replaced it), or full is set, the index is rebuilt from scratch
// and swapped in whole. Refreshes are serialized (refreshMu): a refresh
// that listed the bucket before a Prune elsewhere must not merge what it
// read after another refresh has seen the Prune's result.
func (r *Repo) refreshIndex(ctx context.Context, full bool) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	for attempt := 0; ; attempt++ {
		err := r.refreshLocked(ctx, full)
		// An index object listed but gone before it was read: a Prune
		// elsewhere replaced it. Start over from a new listing.
		if errors.Is(err, ErrMissing) && attempt < 3 {
			full = true
			continue
		}
		return err
	}
}

func (r *Repo) refreshLocked(ctx context.Context, full bool) error {
	names, err := listNames(ctx, r.bucket, indexPrefix)
	if err != nil {
		return err
	}
	r.idxMu.RLock()
	rebuild := full
	present := make(map[string]bool, len(names))
	for _, n := range names {
		present[n] = true
	}
	for n := range r.idx.loaded {
		if !present[n] {
			rebuild = true
			break
		}
	}
	var todo []string
	for _, n := range names {
		if _, ok := r.idx.loaded[n]; !ok || rebuild {
			todo = append(todo, n)
		}
	}
	r.idxMu.RUnlock()
	if len(todo) == 0 && !rebuild {
		return nil
	}
	type loaded struct {
		name  string
		packs []indexPack
	}
	got := make([]loaded, 0, len(todo))
	for _, n := range todo {
		packs, err := r.readIndexObject(ctx, n)
		if err != nil {
			return err
		}
		got = append(got, loaded{n, packs})
	}
	r.idxMu.Lock()
	defer r.idxMu.Unlock()
	x := r.idx
	if rebuild {
		x = newIndex()
	}
	for _, l := range got {
		if _, ok := x.loaded[l.name]; ok {
			continue
		}
		var ps []int32
		for _, p := range l.packs {
			ps = append(ps, x.addPack(p))
		}
		x.loaded[l.name] = ps
	}
	r.idx = x
	return nil
}

func (r *Repo) readIndexObject(ctx context.Context, name string) ([]indexPack, error) {
	h, _, body, err := r.getSealed(ctx, name, kindIndex, 0, maxIndexBytes, false)
	if err != nil {
		return nil, err
	}
	packs, err := decodeIndexBody(body, h.version >= epochVersion)
	if err != nil {
		return nil, corrupt(name, -1, "index body: "+err.Error())
	}
	return packs, nil
}

// writeIndexObject stores packs in a new index object and merges them.
func (r *Repo) writeIndexObject(ctx context.Context, packs []indexPack) (string, int64, error) {
	sort.Slice(packs, func(i, j int) bool { return strings.Compare(string(packs[i].id[:]), string(packs[j].id[:])) < 0 })
	obj, err := r.kr().sealObject(kindIndex, nil, encodeIndexBody(packs, true)) // version 3: with epochs
	if err != nil {
		return "", 0, err
	}
	name := indexPrefix + randomName()
	if err := r.put(ctx, name, obj); err != nil {
		return "", 0, fmt.Errorf("snapshot: write index: %w", err)
	}
	r.idxMu.Lock()
	var ps []int32
	for _, p := range packs {
		ps = append(ps, r.idx.addPack(p))
	}
	r.idx.loaded[name] = ps
	r.idxMu.Unlock()
	return name, int64(len(obj)), nil
}
