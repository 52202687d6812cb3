package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// bencher runs the suites in the work directory root.
type bencher struct {
	settings
	root     string
	progress io.Writer
	nodes    int // nodes made so far, for their directory names
}

// nodeDir returns a new directory name for a node under root.
func (b *bencher) nodeDir(what string) string {
	b.nodes++
	return filepath.Join(b.root, fmt.Sprintf("%s-%03d", what, b.nodes))
}

// config is the nodes' Config: Dir, the default archive (Dir/archive,
// through localblob) and every default but these: no scheduled base
// snapshots and no scheduled Verify, so that nothing but what is measured
// runs beside it (the scale suite takes its snapshots itself), and the
// node's warnings go to the progress output. segmentBytes sets
// WAL.SegmentBytes (0: the default, 64 MiB).
func (b *bencher) config(dir string, segmentBytes int64) continuity.Config {
	return continuity.Config{
		Dir:                dir,
		SnapshotEvery:      -1,
		SnapshotEveryBytes: -1,
		VerifyEvery:        -1,
		WAL:                wal.Options{SegmentBytes: segmentBytes},
		Logger:             slog.New(slog.NewTextHandler(b.progress, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// appendRun is what one timed run of one way of appending measured.
type appendRun struct {
	eps      float64       // events appended per second (one event per call)
	mbps     float64       // their payload bytes per second, 10^6
	p50, p99 time.Duration // latency of one call
	// New WAL segments from the first warm-up to the end: zero-filled
	// (the spare, or a new file) or a file TruncateFront released.
	filled, recycled uint64
}

// way is a way of appending in the append suite.
type way int

const (
	wayPlain           way = iota // Append of events of the size
	waySealed                     // AppendTenant of events of the size
	wayPlainSealedSize            // Append of events of the size + sealedOverhead
)

// ways are the ways of appending, in the order of the report's columns.
var ways = []way{wayPlain, waySealed, wayPlainSealedSize}

func (w way) String() string {
	switch w {
	case wayPlain:
		return "Append"
	case waySealed:
		return "AppendTenant"
	case wayPlainSealedSize:
		return "Append of the sealed size"
	}
	return fmt.Sprintf("way(%d)", int(w))
}

// eventSize is the bytes of each event the way appends for events of
// size bytes: a sealed event's size for wayPlainSealedSize, so that the
// WAL and the archive take as many bytes per event as with AppendTenant.
func (w way) eventSize(size int) int {
	if w == wayPlainSealedSize {
		return size + sealedOverhead
	}
	return size
}

// appendOrders are the orders the ways take turns in, slice after slice
// (round after round with one slice a run): each way first, second and
// third once in every three, and over six each way right after each
// other way as often (the first three rotate one cyclic order, the next
// three the reverse one), so that none always follows another.
var appendOrders = [][]way{
	{wayPlain, waySealed, wayPlainSealedSize},
	{waySealed, wayPlainSealedSize, wayPlain},
	{wayPlainSealedSize, wayPlain, waySealed},
	{wayPlain, wayPlainSealedSize, waySealed},
	{wayPlainSealedSize, waySealed, wayPlain},
	{waySealed, wayPlain, wayPlainSealedSize},
}

// appendJob is one configuration of the append suite: every way of
// appending, run after run.
type appendJob struct {
	size, writers int
	plain, sealed []appendRun
	// plainSealedSize are the runs of wayPlainSealedSize.
	plainSealedSize []appendRun
}

// runs returns the runs of way w.
func (j *appendJob) runs(w way) *[]appendRun {
	switch w {
	case waySealed:
		return &j.sealed
	case wayPlainSealedSize:
		return &j.plainSealedSize
	}
	return &j.plain
}

// ratios are num ÷ den events/s, per round.
func ratios(num, den []appendRun) []float64 {
	var v []float64
	for i := range min(len(num), len(den)) {
		v = append(v, num[i].eps/den[i].eps)
	}
	return v
}

// ratios are AppendTenant ÷ Append events/s, per round: the issue's
// target.
func (j *appendJob) ratios() []float64 { return ratios(j.sealed, j.plain) }

// sealingRatios are AppendTenant ÷ Append of the sealed size events/s,
// per round: what sealing costs beyond its bytes.
func (j *appendJob) sealingRatios() []float64 { return ratios(j.sealed, j.plainSealedSize) }

// sealRun is the AES-256-GCM limit of one event size in one run.
type sealRun struct{ sealNs, openNs float64 }

// sealJob is the AES-256-GCM limit of one event size, run after run.
type sealJob struct {
	size int
	runs []sealRun
}

// appendSuite measures Append against AppendTenant, and against Append
// of events of the sealed size, for every size and number of writers,
// and AES-256-GCM alone for every size, round by round. A round opens
// one fresh node per way and drives them in turn, a slice at a time
// (see driveRound).
func (b *bencher) appendSuite(ctx context.Context) ([]*appendJob, []*sealJob, error) {
	var jobs []*appendJob
	var seals []*sealJob
	for _, size := range b.sizes {
		for _, w := range b.writers {
			jobs = append(jobs, &appendJob{size: size, writers: w})
		}
		seals = append(seals, &sealJob{size: size})
	}
	for round := range b.runs {
		for _, j := range jobs {
			got, err := b.driveRound(ctx, j.size, j.writers, round)
			if err != nil {
				return nil, nil, fmt.Errorf("append %s × %d writers: %w", sizeName(j.size), j.writers, err)
			}
			for _, w := range ways {
				runs := j.runs(w)
				*runs = append(*runs, got[w])
				fmt.Fprintf(b.progress, "tenantbench: round %d/%d: %s × %d writers, %v: %s events/s (new WAL segments: %d zero-filled, %d recycled)\n",
					round+1, b.runs, sizeName(j.size), j.writers, w, benchkit.Sig3(got[w].eps), got[w].filled, got[w].recycled)
			}
		}
		for _, j := range seals {
			j.runs = append(j.runs, sealAlone(j.size, min(b.duration, 500*time.Millisecond)))
		}
	}
	return jobs, seals, nil
}

// driveRound measures every way once: it opens a fresh node per way,
// warms each up for b.warmup, then drives each node for b.duration in
// b.slices slices, the ways taking turns slice by slice (the order
// rotating through appendOrders), so that the ways of a round see the
// machine within seconds of each other: its disk's fdatasync times drift
// by more than sealing costs over the tens of seconds a round of whole
// runs took. Before the next node's slice, the node just driven has
// applied, archived and flushed all it appended (settle): none works in
// another's slice.
func (b *bencher) driveRound(ctx context.Context, size, writers, round int) (map[way]appendRun, error) {
	nodes := map[way]*appendNode{}
	defer func() {
		for _, an := range nodes {
			an.close()
		}
	}()
	for _, w := range ways {
		an, err := b.openAppendNode(ctx, size, writers, w)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", w, err)
		}
		nodes[w] = an
	}
	// Every node warms up first (its first segment, its first seal), in
	// turn, so that no measured slice runs on a disk the others have left
	// idle: at 4 KiB × 64 writers the first slice after a quiet spell ran
	// 30% faster than the rest.
	for _, w := range appendOrders[round%len(appendOrders)] {
		if err := nodes[w].warm(ctx, b.warmup); err != nil {
			return nil, fmt.Errorf("%v: %w", w, err)
		}
	}
	slice := b.duration / time.Duration(b.slices)
	for s := range b.slices {
		// The order moves on by one from slice to slice, and the first
		// way with the round.
		for _, w := range appendOrders[(round+s)%len(appendOrders)] {
			if err := nodes[w].drive(ctx, b.warmup/10, slice); err != nil {
				return nil, fmt.Errorf("%v: %w", w, err)
			}
		}
	}
	got := map[way]appendRun{}
	for _, w := range ways {
		r, err := nodes[w].finish()
		if err != nil {
			return nil, fmt.Errorf("%v: %w", w, err)
		}
		got[w] = r
	}
	return got, nil
}

// appendNode is one way's node in a round, and what its slices counted.
type appendNode struct {
	n        *continuity.Node
	sm       *state
	dir      string
	sealed   bool
	size     int // bytes of each event appended
	ids      []string
	rings    [][]byte
	offs     []int
	calls    []int64           // per writer, warm-ups too: what the state must hold
	lats     [][]time.Duration // per writer, of the calls counted
	measured time.Duration     // the slices' windows, summed
	opened   wal.Stats         // the WAL's counters once the node is aged
	fillers  int64             // plain events of ageFillerBytes that age appended
}

// ageFillerBytes is the size of age's filler events: zeros, which the
// archive stores compressed to almost nothing.
const ageFillerBytes = 256 << 10

// openAppendNode opens a fresh node for way w and creates one tenant
// per writer (in every way, so that the nodes differ only in how they
// are appended to). Each writer appends an event of w.eventSize(size)
// bytes per call, every call other bytes (a window moving over a random
// ring of its own, larger than lz4's 64 KiB window, so that no event
// repeats one the archive just compressed: sealed events never repeat,
// and a repeated plain one would compress to nothing in the archive).
func (b *bencher) openAppendNode(ctx context.Context, size, writers int, w way) (*appendNode, error) {
	an := &appendNode{dir: b.nodeDir("append"), sealed: w == waySealed, size: w.eventSize(size), sm: newState(false)}
	n, err := continuity.Open(ctx, b.config(an.dir, 0), an.sm)
	if err != nil {
		os.RemoveAll(an.dir)
		return nil, err
	}
	an.n = n
	an.ids = make([]string, writers)
	an.rings = make([][]byte, writers)
	an.offs = make([]int, writers)
	an.calls = make([]int64, writers)
	an.lats = make([][]time.Duration, writers)
	ringBytes := max(256<<10, 64*an.size)
	for i := range writers {
		an.ids[i] = fmt.Sprintf("writer-%04d", i)
		if err := n.CreateTenant(ctx, an.ids[i], continuity.TenantOptions{}); err != nil {
			an.close()
			return nil, err
		}
		an.rings[i] = randomBytes(rand.New(rand.NewPCG(b.seed, uint64(i))), ringBytes)
	}
	if err := an.age(ctx); err != nil {
		an.close()
		return nil, fmt.Errorf("age the node's WAL: %w", err)
	}
	an.opened = n.Log().Stats()
	return an, nil
}

// age brings the node's WAL to where a running node's is: it appends
// filler until the log has started its second segment, then settles,
// which releases the first. The next new segment then reuses that file,
// as every new segment of a node whose host keeps its WAL trimmed does,
// instead of the spare zero-filled when the node opened, whose
// replacement would be zero-filled beside the measured writers. (The
// replacement for the spare this roll took is filled now, during the
// other nodes' ageing and the warm-ups.)
func (an *appendNode) age(ctx context.Context) error {
	zeros := make([]byte, ageFillerBytes)
	batch := make([][]byte, 16)
	for i := range batch {
		batch[i] = zeros
	}
	for an.n.Log().Stats().Segments < 2 {
		if _, _, err := an.n.Append(ctx, batch...); err != nil {
			return err
		}
		an.fillers += int64(len(batch))
	}
	return an.settle(ctx)
}

// warm drives the node for d, counting nothing but its calls (the state
// must hold them).
func (an *appendNode) warm(ctx context.Context, d time.Duration) error {
	if err := an.drive(ctx, 0, max(d, time.Millisecond)); err != nil {
		return err
	}
	an.measured = 0
	for i := range an.lats {
		an.lats[i] = an.lats[i][:0]
	}
	return nil
}

// drive runs one slice: one closed-loop goroutine per writer, each
// calling Append, or AppendTenant of its tenant, in a benchkit.Loop.
// Then it waits until the node has applied and archived everything.
func (an *appendNode) drive(ctx context.Context, warmup, d time.Duration) error {
	runtime.GC()
	win, err := benchkit.Loop{
		Writers: len(an.ids), Warmup: warmup, Duration: d,
		Call: func(i int) error {
			event := an.rings[i][an.offs[i] : an.offs[i]+an.size]
			an.offs[i] = (an.offs[i] + 8191) % (len(an.rings[i]) - an.size)
			var err error
			if an.sealed {
				_, _, err = an.n.AppendTenant(ctx, an.ids[i], event)
			} else {
				_, _, err = an.n.Append(ctx, event)
			}
			if err == nil {
				an.calls[i]++
			}
			return err
		},
		Counted: func(i int, began, returned time.Time) {
			an.lats[i] = append(an.lats[i], returned.Sub(began))
		},
	}.Run(ctx)
	if err != nil {
		return err
	}
	an.measured += win.Elapsed
	return an.settle(ctx)
}

// settle waits until the node's state has applied, and its archive
// holds, the last record in its log; then releases the WAL's archived
// segments, as a host's retention does; and waits until the file
// systems hold what it wrote.
func (an *appendNode) settle(ctx context.Context) error {
	last := an.n.Log().Last()
	if err := an.n.WaitFor(ctx, last); err != nil {
		return err
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for an.n.Status().Archive.Archived < last {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// A running node's WAL is kept to what its host still needs: the
	// next segment reuses a released file (wal/recycle.go), where a new
	// node's log zero-fills 64 MiB beside the writers, more often the more
	// bytes each event takes. TruncateFront keeps the last segment.
	if err := an.n.Log().TruncateFront(last); err != nil {
		return fmt.Errorf("release the archived WAL: %w", err)
	}
	// And nothing it wrote is left for the kernel to write back during
	// the next slice (a new WAL segment's zeros, the archive's files).
	benchkit.SyncFileSystems()
	return nil
}

// finish checks that the state holds every event appended, and their
// bytes, closes the node and returns what its slices measured.
func (an *appendNode) finish() (appendRun, error) {
	var total int64
	for _, c := range an.calls {
		total += c
	}
	var got, gotBytes int64
	if an.sealed {
		_, got, gotBytes = an.sm.totals()
	} else { // the filler is plain too
		got, gotBytes = an.sm.plain()
		got, gotBytes = got-an.fillers, gotBytes-an.fillers*ageFillerBytes
	}
	if got != total || gotBytes != total*int64(an.size) {
		return appendRun{}, fmt.Errorf("the state holds %d events of %d bytes, %d of %d bytes each were appended", got, gotBytes, total, an.size)
	}
	var all []time.Duration
	for _, l := range an.lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	st := an.n.Log().Stats()
	sec := an.measured.Seconds()
	r := appendRun{
		eps:      float64(len(all)) / sec,
		mbps:     float64(len(all)) * float64(an.size) / sec / 1e6,
		p50:      benchkit.Percentile(all, 0.50),
		p99:      benchkit.Percentile(all, 0.99),
		filled:   st.Filled - an.opened.Filled,
		recycled: st.Recycled - an.opened.Recycled,
	}
	if err := an.close(); err != nil {
		return appendRun{}, err
	}
	return r, nil
}

// close closes the node, once, and removes its directory.
func (an *appendNode) close() error {
	if an.n == nil {
		return nil
	}
	err := an.n.Close()
	an.n = nil
	os.RemoveAll(an.dir)
	return err
}

// sealAlone measures AES-256-GCM (crypto/cipher, a fixed key) sealing and
// opening one event of size bytes, with a sealHeader-byte header as
// additional data and a counter nonce, as a sealed event is: each for
// about d, in this goroutine. It returns ns per event.
func sealAlone(size int, d time.Duration) sealRun {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 1)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	event := randomBytes(rand.New(rand.NewPCG(uint64(size), 7)), size)
	ad := make([]byte, sealHeader)
	dst := make([]byte, 0, size+aead.Overhead())
	var nonce [12]byte
	loop := func(op func(i uint64)) float64 {
		start := time.Now()
		var i uint64
		for {
			for range 64 {
				op(i)
				i++
			}
			if el := time.Since(start); el >= d {
				return float64(el.Nanoseconds()) / float64(i)
			}
		}
	}
	var r sealRun
	r.sealNs = loop(func(i uint64) {
		binary.LittleEndian.PutUint64(nonce[:], i)
		dst = aead.Seal(dst[:0], nonce[:], event, ad)
	})
	binary.LittleEndian.PutUint64(nonce[:], 1)
	sealed := aead.Seal(nil, nonce[:], event, ad)
	out := make([]byte, 0, size)
	r.openNs = loop(func(uint64) {
		var err error
		if out, err = aead.Open(out[:0], nonce[:], sealed, ad); err != nil {
			panic(errors.New("an event sealed here does not open"))
		}
	})
	return r
}

// sealedOverhead is what sealing adds to most of a run's events: a node's
// first generation (epoch 1, an LSN below 128) and a counter from 16,384
// to about 2 million, each number a varint (package tenant). Runs of a few
// seconds seal about that many events per node.
var sealedOverhead = tenant.Overhead(tenant.Generation{Epoch: 1, LSN: 100}, 1<<20)

// sealHeader is the clear header of such a sealed event, its additional
// data (version, tag, key ID, generation, counter).
var sealHeader = sealedOverhead - gcmTag

// randomBytes returns n bytes from r: incompressible, the same for a
// seed.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// sizeName formats a byte count as 128 B, 4 KiB or 1 MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
