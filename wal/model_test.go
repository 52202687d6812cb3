package wal

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/continuity-go/continuity/internal/vfs"
)

// modelDir is the log directory on the MemFS of the model test.
const modelDir = "/model"

// modelBase is where the fake clock of the model test starts.
var modelBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// modelClock is the fake clock of the model test (Options.Now). The test
// moves it, sometimes backwards.
type modelClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *modelClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *modelClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// modelRecord is a record the model expects in the log.
type modelRecord struct {
	lsn   LSN
	epoch uint64
	nanos int64
	data  []byte
}

// walModel is the state of one rapid iteration: the Log under test and
// what it must hold.
type walModel struct {
	fs    *vfs.MemFS
	opts  Options
	clock *modelClock
	log   *Log

	// broken is set when a call into the Log panicked: its locks may be
	// held, so cleanup must not Close it.
	broken bool

	// The model: records recs hold LSNs first..first+len(recs)-1.
	first LSN
	recs  []modelRecord
	epoch uint64 // what Epoch() returns
	// floor is the time below which no new record may go. If the log
	// holds records, it is the last one's time. floorExact is false when
	// the log was emptied by TruncateBack: the log then keeps the time
	// floor of its segment, which the model does not track; floor is an
	// upper bound of it (the time of the first record removed).
	floor      int64
	floorExact bool

	// tail is a Reader kept across actions, to check that a Reader
	// follows appends, rolls and truncations. tailNext is its next LSN.
	// tailDead is set once TruncateBack removed a record it had read:
	// from then on its Next must fail with ErrTruncated.
	tail     *Reader
	tailNext LSN
	tailDead bool

	id uint64 // payload counter: every payload is distinct
}

func (m *walModel) last() LSN { return m.first + LSN(len(m.recs)) - 1 }

func (m *walModel) rec(lsn LSN) modelRecord { return m.recs[lsn-m.first] }

// do runs a call into the Log. A panic in the library is re-raised for
// rapid to report, after marking the Log as unusable.
func (m *walModel) do(f func()) {
	defer func() {
		if r := recover(); r != nil {
			m.broken = true
			panic(r)
		}
	}()
	f()
}

// data returns a new payload of n bytes, distinct from every other.
func (m *walModel) data(n int) []byte {
	m.id++
	b := payload(LSN(m.id)<<32, n)
	// The first bytes name the payload, so that a misplaced one is
	// recognizable in a failure message.
	copy(b, strconv.FormatUint(m.id, 36)+":")
	return b
}

// drawSize draws a payload size: usually up to 2000 bytes, sometimes
// larger than a segment (such a record gets a segment of its own).
func (m *walModel) drawSize(t *rapid.T, label string) int {
	if rapid.IntRange(0, 19).Draw(t, label+"Big") == 0 {
		return rapid.IntRange(int(m.opts.SegmentBytes)-200, int(m.opts.SegmentBytes)+500).Draw(t, label)
	}
	return rapid.IntRange(0, 2000).Draw(t, label)
}

// open opens the log on m.fs and checks it against the model.
func (m *walModel) open(t *rapid.T) {
	m.opts.FS = m.fs
	var err error
	m.do(func() { m.log, err = Open(modelDir, m.opts) })
	require.NoError(t, err)
	// The epoch lives only in segment headers and records: after a reopen
	// it is the last record's, and for an empty log its segment's.
	if len(m.recs) > 0 {
		m.epoch = m.recs[len(m.recs)-1].epoch
	} else {
		require.LessOrEqual(t, m.log.Epoch(), m.epoch, "epoch of an empty log after reopen")
		m.epoch = m.log.Epoch()
	}
}

// closeLog closes the tail reader and the log.
func (m *walModel) closeLog(t *rapid.T) {
	if m.tail != nil {
		require.NoError(t, m.tail.Close())
		m.tail = nil
	}
	var err error
	m.do(func() { err = m.log.Close() })
	require.NoError(t, err)
}

// cleanup releases the log at the end of an iteration, passed or failed.
func (m *walModel) cleanup() {
	if m.tail != nil {
		m.tail.Close()
	}
	if m.log == nil {
		return // Open failed
	}
	if m.broken {
		// A panic may have left Log.mu held, so Close could block for
		// ever. Stop the log's goroutines without it.
		m.log.cancel()
		m.log.wg.Wait()
		return
	}
	m.log.Close()
}

// nextTime is the time of the next appended record, if the model knows
// it.
func (m *walModel) nextTime() (int64, bool) {
	now := m.clock.Now().UnixNano()
	if m.floorExact || now >= m.floor {
		return max(now, m.floor), true
	}
	return 0, false
}

// learnTime returns the time of the appended record at lsn: the model's
// answer if it has one, otherwise what the log says, checked against the
// bounds the model knows.
func (m *walModel) learnTime(t *rapid.T, lsn LSN) int64 {
	if nanos, ok := m.nextTime(); ok {
		return nanos
	}
	r := m.log.NewReader(lsn)
	defer r.Close()
	var rec Record
	var err error
	m.do(func() { rec, err = r.Next(modelCtx(t)) })
	require.NoError(t, err)
	nanos := rec.Time.UnixNano()
	now := m.clock.Now().UnixNano()
	require.GreaterOrEqual(t, nanos, now, "record time below the clock")
	require.LessOrEqual(t, nanos, m.floor, "record time above the time of any record removed")
	return nanos
}

// modelCtx returns a context that ends the wait of a Reader that would
// otherwise block a failing test for ever.
func modelCtx(t *rapid.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// modelCanceled returns a context that is already done: Next with it returns
// at once.
func modelCanceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// checkRecord compares a record read from the log with the model.
func (m *walModel) checkRecord(t *rapid.T, got Record, want modelRecord) {
	require.Equal(t, want.lsn, got.LSN)
	require.Equal(t, want.epoch, got.Epoch, "epoch of LSN %d", want.lsn)
	require.True(t, got.Time.Equal(time.Unix(0, want.nanos)), "time of LSN %d: %v, want %v", want.lsn, got.Time, time.Unix(0, want.nanos))
	require.True(t, bytes.Equal(want.data, got.Data), "data of LSN %d: %.20q (%d bytes), want %.20q (%d bytes)", want.lsn, got.Data, len(got.Data), want.data, len(want.data))
}

// readRange reads [from, to] with a new Reader and compares it with the
// model.
func (m *walModel) readRange(t *rapid.T, from, to LSN) {
	r := m.log.NewReader(from)
	defer r.Close()
	for lsn := from; lsn <= to; lsn++ {
		var rec Record
		var err error
		m.do(func() { rec, err = r.Next(modelCtx(t)) })
		require.NoError(t, err, "reading LSN %d from %d: log [%d, %d]", lsn, from, m.log.First(), m.log.Last())
		m.checkRecord(t, rec, m.rec(lsn))
	}
	// At the end it waits, here for a context that is already done.
	var err error
	m.do(func() { _, err = r.Next(modelCanceled()) })
	require.ErrorIs(t, err, context.Canceled, "Next at the end of the log")
}

// segmentFirsts lists the first LSNs of the segment files.
func (m *walModel) segmentFirsts(t *rapid.T) []LSN {
	names, err := m.fs.List(modelDir)
	require.NoError(t, err)
	var firsts []LSN
	for _, name := range names {
		if hex, ok := strings.CutSuffix(name, segmentSuffix); ok {
			n, err := strconv.ParseUint(hex, 16, 64)
			require.NoError(t, err, name)
			firsts = append(firsts, LSN(n))
		}
	}
	return firsts
}

// check compares the log's First, Last and Epoch with the model's, and
// its segment count with the segment files.
func (m *walModel) check(t *rapid.T) {
	require.Equal(t, m.first, m.log.First(), "First")
	require.Equal(t, m.last(), m.log.Last(), "Last")
	require.Equal(t, m.epoch, m.log.Epoch(), "Epoch")
	firsts := m.segmentFirsts(t)
	require.Equal(t, len(firsts), m.log.Stats().Segments, "segment files %v", firsts)
	if len(firsts) > 0 {
		require.Equal(t, m.first, firsts[0], "First is the first segment's first LSN")
	}
}

// appended adds records that one Append call or batch got, all with the
// same time and the model's epoch.
func (m *walModel) appended(first LSN, nanos int64, data [][]byte) {
	for i, d := range data {
		m.recs = append(m.recs, modelRecord{lsn: first + LSN(i), epoch: m.epoch, nanos: nanos, data: d})
	}
	m.floor, m.floorExact = nanos, true
}

// appendAction appends 1 to 5 records in one call.
func (m *walModel) appendAction(t *rapid.T) {
	// Time passes between appends (the Clock action makes bigger steps,
	// and steps back).
	m.clock.add(time.Duration(rapid.IntRange(0, 1000).Draw(t, "tickMs")) * time.Millisecond)
	n := rapid.IntRange(1, 5).Draw(t, "records")
	data := make([][]byte, n)
	for i := range data {
		data[i] = m.data(m.drawSize(t, "size"))
	}
	var first, last LSN
	var err error
	m.do(func() { first, last, err = m.log.Append(t.Context(), data...) })
	require.NoError(t, err)
	require.Equal(t, m.last()+1, first, "first LSN")
	require.Equal(t, first+LSN(n)-1, last, "last LSN")
	m.appended(first, m.learnTime(t, first), data)
}

// concurrentAppendAction appends from several goroutines at once and
// checks that group commit gives every call its own contiguous LSNs.
func (m *walModel) concurrentAppendAction(t *rapid.T) {
	type call struct {
		data        [][]byte
		first, last LSN
		err         error
	}
	writers := make([][]*call, rapid.IntRange(2, 4).Draw(t, "writers"))
	total := 0
	for w := range writers {
		for range rapid.IntRange(1, 3).Draw(t, "calls") {
			c := &call{data: make([][]byte, rapid.IntRange(1, 3).Draw(t, "records"))}
			for i := range c.data {
				c.data[i] = m.data(rapid.IntRange(0, 600).Draw(t, "size"))
			}
			writers[w] = append(writers[w], c)
			total += len(c.data)
		}
	}
	before := m.last()
	var wg sync.WaitGroup
	for _, calls := range writers {
		wg.Go(func() {
			m.do(func() {
				for _, c := range calls {
					c.first, c.last, c.err = m.log.Append(context.Background(), c.data...)
				}
			})
		})
	}
	wg.Wait()

	var all []*call
	for _, calls := range writers {
		prev := before
		for _, c := range calls {
			require.NoError(t, c.err)
			require.Equal(t, c.first+LSN(len(c.data))-1, c.last, "a call's records are consecutive")
			require.Greater(t, c.first, prev, "a writer's later call got an earlier LSN")
			prev = c.last
			all = append(all, c)
		}
	}
	slices.SortFunc(all, func(a, b *call) int { return cmp.Compare(a.first, b.first) })
	next := before + 1
	for _, c := range all {
		require.Equal(t, next, c.first, "LSNs of concurrent appends are not contiguous")
		next = c.last + 1
	}
	require.Equal(t, before+LSN(total), next-1)

	// Every call of this action gets the same time: the clock does not
	// move while they run, and records never go below it.
	nanos := m.learnTime(t, before+1)
	for _, c := range all {
		m.appended(c.first, nanos, c.data)
	}
	// Read the records back: each payload must be where its Append said.
	m.readRange(t, before+1, m.last())
}

// reopenAction closes the log and opens it again.
func (m *walModel) reopenAction(t *rapid.T) {
	if m.tail != nil {
		m.closeTailAfterClose(t)
	} else {
		m.closeLog(t)
	}
	m.open(t)
	m.readRange(t, m.first, m.last())
}

// closeTailAfterClose closes the log and checks that the tail Reader then
// fails with ErrClosed.
func (m *walModel) closeTailAfterClose(t *rapid.T) {
	tail := m.tail
	m.tail = nil
	m.closeLog(t)
	var err error
	m.do(func() { _, err = tail.Next(modelCtx(t)) })
	require.ErrorIs(t, err, ErrClosed, "Next on a closed log")
	require.NoError(t, tail.Close())
}

// crashAction simulates a power loss: under SyncBatch every acknowledged
// record and every finished truncation must survive it.
func (m *walModel) crashAction(t *rapid.T) {
	clone := m.fs.CrashClone()
	m.closeLog(t) // its files belong to the old FS
	m.fs = clone
	m.open(t)
	m.readRange(t, m.first, m.last())
}

// readAction reads from a random LSN to the end with a new Reader.
func (m *walModel) readAction(t *rapid.T) {
	from := LSN(rapid.IntRange(int(m.first), int(m.last())+1).Draw(t, "from"))
	m.readRange(t, from, m.last())
	// A Reader past the end waits for the log to get there.
	r := m.log.NewReader(m.last() + LSN(rapid.IntRange(2, 5).Draw(t, "beyond")))
	var err error
	m.do(func() { _, err = r.Next(modelCanceled()) })
	require.ErrorIs(t, err, context.Canceled, "Next beyond the end of the log")
	require.NoError(t, r.Close())
}

// tailReadAction reads some records with the Reader kept across actions.
func (m *walModel) tailReadAction(t *rapid.T) {
	if m.tail == nil {
		m.tailNext = LSN(rapid.IntRange(int(m.first), int(m.last())+1).Draw(t, "tailFrom"))
		m.tail, m.tailDead = m.log.NewReader(m.tailNext), false
	}
	var rec Record
	var err error
	if m.tailDead || m.tailNext < m.first {
		// Its next record was removed: Next fails at once, without
		// waiting for ctx. (For a reader that read past the LSN
		// TruncateBack cut at, whatever was appended since: see
		// TestReaderTruncatedBackThenRegrown.)
		m.do(func() { _, err = m.tail.Next(modelCanceled()) })
		require.ErrorIs(t, err, ErrTruncated, "tail reader at LSN %d (dead after TruncateBack: %t), log [%d, %d]", m.tailNext, m.tailDead, m.first, m.last())
		require.NoError(t, m.tail.Close())
		m.tail = nil
		return
	}
	n := rapid.IntRange(0, int(m.last()+1-m.tailNext)).Draw(t, "tailRecords")
	for range n {
		m.do(func() { rec, err = m.tail.Next(modelCtx(t)) })
		require.NoError(t, err, "tail reader at LSN %d", m.tailNext)
		m.checkRecord(t, rec, m.rec(m.tailNext))
		m.tailNext++
	}
	if m.tailNext == m.last()+1 {
		m.do(func() { _, err = m.tail.Next(modelCanceled()) })
		require.ErrorIs(t, err, context.Canceled, "tail reader at the end of the log")
	}
}

// truncateFrontAction calls TruncateFront(x) for x in [First, Last+1].
func (m *walModel) truncateFrontAction(t *rapid.T) {
	x := LSN(rapid.IntRange(int(m.first), int(m.last())+1).Draw(t, "lsn"))
	before := m.segmentFirsts(t)
	oldFirst := m.first
	var err error
	m.do(func() { err = m.log.TruncateFront(x) })
	require.NoError(t, err)
	first := m.log.First()
	require.GreaterOrEqual(t, first, oldFirst, "TruncateFront(%d) moved First back", x)
	require.LessOrEqual(t, first, x, "TruncateFront(%d) removed records at or after it", x)
	// It removes every segment all of whose records are before x: the
	// log starts at the last segment that starts at or before x.
	want := oldFirst
	for _, f := range before {
		if f <= x {
			want = f
		}
	}
	require.Equal(t, want, first, "TruncateFront(%d) with segments %v", x, before)
	require.Equal(t, slices.DeleteFunc(before, func(f LSN) bool { return f < first }), m.segmentFirsts(t), "segment files after TruncateFront(%d)", x)
	m.recs = slices.Clone(m.recs[first-m.first:])
	m.first = first
	if first > oldFirst {
		r := m.log.NewReader(oldFirst)
		m.do(func() { _, err = r.Next(modelCanceled()) })
		require.ErrorIs(t, err, ErrTruncated, "reader from the old First %d", oldFirst)
		require.NoError(t, r.Close())
	}
}

// truncateBackAction calls TruncateBack(x) for x in [First-1, Last].
func (m *walModel) truncateBackAction(t *rapid.T) {
	x := LSN(rapid.IntRange(int(m.first)-1, int(m.last())).Draw(t, "lsn"))
	var err error
	m.do(func() { err = m.log.TruncateBack(x) })
	require.NoError(t, err)
	require.Equal(t, x, m.log.Last(), "Last after TruncateBack(%d)", x)
	if x == m.last() {
		return
	}
	if m.tail != nil && m.tailNext > x+1 {
		m.tailDead = true
	}
	if x < m.first {
		m.floor, m.floorExact = m.recs[0].nanos, false
	} else {
		m.floor = m.rec(x).nanos
	}
	m.recs = m.recs[:x+1-m.first]
}

// setEpochAction raises the epoch, or tries to lower it.
func (m *walModel) setEpochAction(t *rapid.T) {
	var err error
	if m.epoch > 0 && rapid.IntRange(0, 3).Draw(t, "stale") == 0 {
		m.do(func() { err = m.log.SetEpoch(m.epoch - 1) })
		var se *SequenceError
		require.ErrorAs(t, err, &se)
		require.ErrorIs(t, err, ErrStaleEpoch)
		return
	}
	epoch := m.epoch + rapid.Uint64Range(0, 2).Draw(t, "raise")
	m.do(func() { err = m.log.SetEpoch(epoch) })
	require.NoError(t, err)
	m.epoch = epoch
}

// clockAction moves the clock.
func (m *walModel) clockAction(t *rapid.T) {
	// Mostly forward, sometimes back (an NTP step).
	m.clock.add(time.Duration(rapid.IntRange(-3000, 5000).Draw(t, "ms")) * time.Millisecond)
}

// lsnAt is the model's LSNAt: the last record at or before nanos.
func (m *walModel) lsnAt(nanos int64) (LSN, bool) {
	i, _ := slices.BinarySearchFunc(m.recs, nanos+1, func(r modelRecord, n int64) int {
		if r.nanos < n {
			return -1
		}
		return 1
	})
	if i == 0 {
		return 0, false
	}
	return m.recs[i-1].lsn, true
}

// lsnAtAction asks LSNAt about a time near a record's (or the clock's, if
// the log is empty).
func (m *walModel) lsnAtAction(t *rapid.T) {
	var nanos int64
	if len(m.recs) == 0 {
		nanos = m.clock.Now().UnixNano() + int64(rapid.IntRange(-5000, 5000).Draw(t, "ms"))*int64(time.Millisecond)
	} else {
		r := m.recs[rapid.IntRange(0, len(m.recs)-1).Draw(t, "near")]
		nanos = r.nanos + rapid.SampledFrom([]int64{-1, 0, 1, -int64(time.Second), int64(time.Second), -int64(time.Hour), int64(time.Hour)}).Draw(t, "offset")
	}
	var got LSN
	var err error
	m.do(func() { got, err = m.log.LSNAt(time.Unix(0, nanos)) })
	want, ok := m.lsnAt(nanos)
	if !ok {
		require.ErrorIs(t, err, ErrNotFound, "LSNAt(%v) with log [%d, %d]", time.Unix(0, nanos), m.first, m.last())
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, got, "LSNAt(%v)", time.Unix(0, nanos))
}

// writeAction appends records as a standby does, with explicit LSN, epoch
// and time, or tries to and must be refused.
func (m *walModel) writeAction(t *rapid.T) {
	n := rapid.IntRange(1, 3).Draw(t, "records")
	next := m.last() + 1
	if len(m.recs) == 0 && rapid.Bool().Draw(t, "rebase") {
		// An empty log accepts any first LSN.
		next = LSN(rapid.IntRange(1, 1000).Draw(t, "base"))
	}
	// Any epoch from the last record's on is valid, even one below the
	// log's Epoch (raised by SetEpoch or by records since truncated).
	// For an empty log the model only knows that Epoch is enough.
	minEpoch := m.epoch
	if len(m.recs) > 0 {
		minEpoch = m.recs[len(m.recs)-1].epoch
	}
	epoch := rapid.Uint64Range(minEpoch, m.epoch+1).Draw(t, "epoch")
	nanos := max(m.floor, m.clock.Now().UnixNano()-int64(2*time.Second))
	recs := make([]Record, n)
	for i := range recs {
		nanos += int64(rapid.IntRange(0, 1500).Draw(t, "ms")) * int64(time.Millisecond)
		recs[i] = Record{LSN: next + LSN(i), Epoch: epoch, Time: time.Unix(0, nanos), Data: m.data(m.drawSize(t, "size"))}
	}

	// Sometimes break one record. Against the log's end, only a log
	// holding records can be broken (an empty one takes any LSN, and its
	// time floor and epoch are not known to the model exactly).
	at := rapid.IntRange(0, n-1).Draw(t, "at")
	prevLSN, prevEpoch, prevNanos := m.last(), uint64(0), m.floor
	if at > 0 {
		prevLSN, prevEpoch, prevNanos = recs[at-1].LSN, recs[at-1].Epoch, recs[at-1].Time.UnixNano()
	} else if len(m.recs) > 0 {
		prevEpoch = m.recs[len(m.recs)-1].epoch
	}
	var want error
	if at > 0 || len(m.recs) > 0 {
		switch rapid.IntRange(0, 5).Draw(t, "fault") {
		case 0:
			recs[at].LSN = prevLSN + LSN(rapid.SampledFrom([]int{0, 2, 3}).Draw(t, "gap"))
			want = ErrGap
		case 1:
			if prevEpoch > 0 {
				recs[at].Epoch = prevEpoch - 1
				want = ErrStaleEpoch
			}
		case 2:
			recs[at].Time = time.Unix(0, prevNanos-1)
			want = ErrTimeRegression
		}
	}
	var err error
	m.do(func() { err = m.log.Write(t.Context(), recs...) })
	if want != nil {
		var se *SequenceError
		require.ErrorAs(t, err, &se, "Write with a broken record %d", at)
		require.ErrorIs(t, err, want)
		return // check verifies that nothing was written
	}
	require.NoError(t, err)
	if len(m.recs) == 0 {
		m.first = next
		if m.tail != nil {
			// A rebased log: the tail reader's position means nothing.
			require.NoError(t, m.tail.Close())
			m.tail = nil
		}
	}
	for _, r := range recs {
		m.recs = append(m.recs, modelRecord{lsn: r.LSN, epoch: r.Epoch, nanos: r.Time.UnixNano(), data: r.Data})
	}
	m.epoch = max(m.epoch, epoch)
	m.floor, m.floorExact = nanos, true
}

// TestModel runs random sequences of operations against a Log on a MemFS
// and checks every result against a model: a slice of the records the log
// must hold.
func TestModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &walModel{
			fs:    vfs.NewMem(),
			clock: &modelClock{now: modelBase},
			first: 1,
			// A new log has no time floor.
			floorExact: true,
		}
		m.opts = Options{
			SegmentBytes:         rapid.SampledFrom([]int64{4 << 10, 40 << 10, 6 << 10, 8 << 10, 16 << 10}).Draw(t, "segmentBytes"),
			DisablePreallocation: rapid.Bool().Draw(t, "noPrealloc"),
			Durability:           SyncBatch,
			Now:                  m.clock.Now,
		}
		m.open(t)
		t.Cleanup(m.cleanup)
		t.Repeat(map[string]func(*rapid.T){
			"Append":           m.appendAction,
			"ConcurrentAppend": m.concurrentAppendAction,
			"Reopen":           m.reopenAction,
			"Crash":            m.crashAction,
			"Read":             m.readAction,
			"TailRead":         m.tailReadAction,
			"TruncateFront":    m.truncateFrontAction,
			"TruncateBack":     m.truncateBackAction,
			"SetEpoch":         m.setEpochAction,
			"Clock":            m.clockAction,
			"LSNAt":            m.lsnAtAction,
			"Write":            m.writeAction,
			"":                 m.check,
		})
	})
}
