package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// Issue 20's targets.
const (
	// targetSealedRatio: AppendTenant keeps at least 0.95 of Append's
	// events/s, at 1 and at 64 writers.
	targetSealedRatio = 0.95
	// targetSnapshotRatio: a base snapshot after 1% of the tenants
	// changed stores at most 1.2 times the changed tenants' bytes.
	targetSnapshotRatio = 1.2
)

// targetWriters are the writer counts the sealed-ratio target names.
var targetWriters = []int{1, 64}

// gcmTag is the bytes AES-GCM adds to each sealed chunk in a pack.
const gcmTag = 16

// results are everything measured, for the report.
type results struct {
	appends []*appendJob
	seals   []*sealJob
	scale   *scaleResult
}

func ms(d time.Duration) float64   { return float64(d) / float64(time.Millisecond) }
func secs(d time.Duration) float64 { return d.Seconds() }
func mb(n int64) string            { return benchkit.Sig3(float64(n) / 1e6) }
func bytesOf(n int64) string       { return benchkit.Thousands(n) }

// renderReport formats the results as Markdown.
func renderReport(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/tenantbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd)
	rows := append(sys.Facts(),
		[]string{"Node", "continuity.Open with Config{Dir} in the work directory, on the file system above: the WAL in Dir/wal (every Append durable: one write and one fdatasync per group commit), the default archive Dir/archive through localblob (ShipInterval 1 s); scheduled base snapshots and Verify off (the scale suite takes its snapshots itself); in the append suite the host's retention: after each slice, Log().TruncateFront of what the archive holds"},
		sys.Load(),
		[]string{"Runs", runsText(s, res)},
	)
	benchkit.Table(&b, []string{"", ""}, rows)
	if len(res.appends) > 0 {
		renderAppends(&b, s, sys, res)
	}
	if res.scale != nil {
		renderScale(&b, s, res.scale)
	}
	renderTargets(&b, s, res)
	return b.String()
}

func runsText(s settings, res *results) string {
	var parts []string
	if len(res.appends) > 0 {
		parts = append(parts, fmt.Sprintf("append: %d rounds, each configuration once per round, Append, AppendTenant and Append of the sealed size each on a fresh node, %v each after a %v warm-up, %s; AES-256-GCM alone for %v per size per round", s.runs, s.duration, s.warmup, slicesText(s), min(s.duration, 500*time.Millisecond)))
	}
	if res.scale != nil {
		parts = append(parts, fmt.Sprintf("scale: one node of %s tenants (seed %d); creation, fill and snapshots once, %d restarts of each kind", benchkit.Thousands(int64(s.tenants)), s.seed, s.runs))
	}
	parts = append(parts, "cells are median (min–max) over the runs")
	return strings.Join(parts, "; ")
}

// slicesText says how the ways of a round take turns.
func slicesText(s settings) string {
	if s.slices == 1 {
		return "warmed up in turn, then driven one after the other (their order rotates from round to round)"
	}
	return fmt.Sprintf("the three nodes open together, warmed up in turn, then driven in turn, %d slices of %v each (their order rotates from slice to slice and round to round; %v warm-up before each slice; each node has applied, archived and flushed all it took, and released its archived WAL segments, before the next slice or warm-up starts)", s.slices, s.duration/time.Duration(s.slices), s.warmup/10)
}

func renderAppends(b *strings.Builder, s settings, sys benchkit.System, res *results) {
	b.WriteString("\n#### Append and AppendTenant: events/s\n\n")
	sealedSize := fmt.Sprintf("%v (+%d B)", wayPlainSealedSize, sealedOverhead)
	var rows [][]string
	for _, j := range res.appends {
		eps := func(runs []appendRun) string {
			return benchkit.RangeOf(benchkit.StatBy(runs, func(r appendRun) float64 { return r.eps }), benchkit.Sig3)
		}
		mbps := func(runs []appendRun) string {
			return benchkit.RangeOf(benchkit.StatBy(runs, func(r appendRun) float64 { return r.mbps }), benchkit.Sig3)
		}
		lat := func(runs []appendRun, q func(appendRun) time.Duration) string {
			return benchkit.RangeOf(benchkit.StatBy(runs, func(r appendRun) float64 { return ms(q(r)) }), benchkit.Sig3)
		}
		p50 := func(r appendRun) time.Duration { return r.p50 }
		p99 := func(r appendRun) time.Duration { return r.p99 }
		rows = append(rows, []string{sizeName(j.size), fmt.Sprint(j.writers),
			eps(j.plain), eps(j.sealed), eps(j.plainSealedSize),
			benchkit.RangeOf(benchkit.StatOf(j.ratios()), benchkit.Ratio),
			benchkit.RangeOf(benchkit.StatOf(j.sealingRatios()), benchkit.Ratio),
			mbps(j.plain), mbps(j.sealed),
			lat(j.plain, p50), lat(j.sealed, p50), lat(j.plain, p99), lat(j.sealed, p99),
		})
	}
	benchkit.Table(b, []string{"event", "writers", "Append events/s", "AppendTenant events/s", sealedSize + " events/s", "AppendTenant ÷ Append", "AppendTenant ÷ " + sealedSize, "Append MB/s", "AppendTenant MB/s", "Append p50 ms", "AppendTenant p50 ms", "Append p99 ms", "AppendTenant p99 ms"}, rows)
	fmt.Fprintf(b, "\nEach writer is a goroutine calling Append (plain) or AppendTenant (its own tenant, created before the warm-up) with one event per call, every call other bytes (a window moving over a random ring of its own, from a seeded PCG generator, larger than lz4's 64 KiB window: a repeated plain event would compress to nothing in the archive, which sealed events never do) in a closed loop; events/s count the calls that returned during the run. Each run is a fresh node whose state machine counts what it applies; after the run the state must hold every event appended. AppendTenant ÷ Append: the ratio of the two events/s in the same round (median and range over the rounds). MB/s: payload bytes, 10^6; a sealed event also carries %d bytes of header and %d of AES-GCM tag in the WAL and the archive. p50, p99: latency of one call.\n",
		sealHeader, gcmTag)
	fmt.Fprintf(b, "\n%[1]s: plain Append of events %[2]d bytes longer than the row's size, as long as most sealed events AppendTenant writes (tenant.Overhead of a node's first generation, counters from 16,384 to 2 million), from the same generator, on a node like the others and with the same check: the WAL and the archive take as many bytes per event as with AppendTenant, and nothing is sealed. AppendTenant ÷ %[3]v, per round like AppendTenant ÷ Append, is thus what sealing costs beyond its bytes: on the writer the tenant's key lookup, its counter and the AES-GCM seal; on the node's applier the open. Per round, AppendTenant ÷ Append = (AppendTenant ÷ %[3]v) × (%[3]v ÷ Append): the second factor, by which the two ratios differ, is what the %[2]d bytes per event cost through the WAL's writes and fdatasyncs and the archive. The issue's target stays AppendTenant ÷ Append, at the same payload size.\n",
		sealedSize, sealedOverhead, wayPlainSealedSize)
	fmt.Fprintf(b, "\nThe WAL as a running node's: before its warm-up each node appends filler (256 KiB events of zeros) until its log starts a second segment, and after every slice releases what the archive holds (Log().TruncateFront of the last record, as a host's retention does), so that a new segment reuses a released file (wal/recycle.go). A new node's log instead takes the spare it zero-filled at Open and zero-fills the next 64 MiB beside the writers, the sooner the more bytes each event takes. New WAL segments from the warm-ups to the end, over all rounds: %s.\n", segmentsText(res.appends))

	b.WriteString("\n#### The machine's limit: AES-256-GCM alone, same run\n\n")
	rows = nil
	for _, sj := range res.seals {
		seal := benchkit.StatBy(sj.runs, func(r sealRun) float64 { return r.sealNs })
		open := benchkit.StatBy(sj.runs, func(r sealRun) float64 { return r.openNs })
		for _, j := range res.appends {
			if j.size != sj.size {
				continue
			}
			plainNs := 1e9 / benchkit.StatBy(j.plain, func(r appendRun) float64 { return r.eps }).Med
			rows = append(rows, []string{sizeName(sj.size),
				benchkit.RangeOf(seal, benchkit.Sig3),
				benchkit.RangeOf(benchkit.Stat{Med: float64(sj.size) * 1e3 / seal.Med, Lo: float64(sj.size) * 1e3 / seal.Hi, Hi: float64(sj.size) * 1e3 / seal.Lo}, benchkit.Sig3),
				benchkit.RangeOf(open, benchkit.Sig3),
				fmt.Sprint(j.writers),
				benchkit.Sig3(plainNs),
				pct(100 * seal.Med / plainNs),
			})
		}
	}
	benchkit.Table(b, []string{"event", "seal ns/event", "seal MB/s", "open ns/event", "writers", "plain Append ns/event", "seal ÷ plain Append's time per event"}, rows)
	fmt.Fprintf(b, "\nseal: crypto/cipher AES-256-GCM (crypto/aes, a fixed key) sealing one event in a loop in one goroutine, with a %d-byte header as additional data and a counter nonce, into a reused buffer: what tenant.Seal does per event without its allocation, its header and its key lookup; open: the same event opened, as the node's applier does to each sealed event before ApplyTenant. plain Append ns/event: 10^9 ÷ Append's median events/s at that many writers (at 1 writer the latency of a call; at 64 the node's time per event, its writers sharing the %d CPUs). seal ÷ plain Append's time: what sealing alone adds to a plain event's time if nothing overlaps it; AppendTenant ÷ Append can be no better than about 1 ÷ (1 + seal share + open share) when the CPUs are the limit.\n",
		sealHeader, sys.CPUs)
}

func renderScale(b *strings.Builder, s settings, r *scaleResult) {
	fmt.Fprintf(b, "\n#### Scale: %s tenants on one node\n\n", benchkit.Thousands(int64(r.tenants)))
	if r.tenants != defaultTenants {
		fmt.Fprintf(b, "Scaled down from the issue's %s tenants (-tenants%s).\n\n", benchkit.Thousands(defaultTenants), quickNote(s))
	}
	n := float64(r.tenants)
	benchkit.Table(b, []string{"tenants", "events", "event MB", "state MB (Σ SnapshotTenant)", "create s", "create ms/tenant", "fill s", "fill events/s", "WAL records", "WAL MB on disk"}, [][]string{{
		benchkit.Thousands(int64(r.tenants)), benchkit.Thousands(r.events), mb(r.eventBytes), mb(r.stateBytes),
		benchkit.Sig3(secs(r.create)), benchkit.Sig3(ms(r.create) / n),
		benchkit.Sig3(secs(r.fill)), benchkit.Sig3(float64(r.events) / secs(r.fill)),
		benchkit.Thousands(int64(r.walRecords)), mb(r.walBytes),
	}})
	fmt.Fprintf(b, "\nEach tenant has %d to %d events of %d to %d printable bytes, drawn from the seed; its state is the JSON of its events (SnapshotTenant). create: CreateTenant of every tenant from %d goroutines (the node creates one tenant at a time: the key's slot written to the archive, a copy on the node, each fsynced, and a key record appended and applied). fill: one AppendTenant per tenant with all its events, from %d goroutines, until the state has applied them. WAL segments of %s (see the restarts).\n",
		minEvents, maxEvents, minEventBytes, maxEventBytes, scaleWriters, scaleWriters, sizeName(scaleSegmentBytes))

	b.WriteString("\n##### Restarts\n\n")
	restartRow := func(name string, runs []restartRun, read string) []string {
		return []string{name,
			benchkit.RangeOf(benchkit.StatBy(runs, func(r restartRun) float64 { return secs(r.open) }), benchkit.Sig3),
			benchkit.RangeOf(benchkit.StatBy(runs, func(r restartRun) float64 { return secs(r.caughtUp) }), benchkit.Sig3),
			read}
	}
	var snapBytes int64
	if len(r.snaps) > 0 {
		snapBytes = r.snaps[len(r.snaps)-1].stats.BytesIn
	}
	benchkit.Table(b, []string{"restart", "Open returned s", "state caught up s", "what the node read"}, [][]string{
		restartRow("WAL replayed from LSN 1", r.replay, fmt.Sprintf("%s records from the WAL", benchkit.Thousands(int64(r.walRecords)))),
		restartRow("from the base snapshot (WAL truncated past it)", r.fromSnap, fmt.Sprintf("the base snapshot at LSN %s (%s MB), then %s filler records from the archive and %s from the WAL",
			benchkit.Thousands(int64(r.snapLSN)), mb(snapBytes), benchkit.Thousands(int64(r.truncatedTo-r.snapLSN-1)), benchkit.Thousands(int64(r.lastLSN-r.truncatedTo+1)))),
	})
	fmt.Fprintf(b, "\nEach restart opens the node's directory with a fresh state machine: Open returned is continuity.Open's time; state caught up adds WaitFor(Log().Last()), the applier having applied the rest of the WAL in the background (with the WAL from LSN 1, all of it: every key record loads its tenant's key from the node's copy of the key slot, every sealed event is opened). Both must then hold every tenant's events. Before the second kind, the node took its base snapshots (below), appended %s plain filler events of %s until the WAL started a new segment (TruncateFront drops whole segments, and Open restores a base snapshot only at or before the WAL's first LSN − 1), waited for the archive to hold them and called Log().TruncateFront(%s); Open then restores the snapshot (the tenant registry, loading every key, and each tenant's section), replays the fillers from the archive, and the applier the WAL's tail.\n",
		benchkit.Thousands(int64(r.fillers)), sizeName(fillerBytes), benchkit.Thousands(int64(r.truncatedTo)))

	b.WriteString("\n##### Heap in use per tenant\n\n")
	heapRow := func(name string, hs []heapPoint) []string {
		total := benchkit.StatBy(hs, func(h heapPoint) float64 { return (float64(h.open) - float64(r.heapBase)) / n })
		sm := benchkit.StatBy(hs, func(h heapPoint) float64 { return (float64(h.stateOnly) - float64(h.none)) / n })
		node := benchkit.StatBy(hs, func(h heapPoint) float64 {
			return (float64(h.open) - float64(r.heapBase) - (float64(h.stateOnly) - float64(h.none))) / n
		})
		return []string{name, benchkit.RangeOf(total, benchkit.Sig3), benchkit.RangeOf(sm, benchkit.Sig3), benchkit.RangeOf(node, benchkit.Sig3)}
	}
	heaps := func(runs []restartRun) []heapPoint {
		var hs []heapPoint
		for _, x := range runs {
			hs = append(hs, x.heap)
		}
		return hs
	}
	benchkit.Table(b, []string{"node", "heap B per tenant", "of it the state machine's", "of it the node's (registry, keys)"}, [][]string{
		heapRow("restarted, WAL replayed", heaps(r.replay)),
		heapRow("the same after base snapshots", []heapPoint{r.snapHeap}),
		heapRow("restarted from the base snapshot", heaps(r.fromSnap)),
	})
	fmt.Fprintf(b, "\nruntime.MemStats.HeapAlloc after two runtime.GC: with the node open and every tenant loaded, less the same for the node open holding no tenant (%s MB, before the tenants were created), ÷ %s tenants. The state machine's part: the heap after Close with the state machine still referenced, less the heap once it is dropped too. The node's part is the rest. The tenants' events are %s bytes each on average (%s MB in all), held by the state machine as Go strings.\n",
		mb(int64(r.heapBase)), benchkit.Thousands(int64(r.tenants)), benchkit.Sig3(float64(r.eventBytes)/n), mb(r.eventBytes))

	b.WriteString("\n##### Base snapshots\n\n")
	var rows [][]string
	for i, sn := range r.snaps {
		changed, ratio, newRatio := "—", "—", "—"
		if sn.changed > 0 {
			changed = bytesOf(sn.changedBytes)
			ratio = benchkit.Ratio(float64(sn.stats.StoredBytes) / float64(sn.changedBytes))
			newRatio = benchkit.Ratio(float64(sn.stats.NewBytes) / float64(sn.changedBytes))
		}
		rows = append(rows, []string{fmt.Sprintf("%d: %s", i+1, sn.what), benchkit.Thousands(int64(sn.changed)), changed,
			bytesOf(sn.stats.BytesIn), benchkit.Thousands(sn.stats.Chunks), benchkit.Thousands(sn.stats.ChunksNew),
			bytesOf(sn.stats.NewBytes), bytesOf(sn.stats.StoredBytes), ratio, newRatio, benchkit.Sig3(secs(sn.stats.Duration))})
	}
	benchkit.Table(b, []string{"snapshot", "tenants changed", "changed tenants' bytes", "BytesIn", "chunks", "chunks new", "NewBytes", "StoredBytes", "StoredBytes ÷ changed", "NewBytes ÷ changed", "Save s"}, rows)
	b.WriteString("\nNode.Snapshot, one after the other on the node restarted above; each row is from Status().Archive.SnapshotStats. A change appends one event to a tenant; the tenants changed are drawn from the seed. changed tenants' bytes: the sum of those tenants' SnapshotTenant sizes after the change (the JSON of all their events, not only the new one). BytesIn: the stream the node wrote (the tenant registry, the shared state, each tenant's sealed section; each a part chunked on its own). NewBytes: plaintext bytes of chunks the repository did not hold; StoredBytes: what the Save wrote (packs, index, manifest).\n")

	if len(r.snaps) >= 2 {
		renderWhere(b, r)
	}
}

// renderWhere breaks down the bytes of the snapshots after the first.
func renderWhere(b *strings.Builder, r *scaleResult) {
	b.WriteString("\n##### Where the stored bytes went\n\n")
	snaps := r.snaps[1:]
	head := []string{"bytes"}
	for i, sn := range snaps {
		head = append(head, fmt.Sprintf("%d: %s", i+2, sn.what))
	}
	row := func(name string, f func(snapResult) string) []string {
		out := []string{name}
		for _, sn := range snaps {
			out = append(out, f(sn))
		}
		return out
	}
	chunksSealed := func(sn snapResult) int64 { return sn.stats.NewBytes + gcmTag*sn.stats.ChunksNew }
	rows := [][]string{
		row("packs written (objects)", func(sn snapResult) string { return fmt.Sprint(sn.objects.packs) }),
		row("packs, bytes", func(sn snapResult) string { return bytesOf(sn.objects.packBytes) }),
		row("… new chunks as sealed (NewBytes + 16 B each)", func(sn snapResult) string { return bytesOf(chunksSealed(sn)) }),
		row("… the rest: tree blocks, pack headers and trailers", func(sn snapResult) string { return bytesOf(sn.objects.packBytes - chunksSealed(sn)) }),
		row("index objects", func(sn snapResult) string { return bytesOf(sn.objects.indexBytes) }),
		row("manifest", func(sn snapResult) string { return bytesOf(sn.objects.manifestBytes) }),
		row("all new objects", func(sn snapResult) string {
			return bytesOf(sn.objects.packBytes + sn.objects.indexBytes + sn.objects.manifestBytes)
		}),
		row("StoredBytes (Stats)", func(sn snapResult) string { return bytesOf(sn.stats.StoredBytes) }),
		row("the chunk list: chunks × 32 B", func(sn snapResult) string { return bytesOf(32 * sn.stats.Chunks) }),
		row("changed tenants' bytes (Σ SnapshotTenant)", func(sn snapResult) string {
			if sn.changed == 0 {
				return "—"
			}
			return bytesOf(sn.changedBytes)
		}),
	}
	benchkit.Table(b, head, rows)
	p := r.stream
	fmt.Fprintf(b, "\nNew objects in the repository's data/ (packs), index/ and snapshots/ after each Save, from a listing before and after. Each new chunk is sealed (AES-256-GCM, %d bytes of tag) into a pack; tree blocks (the snapshot's chunk list cut into blocks of about 8 chunk IDs of 32 bytes, at content-defined places, and the blocks above them) go into the Save's own pack, so the rest of the packs is the new tree blocks plus each pack's header and trailer. The chunk list row is what the tree blocks weigh if every block is rewritten.\n",
		gcmTag)
	fmt.Fprintf(b, "\nThe stream of snapshot 2, read back with snapshot.Repo.Restore and split along the layout the node writes: the tenant registry %s bytes (one entry and key record per tenant), the shared state %s bytes, %s tenant sections %s bytes (%s bytes on average), of which the %s changed tenants' %s bytes (sealed: each chunk of a section carries a 16-byte tag and a 12-byte nonce, each section a 25-byte header and an end marker).\n",
		bytesOf(p.registry), bytesOf(p.shared), benchkit.Thousands(int64(p.nSections)), bytesOf(p.sections), benchkit.Sig3(float64(p.sections)/float64(max(1, p.nSections))),
		benchkit.Thousands(int64(p.nChanged)), bytesOf(p.changedSections))
}

func renderTargets(b *strings.Builder, s settings, res *results) {
	b.WriteString("\n#### Targets\n\n")
	var rows [][]string
	met, total := 0, 0
	verdict := func(ok bool) string {
		total++
		if ok {
			met++
			return "yes"
		}
		return "no"
	}
	for _, j := range res.appends {
		if !slices.Contains(targetWriters, j.writers) {
			continue
		}
		st := benchkit.StatOf(j.ratios())
		rows = append(rows, []string{
			fmt.Sprintf("%s events, %d writer%s: AppendTenant ≥ %.2f × Append events/s (median of the rounds)", sizeName(j.size), j.writers, plural(j.writers), targetSealedRatio),
			benchkit.RangeOf(st, benchkit.Ratio), verdict(st.Med >= targetSealedRatio),
			fmt.Sprintf("`go run ./cmd/tenantbench -suites append -writers %d -sizes %d`", j.writers, j.size),
		})
		rows = append(rows, []string{
			fmt.Sprintf("%s events, %d writer%s, not a target: AppendTenant ÷ %v (+%d B) events/s, what sealing costs beyond its bytes (median of the rounds)", sizeName(j.size), j.writers, plural(j.writers), wayPlainSealedSize, sealedOverhead),
			benchkit.RangeOf(benchkit.StatOf(j.sealingRatios()), benchkit.Ratio), "—",
			fmt.Sprintf("`go run ./cmd/tenantbench -suites append -writers %d -sizes %d`", j.writers, j.size),
		})
	}
	if r := res.scale; r != nil && len(r.snaps) >= 2 {
		sn := r.snaps[1]
		ratio := float64(sn.stats.StoredBytes) / float64(sn.changedBytes)
		rows = append(rows, []string{
			fmt.Sprintf("base snapshot after 1%% of %s tenants changed: StoredBytes ≤ %.1f × the changed tenants' bytes", benchkit.Thousands(int64(r.tenants)), targetSnapshotRatio),
			fmt.Sprintf("%s (%s B ÷ %s B)", benchkit.Ratio(ratio), bytesOf(sn.stats.StoredBytes), bytesOf(sn.changedBytes)), verdict(ratio <= targetSnapshotRatio),
			"`go run ./cmd/tenantbench -suites scale`",
		})
	}
	benchkit.Table(b, []string{"target", "measured", "met?", "measured alone by"}, rows)
	fmt.Fprintf(b, "\n%d of %d target checks met. Each row's command measures it alone with the defaults (this run's arguments are in the header).\n", met, total)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// pct formats a percentage with three significant digits.
func pct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return benchkit.Sig3(v) + "%"
}

func quickNote(s settings) string {
	if s.quick {
		return ", -quick"
	}
	return ""
}

// segmentsText says, per way, how many new WAL segments the nodes
// zero-filled and how many reused a released file, over every
// configuration and round.
func segmentsText(jobs []*appendJob) string {
	var parts []string
	for _, w := range ways {
		var filled, recycled uint64
		for _, j := range jobs {
			for _, r := range *j.runs(w) {
				filled += r.filled
				recycled += r.recycled
			}
		}
		parts = append(parts, fmt.Sprintf("%v %d zero-filled, %d recycled", w, filled, recycled))
	}
	return strings.Join(parts, "; ")
}
