package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// The scale suite's tenants: each has minEvents to maxEvents events of
// minEventBytes to maxEventBytes, drawn from -seed.
const (
	minEvents     = 8
	maxEvents     = 24
	minEventBytes = 100
	maxEventBytes = 600
	// scaleWriters append at once while the tenants are created and
	// filled.
	scaleWriters = 64
	// scaleSegmentBytes is the scale node's WAL segment size. A node
	// restores from a base snapshot only when its WAL starts past the
	// snapshot's LSN, and TruncateFront drops whole segments, never the
	// last: with 1 MiB segments the plain filler events that close the
	// segment holding the snapshot's LSN (and which the restore then
	// replays from the archive) are at most 1 MiB.
	scaleSegmentBytes = 1 << 20
	fillerBytes       = 1 << 10
)

// restartRun is one restart of the scale node: Open, then the state
// caught up with the log (WaitFor the last LSN), and the heap.
type restartRun struct {
	open, caughtUp time.Duration
	heap           heapPoint
}

// heapPoint is runtime.MemStats.HeapAlloc after runtime.GC at one point:
// with the node open and every tenant loaded (open), after Close with the
// state machine still referenced (stateOnly), and with neither (none).
type heapPoint struct{ open, stateOnly, none uint64 }

// snapResult is one base snapshot of the scale node.
type snapResult struct {
	what         string
	changed      int   // tenants changed since the snapshot before
	changedBytes int64 // their SnapshotTenant sizes, after the change
	lsn          uint64
	stats        snapshot.Stats
	objects      repoObjects // what the snapshot added to the repository
}

// repoObjects counts objects the snapshot repository holds, by kind.
type repoObjects struct {
	packs, indexes, manifests            int
	packBytes, indexBytes, manifestBytes int64
}

// streamParts are the parts of a base snapshot's stream (the plaintext
// the node's Snapshot writes: see the root package's hostState).
type streamParts struct {
	registry, shared, sections int64 // bytes of each part; sections includes the end marker
	nSections                  int
	changedSections            int64 // the changed tenants' sections
	nChanged                   int
}

// scaleResult is what the scale suite measured.
type scaleResult struct {
	tenants            int
	events, eventBytes int64 // after the fill
	stateBytes         int64 // Σ SnapshotTenant after the fill
	create, fill       time.Duration
	walRecords         wal.LSN // the log's last LSN after the fill
	walBytes           int64   // its segment files on disk
	heapBase           uint64  // the node open, holding no tenant
	replay             []restartRun
	snapHeap           heapPoint // after the base snapshots, the same node (filler events and TruncateFront too)
	snaps              []snapResult
	stream             streamParts // of the 1% snapshot
	fillers            int         // plain events appended to close the snapshot's segment
	snapLSN            wal.LSN     // the newest base snapshot's LSN
	truncatedTo        wal.LSN     // the WAL's first LSN after TruncateFront
	lastLSN            wal.LSN
	fromSnap           []restartRun
}

// scaleSuite runs the scale suite on one node.
func (b *bencher) scaleSuite(ctx context.Context) (*scaleResult, error) {
	res := &scaleResult{tenants: b.tenants}
	dir := b.nodeDir("scale")
	defer os.RemoveAll(dir)
	cfg := b.config(dir, scaleSegmentBytes)
	ids := make([]string, b.tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("tenant-%06d", i)
	}
	want := expected{tenants: map[string][2]int64{}}

	sm := newState(true)
	n, err := continuity.Open(ctx, cfg, sm)
	if err != nil {
		return nil, err
	}
	res.heapBase = heapAlloc()

	fmt.Fprintf(b.progress, "tenantbench: scale: creating %d tenants\n", b.tenants)
	start := time.Now()
	err = parallel(ctx, len(ids), func(i int) error {
		return n.CreateTenant(ctx, ids[i], continuity.TenantOptions{})
	})
	res.create = time.Since(start)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("create the tenants: %w", err)
	}
	fmt.Fprintf(b.progress, "tenantbench: scale: created in %v; filling\n", res.create.Round(time.Millisecond))
	var mu sync.Mutex
	start = time.Now()
	err = parallel(ctx, len(ids), func(i int) error {
		evs := tenantEvents(b.seed, i)
		if _, _, err := n.AppendTenant(ctx, ids[i], evs...); err != nil {
			return err
		}
		var bytes int64
		for _, e := range evs {
			bytes += int64(len(e))
		}
		mu.Lock()
		want.add(ids[i], int64(len(evs)), bytes)
		mu.Unlock()
		return nil
	})
	if err == nil {
		err = n.WaitFor(ctx, n.Log().Last())
	}
	res.fill = time.Since(start)
	if err == nil {
		err = want.check(sm)
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("fill the tenants: %w", err)
	}
	_, res.events, res.eventBytes = sm.totals()
	for _, id := range ids {
		sz, err := sm.tenantSize(id)
		if err != nil {
			n.Close()
			return nil, err
		}
		res.stateBytes += sz
	}
	res.walRecords = n.Log().Last()
	if err := n.Close(); err != nil {
		return nil, err
	}
	if res.walBytes, err = dirBytes(filepath.Join(dir, "wal")); err != nil {
		return nil, err
	}

	// Restarts that replay the WAL from LSN 1.
	for i := range b.runs {
		r, err := b.restart(ctx, cfg, want, nil)
		if err != nil {
			return nil, fmt.Errorf("restart %d (WAL replay): %w", i+1, err)
		}
		res.replay = append(res.replay, r)
		fmt.Fprintf(b.progress, "tenantbench: scale: restart (WAL replay) %d/%d: open %v, caught up %v\n", i+1, b.runs, r.open.Round(time.Millisecond), r.caughtUp.Round(time.Millisecond))
	}

	// Base snapshots, then the WAL truncated past the newest.
	r, err := b.restart(ctx, cfg, want, func(n *continuity.Node, sm *state) error {
		return b.snapshots(ctx, n, sm, ids, &want, res)
	})
	if err != nil {
		return nil, err
	}
	res.snapHeap = r.heap

	// Restarts that restore the newest base snapshot.
	for i := range b.runs {
		r, err := b.restart(ctx, cfg, want, func(n *continuity.Node, _ *state) error {
			if f := n.Log().First(); f != res.truncatedTo {
				return fmt.Errorf("the reopened WAL starts at LSN %d, want %d", f, res.truncatedTo)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("restart %d (from the base snapshot): %w", i+1, err)
		}
		res.fromSnap = append(res.fromSnap, r)
		fmt.Fprintf(b.progress, "tenantbench: scale: restart (base snapshot) %d/%d: open %v, caught up %v\n", i+1, b.runs, r.open.Round(time.Millisecond), r.caughtUp.Round(time.Millisecond))
	}
	return res, nil
}

// restart opens the node in cfg with a fresh state machine and times
// Open and the state catching up with the log; the state must then hold
// what want says. then, if set, runs before the heap is measured and the
// node closed.
func (b *bencher) restart(ctx context.Context, cfg continuity.Config, want expected, then func(*continuity.Node, *state) error) (restartRun, error) {
	runtime.GC()
	sm := newState(true)
	start := time.Now()
	n, err := continuity.Open(ctx, cfg, sm)
	if err != nil {
		return restartRun{}, err
	}
	var r restartRun
	r.open = time.Since(start)
	err = n.WaitFor(ctx, n.Log().Last())
	r.caughtUp = time.Since(start)
	if err == nil {
		err = want.check(sm)
	}
	if err == nil && then != nil {
		err = then(n, sm)
	}
	if err != nil {
		n.Close()
		return r, err
	}
	r.heap.open = heapAlloc()
	if err := n.Close(); err != nil {
		return r, err
	}
	r.heap.stateOnly = heapAlloc()
	runtime.KeepAlive(sm)
	r.heap.none = heapAlloc()
	return r, nil
}

// snapshots takes the base snapshots on a node holding every tenant: all
// tenants; after 1% of them changed; after nothing changed; after one
// changed. Then it appends plain filler events until the WAL starts a new
// segment, waits for the archive to hold them, and truncates the WAL up
// to that segment, so that the next Open restores the newest snapshot.
func (b *bencher) snapshots(ctx context.Context, n *continuity.Node, sm *state, ids []string, want *expected, res *scaleResult) error {
	key, err := n.Repo().NameKey("tenant-tag")
	if err != nil {
		return err
	}
	tagger := tenant.NewTagger(key)
	perm := rand.New(rand.NewPCG(b.seed, 2)).Perm(len(ids))
	onePercent := max(1, len(ids)/100)

	snap := func(what string, changed []string) (snapshot.Manifest, error) {
		r := snapResult{what: what, changed: len(changed)}
		for _, id := range changed {
			sz, err := sm.tenantSize(id)
			if err != nil {
				return snapshot.Manifest{}, err
			}
			r.changedBytes += sz
		}
		before, err := listRepo(ctx, n.Repo())
		if err != nil {
			return snapshot.Manifest{}, err
		}
		fmt.Fprintf(b.progress, "tenantbench: scale: base snapshot, %s\n", what)
		m, err := n.Snapshot(ctx)
		if err != nil {
			return m, err
		}
		r.lsn, r.stats = m.LSN, n.Status().Archive.SnapshotStats
		after, err := listRepo(ctx, n.Repo())
		if err != nil {
			return m, err
		}
		r.objects = after.since(before)
		res.snaps = append(res.snaps, r)
		return m, nil
	}
	change := func(picks []int) ([]string, error) {
		var changed []string
		for _, i := range picks {
			ev := changeEvent(b.seed, i)
			if _, _, err := n.AppendTenant(ctx, ids[i], ev); err != nil {
				return nil, err
			}
			want.add(ids[i], 1, int64(len(ev)))
			changed = append(changed, ids[i])
		}
		return changed, n.WaitFor(ctx, n.Log().Last())
	}

	if _, err := snap("all tenants", nil); err != nil {
		return err
	}
	changed, err := change(perm[:onePercent])
	if err != nil {
		return err
	}
	m, err := snap(fmt.Sprintf("%s of the tenants changed (1%%), one event each", benchkit.Thousands(int64(onePercent))), changed)
	if err != nil {
		return err
	}
	tags := map[tenant.Tag]bool{}
	for _, id := range changed {
		tags[tagger.Tag(id)] = true
	}
	if res.stream, err = parseStream(ctx, n.Repo(), m.ID, tags); err != nil {
		return fmt.Errorf("read the stream of the 1%% snapshot: %w", err)
	}
	if res.stream.nSections != len(ids) || res.stream.nChanged != len(changed) {
		return fmt.Errorf("the 1%% snapshot holds %d sections (%d of changed tenants), want %d (%d)", res.stream.nSections, res.stream.nChanged, len(ids), len(changed))
	}
	if _, err := snap("nothing changed", nil); err != nil {
		return err
	}
	one := perm[onePercent%len(perm) : onePercent%len(perm)+1]
	if changed, err = change(one); err != nil {
		return err
	}
	if m, err = snap("one tenant changed, one event", changed); err != nil {
		return err
	}
	res.snapLSN = wal.LSN(m.LSN)

	// Close the segment that holds the snapshot's LSN.
	segs := n.Log().Stats().Segments
	filler := randomBytes(rand.New(rand.NewPCG(b.seed, 3)), fillerBytes)
	var next wal.LSN
	for range 4 * scaleSegmentBytes / fillerBytes {
		first, _, err := n.Append(ctx, filler)
		if err != nil {
			return err
		}
		res.fillers++
		if n.Log().Stats().Segments > segs {
			next = first
			break
		}
	}
	if next == 0 {
		return fmt.Errorf("%d filler events of %d B did not start a new WAL segment", res.fillers, fillerBytes)
	}
	want.plainEvents = int64(res.fillers)
	if err := n.WaitFor(ctx, n.Log().Last()); err != nil {
		return err
	}
	// TruncateFront refuses to drop what the archive does not hold yet.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for n.Status().Archive.Archived < next-1 {
		select {
		case <-wctx.Done():
			return fmt.Errorf("the archive did not reach LSN %d: %w", next-1, wctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := n.Log().TruncateFront(next); err != nil {
		return err
	}
	if f := n.Log().First(); f != next {
		return fmt.Errorf("after TruncateFront(%d) the WAL starts at LSN %d", next, f)
	}
	res.truncatedTo, res.lastLSN = next, n.Log().Last()
	return want.check(sm)
}

// expected is what the scale node's state must hold: each tenant's events
// and bytes, and the plain events.
type expected struct {
	tenants     map[string][2]int64
	plainEvents int64
}

func (e expected) add(id string, events, bytes int64) {
	t := e.tenants[id]
	e.tenants[id] = [2]int64{t[0] + events, t[1] + bytes}
}

// check compares the state with e.
func (e expected) check(sm *state) error {
	n, _, _ := sm.totals()
	if n != len(e.tenants) {
		return fmt.Errorf("the state holds %d tenants, want %d", n, len(e.tenants))
	}
	for id, t := range e.tenants {
		if ev, by := sm.tenantTotals(id); ev != t[0] || by != t[1] {
			return fmt.Errorf("tenant %s holds %d events of %d bytes, want %d of %d", id, ev, by, t[0], t[1])
		}
	}
	if got, _ := sm.plain(); got != e.plainEvents {
		return fmt.Errorf("the state holds %d plain events, want %d", got, e.plainEvents)
	}
	return nil
}

// parallel calls f(i) for every i in [0, n) from scaleWriters goroutines,
// and returns the first error.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range scaleWriters {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// tenantEvents returns tenant i's events: from minEvents to maxEvents of
// minEventBytes to maxEventBytes, printable, the same for a seed.
func tenantEvents(seed uint64, i int) [][]byte {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	evs := make([][]byte, minEvents+r.IntN(maxEvents-minEvents+1))
	for j := range evs {
		evs[j] = printable(r, minEventBytes+r.IntN(maxEventBytes-minEventBytes+1))
	}
	return evs
}

// changeEvent is the event that changes tenant i in the snapshot
// measurements.
func changeEvent(seed uint64, i int) []byte {
	r := rand.New(rand.NewPCG(seed, 1<<32|uint64(i)))
	return printable(r, minEventBytes+r.IntN(maxEventBytes-minEventBytes+1))
}

// printable returns n printable bytes from r (letters, digits, space,
// dot: nothing JSON escapes).
func printable(r *rand.Rand, n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ."
	b := make([]byte, n)
	var w uint64
	for i := range b {
		if i%10 == 0 {
			w = r.Uint64()
		}
		b[i] = alphabet[w&63]
		w >>= 6
	}
	return b
}

// heapAlloc returns the bytes of live heap objects after two collections.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// dirBytes sums the sizes of the files under dir.
func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			total += fi.Size()
		}
		return err
	})
	return total, err
}

// The snapshot repository's own prefixes (package snapshot's format):
// packs of chunks and tree blocks, index objects, manifests.
var repoPrefixes = []string{"data/", "index/", "snapshots/"}

// repoListing is the objects under repoPrefixes, name → size.
type repoListing map[string]int64

func listRepo(ctx context.Context, repo *snapshot.Repo) (repoListing, error) {
	l := repoListing{}
	for _, p := range repoPrefixes {
		objs, err := repo.ListObjects(ctx, p, "")
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if !o.IsDir {
				l[o.Name] = o.Size
			}
		}
	}
	return l, nil
}

// since counts the objects of l that before does not hold.
func (l repoListing) since(before repoListing) repoObjects {
	var o repoObjects
	for name, size := range l {
		if _, ok := before[name]; ok {
			continue
		}
		switch {
		case strings.HasPrefix(name, "data/"):
			o.packs++
			o.packBytes += size
		case strings.HasPrefix(name, "index/"):
			o.indexes++
			o.indexBytes += size
		case strings.HasPrefix(name, "snapshots/"):
			o.manifests++
			o.manifestBytes += size
		}
	}
	return o
}

// parseStream reads base snapshot id back from the repository and
// measures its parts: the tenant registry, the shared state, and the
// tenants' sealed sections (those of the tenants tagged changed apart).
// It reads the layout the root package documents on hostState and
// package tenant documents for the registry and the sections; no key
// is needed, since sections are skipped, not opened.
func parseStream(ctx context.Context, repo *snapshot.Repo, id snapshot.ID, changed map[tenant.Tag]bool) (streamParts, error) {
	var p streamParts
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := repo.Restore(ctx, id, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	defer func() {
		pr.CloseWithError(errors.New("stream parsed"))
		<-done
	}()
	cr := &countReader{r: bufio.NewReaderSize(pr, 1<<16)}

	// Registry: magic, count, then per entry state, tag, key ID and,
	// for a live entry, its key record (u32 length, bytes).
	var hdr [12]byte
	if _, err := io.ReadFull(cr, hdr[:]); err != nil {
		return p, err
	}
	if string(hdr[:8]) != tenant.SnapshotMagic {
		return p, fmt.Errorf("the stream does not start with %q", tenant.SnapshotMagic)
	}
	for range binary.LittleEndian.Uint32(hdr[8:]) {
		var e [25]byte
		if _, err := io.ReadFull(cr, e[:]); err != nil {
			return p, err
		}
		if e[0] == 0 {
			var l [4]byte
			if _, err := io.ReadFull(cr, l[:]); err != nil {
				return p, err
			}
			if _, err := io.CopyN(io.Discard, cr, int64(binary.LittleEndian.Uint32(l[:]))); err != nil {
				return p, err
			}
		}
	}
	p.registry = cr.n
	if _, err := io.Copy(io.Discard, tenant.NewPlainReader(cr)); err != nil {
		return p, err
	}
	p.shared = cr.n - p.registry
	for {
		at := cr.n
		tag, key, ok, err := tenant.ReadSectionHeader(cr)
		if err != nil {
			return p, err
		}
		if !ok {
			break
		}
		sr, err := tenant.NewSectionReader(cr, tag, key, nil)
		if err != nil {
			return p, err
		}
		if err := sr.Skip(); err != nil {
			return p, err
		}
		p.nSections++
		if changed[tag] {
			p.nChanged++
			p.changedSections += cr.n - at
		}
	}
	p.sections = cr.n - p.registry - p.shared
	if rest, err := io.Copy(io.Discard, cr); err != nil || rest != 0 {
		return p, fmt.Errorf("%d bytes after the sections (%v)", rest, err)
	}
	return p, nil
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
