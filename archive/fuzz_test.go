package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// seedSegments returns encoded WAL objects (prefix || body) of a few
// shapes: one record, many small compressible ones, random payloads;
// each as version 3 and as version 4 (opaque tails).
func seedSegments() [][]byte {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out [][]byte
	for _, shape := range [][]int{{0}, {5, 5, 5}, {300, 1, 0, 70}} {
		var recs []wal.Record
		for i, n := range shape {
			data := bytes.Repeat([]byte{byte('a' + i)}, n)
			recs = append(recs, wal.Record{LSN: wal.LSN(40 + i), Epoch: uint64(i / 2), Time: base.Add(time.Duration(i) * time.Millisecond), Kind: wal.Kind(i % 3), Data: data})
		}
		// Each shape also as version 4, of epoch 3: every record's second
		// half opaque.
		for k, enc := range []*segEncoder{nil, {opaque: func(r wal.Record) int { return len(r.Data) / 2 }}} {
			seg, err := encodeSegment(uint64(2+k), chainHash{byte(len(shape))}, recs, enc)
			if err != nil {
				panic(err)
			}
			out = append(out, append(seg.prefix, seg.body...))
		}
	}
	return out
}

// segNameOf builds the name an encoded object's prefix claims.
func segNameOf(prefix []byte) segName {
	return segName{
		Epoch: binary.LittleEndian.Uint64(prefix[8:]), First: wal.LSN(binary.LittleEndian.Uint64(prefix[16:])),
		Last: wal.LSN(binary.LittleEndian.Uint64(prefix[24:])), FirstNanos: int64(binary.LittleEndian.Uint64(prefix[32:])),
		LastNanos: int64(binary.LittleEndian.Uint64(prefix[40:])),
	}
}

// FuzzArchiveSegment decodes arbitrary WAL object contents under the name
// their prefix claims: never a panic or an unbounded allocation, and what
// decodes re-encodes to the same records.
func FuzzArchiveSegment(f *testing.F) {
	for _, s := range seedSegments() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < segPrefixSize {
			return
		}
		n := segNameOf(b)
		seg, err := decodeSegment(n, b[:segPrefixSize], b[segPrefixSize:])
		if err != nil {
			return
		}
		recs := seg.recs
		enc, err := encodeSegment(n.Epoch, seg.prev, recs, nil)
		require.NoError(t, err, "decoded records do not re-encode")
		require.Equal(t, n, enc.name, "decoded records re-encode under another name")
		if verifyChain(seg) == nil {
			require.Equal(t, seg.end, enc.end, "decoded records that chain as stated re-encode to another chain")
		} else {
			require.NotEqual(t, seg.end, enc.end, "verifyChain refused records that re-encode to the stated chain")
		}
		dec, err := decodeSegment(enc.name, enc.prefix, enc.body)
		require.NoError(t, err, "round trip")
		again := dec.recs
		require.Len(t, again, len(recs), "records after a round trip")
		for i := range recs {
			// bytes.Equal: a nil and an empty payload are the same record.
			assert.True(t, bytes.Equal(recs[i].Data, again[i].Data), "record %d's data differs after a round trip", i)
			assert.True(t, again[i].Time.Equal(recs[i].Time), "record %d's time differs after a round trip: %v, was %v", i, again[i].Time, recs[i].Time)
			assert.Equal(t, recs[i].Epoch, again[i].Epoch, "record %d's epoch after a round trip", i)
			assert.Equal(t, recs[i].Kind, again[i].Kind, "record %d's kind after a round trip", i)
		}
	})
}

func seedNames() [][]byte {
	return [][]byte{
		[]byte(segName{Epoch: 1, First: 1, Last: 9, FirstNanos: 5, LastNanos: 7}.String()),
		[]byte(timelineObject(3)),
		[]byte("wal/00000000000000ff/0000000000000001-0000000000000001-0000000000000000-0000000000000000"),
		[]byte("wal/zz/timeline"),
	}
}

// FuzzArchiveName parses arbitrary object names: what parses prints back
// to a name that parses to the same thing.
func FuzzArchiveName(f *testing.F) {
	for _, s := range seedNames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, isTL, err := parseArchiveName(string(b))
		if err != nil || isTL {
			return
		}
		n2, isTL2, err := parseArchiveName(n.String())
		require.NoError(t, err, "%q parses to %+v, which prints as %q", b, n, n.String())
		assert.False(t, isTL2, "%q parses to %+v, which prints as %q: a timeline", b, n, n.String())
		assert.Equal(t, n, n2, "%q parses to %+v, which prints as %q", b, n, n.String())
	})
}

func seedTimelines() [][]byte {
	return [][]byte{
		append(binary.LittleEndian.AppendUint64(nil, 1), encodeTimeline(timeline{Epochs: []uint64{1}, Forks: []wal.LSN{0}})...),
		append(binary.LittleEndian.AppendUint64(nil, 7), encodeTimeline(timeline{Epochs: []uint64{1, 2, 7}, Forks: []wal.LSN{0, 80, 80}})...),
	}
}

// FuzzArchiveTimeline decodes arbitrary timeline bodies (the first 8
// bytes are the epoch the name claims).
func FuzzArchiveTimeline(f *testing.F) {
	for _, s := range seedTimelines() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		tl, err := decodeTimeline(binary.LittleEndian.Uint64(b), b[8:])
		if err != nil {
			return
		}
		assert.True(t, bytes.Equal(encodeTimeline(tl), b[8:]), "a decoded timeline does not re-encode to its bytes")
		for _, e := range tl.Epochs {
			_, ok := tl.bound(e)
			assert.True(t, ok, "epoch %d of the timeline has no bound", e)
		}
	})
}

// FuzzArchiveObject reads arbitrary bytes stored as an archived object,
// through decryption: the only outcome is the records or an
// *ObjectError saying the object is damaged.
func FuzzArchiveObject(f *testing.F) {
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, "mem://")
	require.NoError(f, err)
	f.Cleanup(func() { b.Close() })
	repo, err := snapshot.Init(ctx, b, snapshot.RawKey([32]byte{3}), snapshot.Format{}, snapshot.Options{})
	require.NoError(f, err)
	n := segName{Epoch: 2, First: 40, Last: 42, FirstNanos: 1, LastNanos: 2}
	for _, s := range seedSegments() {
		name := segNameOf(s).String()
		_, err := repo.PutSealed(ctx, name, s[:segPrefixSize], s[segPrefixSize:])
		require.NoError(f, err)
		sealed, err := b.ReadAll(ctx, name)
		require.NoError(f, err)
		f.Add(sealed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		require.NoError(t, b.WriteAll(ctx, n.String(), data, nil))
		_, err := readSegment(ctx, repo, n)
		if err == nil {
			return
		}
		var ae *ObjectError
		require.ErrorAs(t, err, &ae, "untyped error")
		assert.ErrorIs(t, err, ErrCorrupt, "the error does not say the object is damaged")
		assert.Equal(t, n.String(), ae.Object, "misattributed error: %v", err)
	})
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz")

func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzArchiveSegment": seedSegments(), "FuzzArchiveName": seedNames(), "FuzzArchiveTimeline": seedTimelines(),
		"FuzzArchiveAnchor": seedAnchors(), "FuzzArchiveListing": seedListings(),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for i, s := range seeds {
			err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s), 0o644)
			require.NoError(t, err)
		}
	}
}

func seedAnchors() [][]byte {
	h := encodeHead(head{Seq: 3, Epoch: 2, LSN: 40, Time: time.Unix(0, 5), Chain: chainHash{1, 2}, Written: time.Unix(7, 0)})
	p := encodePin(pin{Seq: 2, LSN: 11, Prev: chainHash{3}, Written: time.Unix(9, 0)})
	return [][]byte{append([]byte{0}, h...), append([]byte{1}, p...), {0}, {1, 2, 0}}
}

// FuzzArchiveAnchor decodes arbitrary head (first byte even) or pin
// (odd) bodies under sequence number 3 or 2: never a panic, and what
// decodes re-encodes to its bytes.
func FuzzArchiveAnchor(f *testing.F) {
	for _, s := range seedAnchors() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		if b[0]%2 == 0 {
			h, err := decodeHead(3, b[1:])
			if err == nil {
				assert.True(t, bytes.Equal(encodeHead(h), b[1:]), "a decoded head does not re-encode to its bytes")
			}
			return
		}
		p, err := decodePin(2, b[1:])
		if err == nil {
			assert.True(t, bytes.Equal(encodePin(p), b[1:]), "a decoded pin does not re-encode to its bytes")
			assert.NotZero(t, p.LSN)
		}
	})
}

// listingArchive is a real archive (objects of 40 records in four
// objects with a base snapshot at LSN 20, and its timeline, head and pin)
// to plant objects beside: the template's objects and the model's state
// sums.
type listingArchive struct {
	objects map[string][]byte
	sums    [][32]byte
	names   []segName
	recs    []wal.Record // the log's records, to rebuild it for a resume
}

var listingTemplate = sync.OnceValues(func() (*listingArchive, error) {
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, "mem://")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	dir, err := os.MkdirTemp("", "archive-listing-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	clock := testkit.NewClock()
	log, err := wal.Open(dir, wal.Options{Now: clock.Now, DisablePreallocation: true})
	if err != nil {
		return nil, err
	}
	defer log.Close()
	repo, err := snapshot.Init(ctx, b, snapshot.RawKey([32]byte{7}), snapshot.Format{}, snapshot.Options{Now: clock.Now})
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	state := &testsm.Chain{}
	a, err := NewArchiver(log, repo, Options{ShipInterval: time.Hour, NoCompaction: true, Now: clock.Now, Capture: state.Capture,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	la := &listingArchive{objects: map[string][]byte{}, sums: make([][32]byte, 1)}
	for i := 0; i < 4; i++ {
		for k := 0; k < 10; k++ {
			data := fmt.Appendf(nil, "event %d", i*10+k)
			_, lsn, err := log.Append(ctx, data)
			if err != nil {
				return nil, err
			}
			rec := wal.Record{LSN: lsn, Time: clock.Now(), Data: data}
			if err := state.Apply(rec); err != nil {
				return nil, err
			}
			la.sums = append(la.sums, testsm.Next(la.sums[len(la.sums)-1], rec))
			la.recs = append(la.recs, rec)
		}
		if err := a.Flush(ctx); err != nil {
			return nil, err
		}
		if i == 1 {
			if _, err := a.SnapshotNow(ctx); err != nil {
				return nil, err
			}
		}
		clock.Add(time.Second)
	}
	// Stopped before the listing: the archiver deletes heads beyond its
	// newest three after writing one, and a head listed, then deleted,
	// would fail its read.
	a.Close()
	it := b.List(nil)
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		data, err := b.ReadAll(ctx, o.Key)
		if err != nil {
			return nil, err
		}
		la.objects[o.Key] = data
		if n, isTL, err := parseArchiveName(o.Key); err == nil && !isTL {
			la.names = append(la.names, n)
		}
	}
	return la, nil
})

func seedListings() [][]byte {
	return [][]byte{
		{0, 0, 40, 0, 0},                    // a planted 1-41 name
		{0, 1, 0, 0, 0, 'x'},                // a planted name on the second object's range
		{1, 9, 0xff, 2, 1, 'a'},             // a planted head, then a planted pin
		{3, 'z', 'z', 0xff, 0, 39},          // junk, and a name claiming 1-40
		{4, 2, 0xff, 4, 0},                  // the third object's bytes under another name, then a head copy
		{5, 3, 'x', 0xff, 6, 0, 0, 9, 0, 0}, // a timeline and an object of a newer epoch
	}
}

// plantListing decodes b into objects planted beside the template: entries
// separated by 0xff; an entry's first byte chooses the name (0: a WAL
// name from LSN byte1+1 over byte2 more, time offsets byte3, byte4; 1: a
// head with sequence byte1; 2: a pin with sequence byte1; 3: junk under
// wal/; 4: a copy of template object byte1 under a WAL name; 5: a
// timeline of epoch byte1; 6: a WAL name of a newer epoch), the rest is
// the content.
func plantListing(la *listingArchive, b []byte) map[string][]byte {
	out := map[string][]byte{}
	at := func(e []byte, i int) byte {
		if i < len(e) {
			return e[i]
		}
		return 0
	}
	for _, e := range bytes.Split(b, []byte{0xff}) {
		if len(e) == 0 {
			continue
		}
		base := la.names[0]
		n := segName{Epoch: base.Epoch, First: wal.LSN(at(e, 1)) + 1}
		n.Last = n.First + wal.LSN(at(e, 2))
		n.FirstNanos = base.FirstNanos + int64(at(e, 3))*int64(time.Second)
		n.LastNanos = n.FirstNanos + int64(at(e, 4))*int64(time.Second)
		content := e[min(len(e), 5):]
		switch e[0] % 7 {
		case 0:
			out[n.String()] = content
		case 1:
			out[anchorName(headPrefix, uint64(at(e, 1)))] = e[min(len(e), 2):]
		case 2:
			out[anchorName(pinPrefix, uint64(at(e, 1)))] = e[min(len(e), 2):]
		case 3:
			out[archivePrefix+strings.ToValidUTF8(string(e[1:]), "?")] = nil
		case 4:
			src := la.names[int(at(e, 1))%len(la.names)].String()
			out[n.String()] = la.objects[src]
		case 5:
			out[timelineObject(uint64(at(e, 1)))] = e[min(len(e), 2):]
		case 6:
			n.Epoch = base.Epoch + 1 + uint64(at(e, 1)%4)
			out[n.String()] = content
		}
	}
	return out
}

// FuzzArchiveListing plants objects (arbitrary names and bytes, copies of
// real objects under other names) beside a real archive and runs the
// listing → plan paths: the window, every restore it offers, verify,
// catch-up planning, reading, a resume and a compaction. Nothing panics, no real
// object is deleted, and every restore that succeeds equals the model.
func FuzzArchiveListing(f *testing.F) {
	for _, s := range seedListings() {
		f.Add(s)
	}
	la, err := listingTemplate()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, plant []byte) {
		ctx := context.Background()
		b, err := blob.OpenBucket(ctx, "mem://")
		require.NoError(t, err)
		defer b.Close()
		planted := plantListing(la, plant)
		for name, data := range la.objects {
			require.NoError(t, b.WriteAll(ctx, name, data, nil))
		}
		for name, data := range planted {
			if _, real := la.objects[name]; !real {
				require.NoError(t, b.WriteAll(ctx, name, data, nil))
			}
		}
		repo, err := snapshot.Open(ctx, b, snapshot.RawKey([32]byte{7}), snapshot.Options{})
		require.NoError(t, err)
		defer repo.Close()
		restore := func(target Target) {
			var sm testsm.Chain
			res, err := RestoreTo(ctx, repo, target, &sm, RestoreOptions{})
			if err != nil {
				return
			}
			lsn, _, sum := sm.State()
			require.Equal(t, res.LSN, lsn)
			require.Equal(t, la.sums[lsn], sum, "restore to %s gave another state than the model's at LSN %d", target, lsn)
		}
		w, err := Restorable(ctx, repo)
		if err == nil {
			require.False(t, w.Latest.Before(w.Earliest), "window %v to %v", w.Earliest, w.Latest)
			for _, r := range w.Ranges {
				restore(AtLSN(r.ToLSN))
				restore(AtTime(r.From))
			}
			restore(Target{})
		}
		_, _ = Verify(ctx, repo, VerifyValid)
		if cu, err := PlanCatchUp(ctx, repo, 1); err == nil && cu.To >= cu.From {
			_ = ReadBatches(ctx, repo, cu.From, cu.To, func([]wal.Record) error { return nil })
		}
		// Resume on a log holding the same records: planted objects must
		// neither stop it nor move it (every record is archived: it
		// continues after LSN 40 and holds nothing before).
		var now time.Time
		lg, err := wal.Open(t.TempDir(), wal.Options{Now: func() time.Time { return now }, DisablePreallocation: true, Durability: wal.NoSync})
		require.NoError(t, err)
		defer lg.Close()
		for _, r := range la.recs {
			now = r.Time
			_, _, err := lg.Append(ctx, r.Data)
			require.NoError(t, err)
		}
		ra := &Archiver{log: lg, store: repo, opts: Options{}.withDefaults(), lg: slog.New(slog.NewTextHandler(io.Discard, nil))}
		next, err := ra.resume(ctx, lg.Epoch())
		require.NoError(t, err, "resume beside planted objects")
		require.Equal(t, wal.LSN(41), next, "resume beside planted objects")
		require.Equal(t, wal.LSN(41), lg.Holds()[ra.opts.Holder], "the log's hold after resume")
		a := &Archiver{store: repo, opts: Options{}.withDefaults(), lg: slog.New(slog.NewTextHandler(io.Discard, nil))}
		a.st.Resumed, a.st.Epoch, a.st.ArchivedTime = true, la.names[0].Epoch, time.Unix(0, la.names[len(la.names)-1].LastNanos).Add(time.Hour)
		_ = a.Compact(ctx)
		// Compaction may merge the real objects; their records must all
		// still restore.
		var sm testsm.Chain
		res, err := RestoreTo(ctx, repo, AtLSN(40), &sm, RestoreOptions{})
		require.NoError(t, err, "after compaction beside planted objects")
		_, _, sum := sm.State()
		require.Equal(t, la.sums[40], sum, "after compaction: %+v", res)
	})
}
