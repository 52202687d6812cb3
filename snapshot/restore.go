package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"

	"gocloud.dev/gcerrors"
	"golang.org/x/sync/errgroup"

	"github.com/continuity-go/continuity/internal/blobview"
)

// maxFetchBytes bounds one range read that serves several adjacent
// chunks of a pack.
const maxFetchBytes = 4 << 20

// Restore writes snapshot id's state to w. Chunks are fetched, decrypted,
// decompressed and checked against their ID in parallel, and written in
// order; only verified bytes reach w. On error, what was written is a
// correct prefix of the state, and the error says why it stopped: wrapped
// ErrNotFound (no such snapshot), ErrMissing (an object is gone),
// ErrCorrupt (authentication or identity check failed), ErrTruncated.
// Restore holds a shared repository lock, like Save, so Prune waits for it.
func (r *Repo) Restore(ctx context.Context, id ID, w io.Writer) error {
	if err := r.checkOpen(); err != nil {
		return err
	}
	// A shared lock keeps a Prune elsewhere from repacking the packs
	// this restore is reading.
	lk, err := r.lock(ctx, "restore", false)
	if err != nil {
		return err
	}
	defer lk.release()
	ctx = lk.ctx()
	m, err := r.Manifest(ctx, id)
	if err != nil {
		return err
	}
	if err := r.refreshIndex(ctx, false); err != nil {
		return err
	}
	if err := r.restore(ctx, m, w); err != nil {
		return fmt.Errorf("snapshot: restore %s: %w", id.Short(), err)
	}
	return nil
}

// fetch is a range of one pack holding consecutive chunks of the state.
type fetch struct {
	seq   uint64
	pack  packInfo
	off   int64
	n     int64
	raw   int64 // plaintext bytes of blobs
	blobs []blobEntry
}

// fetched is a fetch's plaintext, in order: pieces of its buffers (a raw
// chunk is opened in place in the range read, a compressed one
// decompressed into a buffer of its own; every chunk of a lent range
// lands in that buffer), which go back to the free list once written.
type fetched struct {
	seq    uint64
	pieces [][]byte
	bufs   [2][]byte
}

// appendPiece appends p to pieces, extending the last piece instead when
// p follows it in memory (chunks decompressed one after another). An
// empty p adds nothing.
func appendPiece(pieces [][]byte, p []byte) [][]byte {
	if len(p) == 0 {
		return pieces
	}
	if n := len(pieces); n > 0 {
		last := pieces[n-1]
		if l := len(last); cap(last)-l >= len(p) && &last[:l+1][l] == &p[0] {
			pieces[n-1] = last[:l+len(p)]
			return pieces
		}
	}
	return append(pieces, p)
}

// buffers is a free list of restore buffers of one use, so that a
// restore reuses a few large buffers instead of allocating (and zeroing)
// one per fetch.
type buffers struct{ free chan []byte }

// bufferGrain rounds a new buffer's size up, so that a buffer serves
// fetches of about the same size.
const bufferGrain = 512 << 10

// get returns an empty buffer holding at least n bytes.
func (b *buffers) get(n int64) []byte {
	select {
	case buf := <-b.free:
		if int64(cap(buf)) >= n {
			return buf[:0]
		}
	default:
	}
	return make([]byte, 0, (n+bufferGrain-1)/bufferGrain*bufferGrain)
}

// put returns buf to the free list, or leaves it to the collector when
// the list is full.
func (b *buffers) put(buf []byte) {
	if buf == nil {
		return
	}
	select {
	case b.free <- buf:
	default:
	}
}

func (r *Repo) restore(ctx context.Context, m Manifest, w io.Writer) error {
	workers := max(r.opts.Workers, r.opts.Uploads)
	window := 2 * workers
	g, gctx := errgroup.WithContext(ctx)
	reqs := make(chan fetch, window)
	results := make(chan fetched, window)
	tokens := make(chan struct{}, window)
	prog := newProgress(r, "restore", m.Size)
	// Each fetch in flight holds a range read (unless the bucket lent the
	// range) and, if it has compressed chunks or a lent range, their
	// plaintext.
	reads, outs := &buffers{free: make(chan []byte, window)}, &buffers{free: make(chan []byte, window)}

	// The first failure of the producer or a worker, recorded before the
	// channel it feeds is closed: the writer must report it, not the
	// short state that follows from it (errgroup records a returned error
	// only after the goroutine's defers ran, so the writer's own error
	// could win otherwise).
	var failure struct {
		sync.Mutex
		err error
	}
	fail := func(err error) {
		failure.Lock()
		if failure.err == nil {
			failure.err = err
		}
		failure.Unlock()
	}
	failed := func() error {
		failure.Lock()
		defer failure.Unlock()
		return failure.err
	}

	// Producer: walk the tree in order, grouping adjacent chunks of a pack
	// into one range read.
	g.Go(func() (err error) {
		defer close(reqs)
		defer func() {
			if err != nil {
				fail(err)
			}
		}()
		var cur fetch
		var seq uint64
		send := func() error {
			if len(cur.blobs) == 0 {
				return nil
			}
			cur.seq = seq
			seq++
			select {
			case tokens <- struct{}{}:
			case <-gctx.Done():
				return context.Cause(gctx)
			}
			select {
			case reqs <- cur:
			case <-gctx.Done():
				return context.Cause(gctx)
			}
			cur = fetch{}
			return nil
		}
		tr := r.newTreeReader(m)
		return tr.walk(gctx, func(id blobID) error {
			loc, p, ok := r.locate(id)
			if !ok || loc.typ != blobData {
				return objErr(manifestName(m.ID), -1, fmt.Errorf("%w: chunk %s is in no index", ErrMissing, id))
			}
			end := int64(loc.off) + int64(loc.length)
			if len(cur.blobs) > 0 && (cur.pack.id != p.id || int64(loc.off) != cur.off+cur.n ||
				end-cur.off > maxFetchBytes || cur.raw+int64(loc.raw) > maxFetchBytes) {
				if err := send(); err != nil {
					return err
				}
			}
			if len(cur.blobs) == 0 {
				cur = fetch{pack: p, off: int64(loc.off)}
			}
			cur.n = end - cur.off
			cur.raw += int64(loc.raw)
			cur.blobs = append(cur.blobs, loc.blobEntry)
			return nil
		}, send)
	})

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		g.Go(func() (err error) {
			defer wg.Done()
			defer func() {
				if err != nil {
					fail(err)
				}
			}()
			var dec decompressor
			defer dec.close()
			h := r.kr().newHasher()
			var pr *packReader // cached: consecutive fetches mostly read one pack
			var scratch []byte // a lent range's compressed payloads, one at a time
			for f := range reqs {
				var res fetched
				res, pr, err = r.restoreFetch(gctx, f, pr, &dec, h, reads, outs, &scratch)
				if err != nil {
					return err
				}
				select {
				case results <- res:
				case <-gctx.Done():
					return context.Cause(gctx)
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		wg.Wait()
		close(results)
		return nil
	})

	// Writer: reorder and write in the caller's goroutine's stead.
	g.Go(func() error {
		ring := make([]fetched, window)
		have := make([]bool, window)
		var next uint64
		var written int64
		for f := range results {
			ring[f.seq%uint64(window)] = f
			have[f.seq%uint64(window)] = true
			for have[next%uint64(window)] {
				i := next % uint64(window)
				have[i] = false
				for _, p := range ring[i].pieces {
					if _, err := w.Write(p); err != nil {
						return fmt.Errorf("write restored state: %w", err)
					}
					written += int64(len(p))
				}
				reads.put(ring[i].bufs[0])
				outs.put(ring[i].bufs[1])
				ring[i] = fetched{}
				next++
				<-tokens
				prog.report(written)
			}
		}
		if err := failed(); err != nil {
			return err
		}
		if gctx.Err() != nil {
			return context.Cause(gctx)
		}
		if written != m.Size {
			return objErr(manifestName(m.ID), -1, fmt.Errorf("%w: restored %d bytes, manifest says %d", ErrCorrupt, written, m.Size))
		}
		prog.done(written)
		return nil
	})
	return g.Wait()
}

// restoreFetch reads one fetch's range and opens its chunks, with pr if
// it is of the fetch's pack; it returns them and the pack reader. A range
// read into a buffer is decrypted in place, and a raw chunk's plaintext
// stays there. A range the bucket lends (a mapped file) is never written,
// and every plaintext lands in an output buffer (openLentChunk).
func (r *Repo) restoreFetch(ctx context.Context, f fetch, pr *packReader, dec *decompressor, h *hasher, reads, outs *buffers, scratch *[]byte) (res fetched, _ *packReader, err error) {
	var buf []byte // the range read, unless it is lent
	raw, lent, release, err := readRangeLent(ctx, r.bucket, f.pack.name(), f.off, f.n, func() []byte {
		buf = reads.get(f.n)
		return buf
	})
	if err != nil {
		reads.put(buf)
		return fetched{}, pr, err
	}
	defer func() { err = errors.Join(err, release()) }()
	if pr == nil || pr.id != f.pack.id {
		if pr, err = r.kr().newPackReader(f.pack); err != nil {
			return fetched{}, nil, err
		}
	}
	if !lent {
		res.bufs[0] = raw
	}
	var out []byte // plaintext, taken at the first chunk that needs it
	for _, b := range f.blobs {
		at := int64(b.off) - f.off
		sealed := raw[at : at+int64(b.length)]
		if out == nil && (lent || b.codec != codecRaw) {
			out = outs.get(f.raw)
		}
		var plain []byte
		if lent {
			plain, out, *scratch, err = r.openLentChunk(pr, dec, h, b, sealed, raw, out, *scratch)
			if errors.Is(err, blobview.ErrFault) {
				err = r.lentFault(ctx, f, err)
			}
		} else {
			plain, out, err = r.openChunk(pr, dec, h, b, sealed, out)
		}
		if err != nil {
			return fetched{}, pr, err
		}
		res.pieces = appendPiece(res.pieces, plain)
	}
	res.bufs[1] = out
	res.seq = f.seq
	return res, pr, nil
}

// openLentChunk is openChunk for sealed bytes in a lent range (view),
// which it must not write and which another process may change or cut
// short while they are read. A compressed blob's sealed bytes are copied
// into scratch and opened there by openChunk, so that the decompressor
// reads only authenticated bytes; a raw blob is decrypted straight onto
// dst, where the keyed ID checked over its plaintext is what
// authenticates it. It returns the plaintext, dst and scratch.
func (r *Repo) openLentChunk(pr *packReader, dec *decompressor, h *hasher, b blobEntry, sealed, view, dst, scratch []byte) (plain, _, _ []byte, err error) {
	if b.codec != codecRaw {
		if err := readLent(view, func() error { scratch = append(scratch[:0], sealed...); return nil }); err != nil {
			return nil, nil, nil, err
		}
		plain, dst, err = r.openChunk(pr, dec, h, b, scratch, dst)
		return plain, dst, scratch, err
	}
	n := len(dst)
	err = readLent(view, func() (err error) {
		dst, err = pr.open(r.kr(), dst, b, sealed)
		return err
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if plain = dst[n:]; len(plain) != int(b.raw) {
		return nil, nil, nil, corrupt(pr.name, int64(b.off), fmt.Sprintf("blob %s: %d bytes, the index says %d", b.id, len(plain), b.raw))
	}
	if err := checkID(pr, h, b, plain); err != nil {
		return nil, nil, nil, err
	}
	return plain, dst, scratch, nil
}

// readLent runs read, which reads the lent range view, with a fault in
// view (its file cut short or unreadable) returned as an error wrapping
// blobview.ErrFault. A fault anywhere else crashes, as it would without.
func readLent(view []byte, read func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if err = blobview.Fault(p, view); err == nil {
				panic(p)
			}
		}
	}()
	return read()
}

// lentFault is the error of a fault reading fetch f's lent range: if the
// pack is now shorter than the range, it was truncated (ErrTruncated, an
// integrity problem); otherwise the store failed to read it.
func (r *Repo) lentFault(ctx context.Context, f fetch, fault error) error {
	name := f.pack.name()
	attrs, err := r.bucket.Attributes(ctx, name)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return objErr(name, f.off, fmt.Errorf("%w (and then its size could not be read: %v)", fault, err))
	}
	if err != nil || attrs.Size < f.off+f.n {
		return objErr(name, f.off, fmt.Errorf("%w: %w", ErrTruncated, fault))
	}
	return objErr(name, f.off, fault)
}

// openChunk decrypts, decompresses and identity-checks one blob, and
// returns its plaintext and dst. It decrypts in place (sealed is
// overwritten): a raw blob's plaintext is returned there, a compressed
// one's is appended to dst.
func (r *Repo) openChunk(pr *packReader, dec *decompressor, h *hasher, b blobEntry, sealed, dst []byte) (plain, _ []byte, err error) {
	payload, err := pr.open(r.kr(), sealed[:0], b, sealed)
	if err != nil {
		return nil, nil, err
	}
	if plain, dst, err = dec.plaintext(dst, b.codec, payload, int(b.raw)); err != nil {
		return nil, nil, corrupt(pr.name, int64(b.off), fmt.Sprintf("blob %s: %v", b.id, err))
	}
	if err := checkID(pr, h, b, plain); err != nil {
		return nil, nil, err
	}
	return plain, dst, nil
}

// checkID checks that plain, blob b's plaintext, hashes to its ID.
func checkID(pr *packReader, h *hasher, b blobEntry, plain []byte) error {
	if got := h.sum(b.typ, plain); got != b.id {
		return corrupt(pr.name, int64(b.off), fmt.Sprintf("blob %s: content hashes to %s", b.id, got))
	}
	return nil
}

// openBlob is openChunk appending the plaintext to dst whatever the codec.
func (r *Repo) openBlob(pr *packReader, dec *decompressor, h *hasher, b blobEntry, sealed, dst []byte) ([]byte, error) {
	plain, dst, err := r.openChunk(pr, dec, h, b, sealed, dst)
	if err != nil {
		return nil, err
	}
	if b.codec == codecRaw {
		dst = append(dst, plain...)
	}
	return dst, nil
}

// locate finds a blob in the index: where it is, and its pack.
func (r *Repo) locate(id blobID) (location, packInfo, bool) {
	r.idxMu.RLock()
	defer r.idxMu.RUnlock()
	loc, ok := r.idx.lookup(id)
	if !ok {
		return loc, packInfo{}, false
	}
	return loc, r.idx.packs[loc.pack], true
}

// treeReader walks a manifest's tree depth first.
type treeReader struct {
	r   *Repo
	m   Manifest
	dec decompressor
	h   *hasher
	// onTree, if set, is called with every tree block ID before it is read.
	onTree func(blobID)
	// ahead holds the bytes of a pack from the last tree block read on:
	// a Save writes its tree blocks one after another into a pack of its
	// own, and a block is about 256 bytes, so one read of treeReadAhead
	// serves hundreds (on S3, one GET instead of one per block).
	ahead struct {
		pack packInfo
		off  int64
		b    []byte
		pr   *packReader
	}
}

// treeReadAhead is how much of a pack one tree block's read fetches.
const treeReadAhead = 256 << 10

// readTree reads the tree block id, from the read-ahead window when it
// holds it.
func (t *treeReader) readTree(ctx context.Context, id blobID) ([]byte, error) {
	loc, p, ok := t.r.locate(id)
	if !ok || loc.typ != blobTree {
		return nil, fmt.Errorf("%w: blob %s is in no index", ErrMissing, id)
	}
	off, end := int64(loc.off), int64(loc.off)+int64(loc.length)
	a := &t.ahead
	if a.pr == nil || a.pack.id != p.id || off < a.off || end > a.off+int64(len(a.b)) {
		n := int64(loc.length)
		if p.size >= end {
			n = max(n, min(treeReadAhead, p.size-off))
		}
		b, err := readRange(ctx, t.r.bucket, p.name(), off, n, a.b)
		if err != nil && n > int64(loc.length) {
			// The index's pack size may be wrong: read the block alone.
			b, err = readRange(ctx, t.r.bucket, p.name(), off, int64(loc.length), a.b)
		}
		if err != nil {
			return nil, err
		}
		pr, err := t.r.kr().newPackReader(p)
		if err != nil {
			return nil, err
		}
		a.pack, a.off, a.b, a.pr = p, off, b, pr
	}
	return t.r.openBlob(a.pr, &t.dec, t.h, loc.blobEntry, a.b[off-a.off:end-a.off], nil)
}

func (r *Repo) newTreeReader(m Manifest) *treeReader {
	return &treeReader{r: r, m: m, h: r.kr().newHasher()}
}

// walk calls fn for every data chunk ID in order, then end.
func (t *treeReader) walk(ctx context.Context, fn func(blobID) error, end func() error) error {
	defer t.dec.close()
	if err := t.walkLevel(ctx, int(t.m.depth), t.m.root, fn); err != nil {
		return err
	}
	return end()
}

func (t *treeReader) walkLevel(ctx context.Context, depth int, ids []blobID, fn func(blobID) error) error {
	for _, id := range ids {
		if depth == 0 {
			if err := fn(id); err != nil {
				return err
			}
			continue
		}
		if t.onTree != nil {
			t.onTree(id)
		}
		b, err := t.readTree(ctx, id)
		if err != nil {
			if errors.Is(err, ErrMissing) {
				var oe *ObjectError
				if !errors.As(err, &oe) {
					err = objErr(manifestName(t.m.ID), -1, err)
				}
			}
			return err
		}
		if len(b)%blobIDSize != 0 || len(b) == 0 {
			return corrupt(manifestName(t.m.ID), -1, fmt.Sprintf("tree block %s of %d bytes", id, len(b)))
		}
		children := make([]blobID, len(b)/blobIDSize)
		for i := range children {
			copy(children[i][:], b[i*blobIDSize:])
		}
		if err := t.walkLevel(ctx, depth-1, children, fn); err != nil {
			return err
		}
	}
	return nil
}
