package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// TestCountingBucket checks that each blob call is counted as the S3
// request it makes, on the key class it names, and that errors keep
// their codes through the wrapper (snapshot.Repo relies on
// FailedPrecondition for IfNotExist and NotFound for a missing object).
func TestCountingBucket(t *testing.T) {
	ctx := t.Context()
	c := &reqCounter{}
	bk := countBucket(memblob.OpenBucket(nil), c)
	defer bk.Close()
	put := func(key string, n int, ifNotExist bool) error {
		w, err := bk.NewWriter(ctx, key, &blob.WriterOptions{IfNotExist: ifNotExist, ContentType: "application/octet-stream"})
		if err != nil {
			return err
		}
		if _, err := w.Write(make([]byte, n)); err != nil {
			return err
		}
		return w.Close()
	}
	for i := range 2500 {
		if err := put(fmt.Sprintf("wal/0000000000000001/%06d", i), 10, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := put("wal/head/0000000000000001", 100, true); err != nil {
		t.Fatal(err)
	}
	err := put("wal/head/0000000000000001", 100, true)
	if gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Errorf("IfNotExist over an object: %v, code %v; want FailedPrecondition", err, gcerrors.Code(err))
	}
	if _, err := bk.ReadAll(ctx, "wal/head/0000000000000001"); err != nil {
		t.Fatal(err)
	}
	r, err := bk.NewRangeReader(ctx, "wal/0000000000000001/000007", 2, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, r); err != nil || n != 5 {
		t.Errorf("range read: %d bytes, %v", n, err)
	}
	r.Close()
	if _, err := bk.ReadAll(ctx, "wal/missing"); gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("missing object: %v, want NotFound", err)
	}
	n := 0
	it := bk.List(&blob.ListOptions{Prefix: walPrefix})
	for {
		_, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2501 {
		t.Fatalf("listed %d objects, want 2501", n)
	}
	if _, err := bk.Attributes(ctx, "wal/head/0000000000000001"); err != nil {
		t.Fatal(err)
	}
	if err := bk.Delete(ctx, "wal/0000000000000001/000001"); err != nil {
		t.Fatal(err)
	}
	got := c.snapshot()
	for _, w := range []struct {
		op, class string
		n         int64
	}{
		{opPut, "wal", 2500}, {opPut, "head", 2}, // the refused write is a request too
		{opGet, "head", 1}, {opGet, "wal", 2}, // the range, and the missing object
		{opList, "wal", 3}, // 2,501 keys in pages of 1,000
		{opHead, "head", 1}, {opDelete, "wal", 1},
	} {
		if g := got.get(w.op, w.class); g != w.n {
			t.Errorf("%s %s: counted %d, want %d", w.op, w.class, g, w.n)
		}
	}
	if got.up != 2500*10+2*100 || got.down != 100+5 {
		t.Errorf("bytes up %d, down %d; want %d and %d", got.up, got.down, 2500*10+2*100, 105)
	}
	if d := got.sub(got); len(d.n) != 0 || d.up != 0 {
		t.Errorf("counts less themselves: %+v", d)
	}
}

func TestKeyClass(t *testing.T) {
	for key, want := range map[string]string{
		"wal/head/0000000000000003":                    "head",
		"wal/pin/0000000000000001":                     "pin",
		"wal/0000000000000001/timeline":                "timeline",
		"wal/0000000000000001/00000000000000010-x-y-z": "wal",
		"epochs/0000000000000001":                      "repo",
	} {
		if got := keyClass(key); got != want {
			t.Errorf("keyClass(%q) = %q, want %q", key, got, want)
		}
	}
	if listClass(walPrefix, "/") != "wal dirs" || listClass(walPrefix, "") != "wal" || listClass("snapshots/", "") != "repo" {
		t.Error("listClass")
	}
}

// TestSimulateConservation runs the model for an hour and checks its
// counts against what its rules imply: the uploads of a period of P,
// one head per ShipInterval, one compaction round per Compaction[0], and
// every object accounted for (uploaded + merged − merged away = held).
func TestSimulateConservation(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		rate    float64
		objSize float64
		windows []time.Duration
	}{
		{"1000/s, 30 s", 1000, 360e3, []time.Duration{30 * time.Second}},
		{"10/s, default", 10, 800, defaultSchedule.windows},
		{"10000/s, default", 10_000, 3.6e6, defaultSchedule.windows},
		{"100/s, none", 100, 9e3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := simulate(modelParams{rate: tc.rate, payload: 256, objBytes: tc.objSize, ship: time.Second, windows: tc.windows, start: start, span: time.Hour, fresh: true})
			p := 0.5 + 1/tc.rate
			wantUploads := math.Floor((3600-(p-1/tc.rate))/p) + 1
			if m.uploads != wantUploads {
				t.Errorf("uploads %v, want %v", m.uploads, wantUploads)
			}
			if m.heads < 3599 || m.heads > 3601 {
				t.Errorf("heads %v, want one per second", m.heads)
			}
			if m.headDeletes != m.heads-keepHeads {
				t.Errorf("head deletes %v, want heads less %d", m.headDeletes, keepHeads)
			}
			if held := m.uploads + m.compPuts - m.compDeletes; float64(m.walObjects) != held {
				t.Errorf("%d objects held, uploads + merged - deleted = %v", m.walObjects, held)
			}
			if m.compGets != m.compDeletes {
				t.Errorf("compaction read %v pieces and deleted %v", m.compGets, m.compDeletes)
			}
			if tc.windows == nil {
				if m.compRounds != 0 || m.dirLists != 120 || m.walObjects != int(m.uploads) {
					t.Errorf("no compaction: %v rounds, %v directory listings (want 120), %d objects of %v uploads", m.compRounds, m.dirLists, m.walObjects, m.uploads)
				}
				return
			}
			if want := math.Floor(3600 / tc.windows[0].Seconds()); m.compRounds != want || m.timelineGets != want {
				t.Errorf("%v compaction rounds, %v timeline reads; want %v", m.compRounds, m.timelineGets, want)
			}
			// The first level merges every closed window of it: at most
			// one piece per upload, and one merged object per window.
			w1 := tc.windows[0].Seconds()
			if m.compPuts < 3600/w1-2 {
				t.Errorf("%v merged objects, want at least one per %v window", m.compPuts, tc.windows[0])
			}
			if per := math.Floor(maxCompacted / tc.objSize); tc.objSize*w1/p > maxCompacted {
				// Runs are cut at MaxCompactedBytes: ⌈pieces ÷ per⌉
				// merged objects per window, and nothing above. The
				// window that ends with the hour may still be open.
				perWindow := math.Ceil(math.Ceil(w1/p) / per)
				if lo, hi := (3600/w1-1)*perWindow, 3600/w1*perWindow; m.compPuts < 0.95*lo || m.compPuts > hi {
					t.Errorf("%v merged objects, want %v to %v (runs of %v pieces)", m.compPuts, lo, hi, per)
				}
			}
			if r := m.requests(); r.put != m.uploads+m.heads+m.compPuts+2 || r.list != m.walLists+m.keyLists+4 {
				t.Errorf("requests %+v from %+v", r, m)
			}
		})
	}
}

// TestCompactLevel checks the run rules the model copies from
// archive.compactLevel: same window, closed, two or more, under the size
// bound.
func TestCompactLevel(t *testing.T) {
	sec := int64(time.Second)
	obj := func(at int64, size float64) simObj { return simObj{first: at * sec, last: at*sec + sec/2, size: size} }
	for _, tc := range []struct {
		name   string
		own    []simObj
		closed int64
		want   []int // pieces per output object
	}{
		{"one window", []simObj{obj(0, 1), obj(1, 1), obj(2, 1)}, 10 * sec, []int{3}},
		{"open window", []simObj{obj(0, 1), obj(1, 1), obj(2, 1)}, 9 * sec, []int{1, 1, 1}},
		{"two windows", []simObj{obj(8, 1), obj(9, 1), obj(10, 1), obj(11, 1)}, 20 * sec, []int{2, 2}},
		{"size bound", []simObj{obj(0, 12<<20), obj(1, 12<<20), obj(2, 12<<20), obj(3, 12<<20)}, 10 * sec, []int{2, 2}},
		{"each too big", []simObj{obj(0, 20<<20), obj(1, 20<<20)}, 10 * sec, []int{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var merged []int
			out := compactLevel(tc.own, 10*sec, tc.closed, maxCompacted, func(run []simObj, o simObj) { merged = append(merged, len(run)) })
			var got []int
			i := 0
			for _, o := range out {
				n := 0
				for i < len(tc.own) && tc.own[i].first >= o.first && tc.own[i].last <= o.last {
					n++
					i++
				}
				got = append(got, n)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("pieces per object %v, want %v (merged runs %v)", got, tc.want, merged)
			}
		})
	}
}

// TestUploadPeriodIdle checks P with IdleShipInterval: half of it while
// the batch stays under IdleBytes, else ShipInterval's rule from the
// record that passes IdleBytes.
func TestUploadPeriodIdle(t *testing.T) {
	for _, tc := range []struct {
		rate, payload float64
		idle          time.Duration
		want          float64
	}{
		{10, 256, 0, 0.6},
		{10, 256, 10 * time.Second, 5.1},
		{10, 256, time.Minute, 25.6}, // the 256th record reaches 64 KiB after 25.5 s
		{10, 0, time.Minute, 30.1},
		{1000, 256, 10 * time.Second, 0.501}, // 64 KiB after 0.255 s: ShipInterval/2
		{1000, 16, 10 * time.Second, 4.096},  // 4,096 records to 64 KiB
	} {
		if got := uploadPeriod(tc.rate, tc.payload, time.Second, tc.idle); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("uploadPeriod(%v/s, %v B, idle %v) = %v, want %v", tc.rate, tc.payload, tc.idle, got, tc.want)
		}
	}
	// An hour at 10 events/s, IdleShipInterval 1 min: an upload every
	// 25.6 s, a head a minute after the last (the archive moved since:
	// one per bound, 60 and the start's), and the key check at the first
	// upload a minute after the last (every third, 76.8 s).
	m := simulate(modelParams{rate: 10, payload: 256, objBytes: 5000, ship: time.Second, idle: time.Minute, start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), span: time.Hour, fresh: true})
	if want := math.Floor((3600-25.5)/25.6) + 1; m.uploads != want || m.heads != 61 {
		t.Errorf("%v uploads, %v heads; want %v and 61", m.uploads, m.heads, want)
	}
	if want := math.Floor((3600 - 25.5) / 76.8); m.keyLists < want || m.keyLists > want+1 {
		t.Errorf("%v key checks, want about %v", m.keyLists, want)
	}
}

func TestS3PutRequests(t *testing.T) {
	for size, want := range map[float64]float64{1: 1, 16<<20 - 1: 1, 16 << 20: 4, 17 << 20: 5, 32 << 20: 6} {
		if got := s3PutRequests(size); got != want {
			t.Errorf("s3PutRequests(%v) = %v, want %v", size, got, want)
		}
	}
}

// TestMonth checks the month's arithmetic on round numbers.
func TestMonth(t *testing.T) {
	pr := projection{
		hour:      modelCounts{uploads: 7000, heads: 3000, compPuts: 100, compPutsS3: 200, compGets: 1000, timelineGets: 100, walLists: 500, keyLists: 100, headDeletes: 3000, compDeletes: 1000},
		drillGets: 24, drillLists: 2.4, verifyGets: 48, verifyLists: 4.8, retentionGets: 24, retentionLists: 2.4,
		bytesHeld: 100e9,
	}
	mo := pr.month()
	days := 730.0 / 24
	want := monthly{
		put:  730 * (7000 + 3000 + 200),
		get:  730*1100 + days*96,
		list: 730*600 + days*9.6,
		del:  730 * 4000,
	}
	want.requestCost = (want.put+want.list)*0.005/1000 + want.get*0.0004/1000
	want.storageCost = 100 * 0.023
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"put", mo.put, want.put}, {"get", mo.get, want.get}, {"list", mo.list, want.list}, {"del", mo.del, want.del},
		{"requests $", mo.requestCost, want.requestCost}, {"storage $", mo.storageCost, want.storageCost}} {
		if math.Abs(c.got-c.want) > 1e-6*math.Max(1, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	// 7,446,000 PUT-class requests other than LIST at $0.005 per 1,000.
	if got := 730 * 10200 * priceClassA; math.Abs(got-37.23) > 1e-9 {
		t.Errorf("PUT $ %v, want 37.23", got)
	}
}

// TestStudyBest checks the choice of the cheapest schedules on made-up
// projections.
func TestStudyBest(t *testing.T) {
	at := func(put float64) projection { return projection{hour: modelCounts{uploads: put}} }
	s := studyResult{rates: []int{1, 2}, projs: [][]projection{
		{at(100), at(100)}, // 1.0 and 1.25 of the cheapest
		{at(90), at(120)},  // 0.9 ... cheapest at rate 1, 1.5 at rate 2
		{at(110), at(80)},  // cheapest at rate 2, 1.22 at rate 1
	}}
	perRate, overall, worst := s.best()
	if fmt.Sprint(perRate) != "[1 2]" || overall != 2 {
		t.Errorf("per rate %v, overall %d (worst ratios %v); want [1 2] and 2", perRate, overall, worst)
	}
}

// TestRenderCost renders made-up runs and checks that the tables are
// there and that the cost report goes between its own markers only.
func TestRenderCost(t *testing.T) {
	s, err := parseFlags([]string{"-suites", "cost"})
	if err != nil {
		t.Fatal(err)
	}
	st := &store{kind: storeFile, label: "file://", desc: "a directory"}
	j := &costJob{store: st}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for _, rate := range costRates {
		for _, cc := range costConfigs(rate) {
			sc := cc.sched
			m := simulate(modelParams{rate: float64(rate), payload: 256, objBytes: 100 * float64(rate), ship: time.Second, idle: cc.idle, windows: sc.windows, start: start, span: time.Minute, fresh: true})
			c := reqCounts{n: map[reqKey]int64{{opPut, "wal"}: int64(m.uploads + m.compPuts), {opPut, "head"}: int64(m.heads), {opList, "wal"}: 2}}
			bound := max(time.Second, cc.idle)
			j.runs = append(j.runs, &costRun{rate: rate, sched: sc, idle: cc.idle, bound: bound, span: time.Minute, uploads: int64(m.uploads), counts: c, objBytes: 100 * float64(rate), model: m,
				lagMax: bound/2 + 10*time.Millisecond, lagP99: bound / 2, gap: bound / 2})
		}
	}
	out := renderCost(s, benchkit.System{}, &results{cost: []*costJob{j}}, "-suites cost")
	for _, want := range []string{
		"#### Requests counted (file://)", "#### The model against the counts (file://)", "#### Per hour and per month with the default options (file://)",
		"#### Compaction schedules: requests $ per month (file://)", "as of March 2026", "| 10,000 | 3 s / 15 s / 45 s (scaled) |", "Cheapest overall",
		"#### IdleShipInterval at 10 and 1,000 events/s: requests, cost and lag (file://)", "| 10 | 1m0s | 1m0s |",
		"| IdleShipInterval lag never past its bound (max lag ≤ bound, in every run) | 4 runs;", "| yes |", "Saving at 10 events/s, IdleShipInterval 10s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	readme := filepath.Join(t.TempDir(), "README.md")
	text := "# B\n\n" + beginMarker + "\nlag\n" + endMarker + "\n\n" + costBeginMarker + "\nold\n" + costEndMarker + "\n\nafter\n"
	if err := os.WriteFile(readme, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s.readme = readme
	if err := writeSection(s, costReadme, suiteCost, renderCost(s, benchkit.System{}, &results{cost: []*costJob{j}}, ""), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.Contains(got, beginMarker+"\nlag\n"+endMarker) || strings.Contains(got, "\nold\n") || !strings.HasSuffix(got, costEndMarker+"\n\nafter\n") ||
		!strings.Contains(got, "#### Compaction schedules") {
		t.Errorf("README after writeCost:\n%s", got)
	}
}

// TestCostFlags checks -suites cost and -cost-duration.
func TestCostFlags(t *testing.T) {
	s, err := parseFlags([]string{"-suites", "cost,lag", "-cost-duration", "2m"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.suite(suiteCost) || !s.suite(suiteLag) || s.costDuration != 2*time.Minute {
		t.Errorf("%+v", s)
	}
	if s, _ := parseFlags([]string{"-quick"}); s.costDuration != quickCostDuration || s.suite(suiteCost) {
		t.Errorf("-quick: cost duration %v, suites %v", s.costDuration, s.suites)
	}
	if _, err := parseFlags([]string{"-cost-duration", "10ms"}); err == nil || !strings.Contains(err.Error(), "-cost-duration") {
		t.Errorf("-cost-duration 10ms: %v", err)
	}
}

// TestCostSmoke runs the cost suite end to end on file:// with 1 s runs
// into a copy of a README: it must write its section and leave the other
// suites' alone. The numbers are not checked (the model's tests above
// check the arithmetic; the runs' counts move with the wall clock).
func TestCostSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an archiver against a log on disk")
	}
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	text := "# B\n\n" + beginMarker + "\nlag\n" + endMarker + "\n\n" + costBeginMarker + "\nold\n" + costEndMarker + "\n"
	if err := os.WriteFile(readme, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := parseFlags([]string{"-suites", "cost", "-stores", "file", "-cost-duration", "1s", "-dir", dir, "-readme", readme})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := execute(context.Background(), s, "-suites cost", &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); !strings.Contains(got, beginMarker+"\nlag\n"+endMarker) || strings.Contains(got, "\nold\n") || !strings.Contains(got, "#### The model against the counts") {
		t.Errorf("README:\n%s", got)
	}
}
