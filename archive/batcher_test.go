package archive

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/wal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatchDueIdle: with IdleShipInterval a batch ships once its oldest
// record is half the interval in force old: IdleShipInterval while it is
// smaller than IdleBytes, ShipInterval once it is not; MaxObjectBytes and
// a flush ship it at once; nothing ships before the log's tail is read
// unless it is full. So no record waits longer than Bound/2 for its
// upload to start, and a busy log keeps ShipInterval.
func TestBatchDueIdle(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		opts := Options{ShipInterval: time.Second, MaxObjectBytes: 1 << 20}
		if rapid.Bool().Draw(t, "idle") {
			opts.IdleShipInterval = time.Duration(rapid.Int64Range(int64(time.Second), int64(time.Minute)).Draw(t, "idleInterval"))
			opts.IdleBytes = rapid.IntRange(1, 256<<10).Draw(t, "idleBytes")
		}
		opts = opts.withDefaults()
		b := &batcher{a: &Archiver{opts: opts}}
		start := time.Unix(1_700_000_000, 0)
		at := start
		n := rapid.IntRange(1, 50).Draw(t, "records")
		for i := range n {
			at = at.Add(time.Duration(rapid.Int64Range(0, int64(time.Second)).Draw(t, "gap")))
			size := rapid.IntRange(0, 64<<10).Draw(t, "size")
			b.add(wal.Record{LSN: wal.LSN(i + 1), Time: at, Data: make([]byte, size)})
			if b.bytes >= opts.MaxObjectBytes {
				break
			}
		}
		age := time.Duration(rapid.Int64Range(0, int64(2*time.Minute)).Draw(t, "age"))
		now := start.Add(age)
		atTail, flush := rapid.Bool().Draw(t, "atTail"), rapid.Bool().Draw(t, "flush")
		due := b.due(now, atTail, flush)

		// A batch is as old as its oldest record, which came a gap after
		// start.
		age = now.Sub(b.recs[0].Time)
		quiet := opts.IdleShipInterval > 0 && b.bytes < opts.IdleBytes
		want := b.bytes >= opts.MaxObjectBytes || atTail && (flush || !quiet && age >= opts.ShipInterval/2 || quiet && age >= opts.IdleShipInterval/2)
		if due != want {
			t.Fatalf("due(age %v, bytes %d, atTail %v, flush %v) = %v with %+v", age, b.bytes, atTail, flush, due, opts)
		}
		if atTail && age >= opts.bound()/2 && !due {
			t.Fatalf("a batch %v old at the tail is not due: past the bound %v", age, opts.bound())
		}
	})
}

// TestIdleOptions: IdleShipInterval shorter than ShipInterval is refused.
func TestIdleOptions(t *testing.T) {
	err := Options{ShipInterval: 2 * time.Second, IdleShipInterval: time.Second}.Validate()
	if err == nil {
		t.Fatal("IdleShipInterval 1s under ShipInterval 2s accepted")
	}
	if err := (Options{IdleShipInterval: time.Minute}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestIdleShipping: a quiet log's records wait for IdleShipInterval/2
// (three small records over half an hour ship as one object); once the
// batch grows past IdleBytes it ships at ShipInterval's pace.
func TestIdleShipping(t *testing.T) {
	rig := newArchiveRig(t, testkit.Buckets(t)[0].Open(t))
	var mu sync.Mutex
	var ups []UploadEvent
	a := rig.archiver(Options{ShipInterval: time.Second, IdleShipInterval: time.Hour, IdleBytes: 4 << 10, NoCompaction: true,
		OnUpload: func(ev UploadEvent) { mu.Lock(); ups = append(ups, ev); mu.Unlock() }})
	archived := func(lsn wal.LSN) func() bool { return func() bool { return a.Status().Archived >= lsn } }
	testkit.Eventually(t, func() bool { return a.Status().Resumed }, "resumed")
	assert.Equal(t, time.Hour, a.Status().Bound)
	add := func(data []byte, after time.Duration) {
		rig.clock.Add(after)
		_, _, err := rig.log.Append(context.Background(), data)
		require.NoError(t, err)
	}

	// Small, then large enough 10 s later: ShipInterval applies, so the
	// batch ships on the record that made it large.
	add([]byte("small"), 0)
	add(make([]byte, 4<<10), 10*time.Second)
	testkit.Eventually(t, archived(2), "a batch past IdleBytes ships at ShipInterval")

	// Quiet: 10 s apart is past ShipInterval/2 but not IdleShipInterval/2;
	// the record after half an hour finds the batch due (or the batcher,
	// reading later, finds it due when it reads the second).
	add([]byte("quiet 1"), time.Second)
	add([]byte("quiet 2"), 10*time.Second)
	add([]byte("quiet 3"), 31*time.Minute)
	testkit.Eventually(t, archived(4), "a quiet batch ships once IdleShipInterval/2 old: %+v", a.Status())
	flush(t, a)
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(ups), 2, "uploads %+v", ups)
	assert.Equal(t, [2]wal.LSN{1, 2}, [2]wal.LSN{ups[0].First, ups[0].Last})
	assert.Equal(t, wal.LSN(3), ups[1].First)
	assert.GreaterOrEqual(t, ups[1].Last, wal.LSN(4), "the quiet records wait together")
	n, _, err := parseArchiveName(ups[1].Object)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, ups[1].At.Sub(time.Unix(0, n.FirstNanos)), 30*time.Minute, "a quiet batch shipped before IdleShipInterval/2: %+v", ups[1])
}

// TestLagWarningIdle: a quiet batch waiting for IdleShipInterval is not
// "behind": no lag warning while its age is under the bound; without the
// option the same age warns.
func TestLagWarningIdle(t *testing.T) {
	for _, idle := range []time.Duration{0, time.Hour} {
		var logged bytes.Buffer
		var mu sync.Mutex
		rig := newArchiveRig(t, testkit.Buckets(t)[0].Open(t))
		a := rig.archiver(Options{ShipInterval: time.Second, IdleShipInterval: idle, LagWarning: 10 * time.Second, NoCompaction: true,
			Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))})
		rig.append(1)
		rig.clock.Add(20 * time.Second)
		flush(t, a)
		mu.Lock()
		warned := strings.Contains(logged.String(), "archive is behind the log")
		mu.Unlock()
		assert.Equal(t, idle == 0, warned, "IdleShipInterval %v: a batch 20 s old (LagWarning 10 s): warned %v\n%s", idle, warned, logged.String())
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
