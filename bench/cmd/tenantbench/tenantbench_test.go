package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/tenant"
)

func TestParseFlags(t *testing.T) {
	s, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.runs != 5 || s.duration != 3*time.Second || s.slices != 3 || s.tenants != 10_000 || !slices.Equal(s.writers, []int{1, 64}) ||
		!slices.Equal(s.sizes, []int{128, 4096}) || !slices.Equal(s.suites, allSuites) {
		t.Errorf("defaults %+v", s)
	}
	s, err = parseFlags([]string{"-quick", "-runs", "2", "-suites", "scale, append"})
	if err != nil {
		t.Fatal(err)
	}
	if s.runs != 2 || s.duration != quickDuration || s.warmup != quickWarmup || s.tenants != quickTenants || !slices.Equal(s.suites, allSuites) {
		t.Errorf("-quick -runs 2: %+v", s)
	}
	_, err = parseFlags([]string{"-runs", "0", "-duration", "1ms", "-warmup", "-1s", "-slices", "0", "-writers", "0", "-sizes", "x", "-tenants", "0", "-suites", "wal"})
	for _, flag := range []string{"-runs", "-duration", "-warmup", "-slices", "-writers", "-sizes", "-tenants", "-suites"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("bad flags gave %v, want an error naming %s", err, flag)
		}
	}
}

// TestAppendOrders: every way runs in every round, each first, second
// and third as often over the rounds, and right after each other way as
// often, so that none always follows another.
func TestAppendOrders(t *testing.T) {
	position := map[[2]way]int{}
	follows := map[[2]way]int{}
	for _, order := range appendOrders {
		if len(order) != len(ways) {
			t.Fatalf("order %v, want each of %v once", order, ways)
		}
		for i, w := range order {
			if !slices.Contains(ways, w) || slices.Index(order, w) != i {
				t.Fatalf("order %v, want each of %v once", order, ways)
			}
			position[[2]way{w, way(i)}]++
			if i > 0 {
				follows[[2]way{order[i-1], w}]++
			}
		}
	}
	for _, a := range ways {
		for i := range ways {
			if n := position[[2]way{a, way(i)}]; n != len(appendOrders)/len(ways) {
				t.Errorf("%v at position %d in %d orders", a, i, n)
			}
		}
		for _, b := range ways {
			if n := follows[[2]way{a, b}]; a != b && n != len(appendOrders)/len(ways) {
				t.Errorf("%v right after %v in %d orders", b, a, n)
			}
		}
	}
	// Append of the sealed size writes as many bytes as a seal of a
	// node's first generation, some hundred thousand seals in.
	k := tenant.NewKey(tenant.Tag{1})
	env, err := tenant.Seal(nil, k, tenant.Generation{Epoch: 1, LSN: 77}, 200_000, make([]byte, 128))
	if err != nil {
		t.Fatal(err)
	}
	if got := wayPlainSealedSize.eventSize(128); got != len(env) {
		t.Errorf("the sealed size of 128 B is %d, a sealed event of 128 B %d", got, len(env))
	}
	if wayPlain.eventSize(128) != 128 || waySealed.eventSize(128) != 128 {
		t.Error("Append or AppendTenant appends other than the size")
	}
}

// TestStateRoundTrip: what Snapshot and SnapshotTenant write, Restore and
// RestoreTenant read back.
func TestStateRoundTrip(t *testing.T) {
	a := newState(true)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Apply(continuity.Record{LSN: 1, Data: []byte("plain")}))
	must(a.ApplyTenant("t1", continuity.Record{LSN: 2, Data: []byte("one")}))
	must(a.ApplyTenant("t1", continuity.Record{LSN: 3, Data: []byte("two")}))
	var shared, t1 bytes.Buffer
	must(a.Snapshot(&shared))
	must(a.SnapshotTenant("t1", &t1))
	b := newState(true)
	must(b.ApplyTenant("gone", continuity.Record{LSN: 1, Data: []byte("x")}))
	must(b.Restore(&shared))
	must(b.RestoreTenant("t1", &t1))
	if ev, by := b.tenantTotals("t1"); ev != 2 || by != 6 || !slices.Equal(b.tenants["t1"].Events, []string{"one", "two"}) {
		t.Errorf("t1 restored as %d events of %d bytes: %+v", ev, by, b.tenants["t1"])
	}
	if n, _, _ := b.totals(); n != 1 {
		t.Errorf("%d tenants after Restore and one RestoreTenant, want 1", n)
	}
	if ev, by := b.plain(); ev != 1 || by != 5 {
		t.Errorf("plain events %d of %d bytes, want 1 of 5", ev, by)
	}
	must(b.DropTenant("t1"))
	if n, _, _ := b.totals(); n != 0 {
		t.Errorf("%d tenants after DropTenant", n)
	}
}

// TestTenantbenchSmoke runs both suites end to end in a tiny
// configuration, writing into a copy of a README, so that the harness
// cannot rot between full runs. It checks that the report has its
// tables and rows, not the numbers: timings never decide whether a test
// passes (the suites' own checks that every event reached the state, and
// that every restart restored every tenant, do).
func TestTenantbenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nodes on disk")
	}
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# Benchmarks\n\n"+beginMarker+"\nold\n"+endMarker+"\n\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := parseFlags([]string{"-tenants", "50", "-duration", "100ms", "-warmup", "20ms", "-runs", "1", "-sizes", "128",
		"-dir", dir, "-readme", readme, "-charts", filepath.Join(dir, "charts")})
	if err != nil {
		t.Fatal(err)
	}
	var out, progress strings.Builder
	if err := execute(context.Background(), s, "-tenants 50", &out, &progress); err != nil {
		t.Fatal(err)
	}
	// Each way ran once per configuration (1 and 64 writers).
	for _, w := range ways {
		if n := strings.Count(progress.String(), " writers, "+w.String()+": "); n != 2 {
			t.Errorf("%v ran %d times, want 2:\n%s", w, n, progress.String())
		}
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"#### Append and AppendTenant: events/s", "\n| 128 B | 1 | ", "\n| 128 B | 64 | ",
		fmt.Sprintf("| Append events/s | AppendTenant events/s | Append of the sealed size (+%[1]d B) events/s | AppendTenant ÷ Append | AppendTenant ÷ Append of the sealed size (+%[1]d B) |", sealedOverhead),
		"AppendTenant ÷ Append of the sealed size, per round like AppendTenant ÷ Append, is thus what sealing costs beyond its bytes",
		"#### The machine's limit: AES-256-GCM alone, same run",
		"#### Scale: 50 tenants on one node", "Scaled down from the issue's 10,000 tenants", "\n| 50 | ",
		"| WAL replayed from LSN 1 |", "| from the base snapshot (WAL truncated past it) |",
		"| restarted, WAL replayed |", "| the same after base snapshots |", "| restarted from the base snapshot |",
		"| 1: all tenants |", "| 2: 1 of the tenants changed (1%), one event each |", "| 3: nothing changed |", "| 4: one tenant changed, one event |",
		"| … new chunks as sealed (NewBytes + 16 B each) |", "| StoredBytes (Stats) |",
		"#### Targets",
		"| 128 B events, 1 writer: AppendTenant ≥ 0.95 × Append events/s (median of the rounds) |",
		"| 128 B events, 64 writers: AppendTenant ≥ 0.95 × Append events/s (median of the rounds) |",
		fmt.Sprintf("| 128 B events, 1 writer, not a target: AppendTenant ÷ Append of the sealed size (+%d B) events/s, what sealing costs beyond its bytes (median of the rounds) |", sealedOverhead),
		fmt.Sprintf("| 128 B events, 64 writers, not a target: AppendTenant ÷ Append of the sealed size (+%d B) events/s, what sealing costs beyond its bytes (median of the rounds) |", sealedOverhead),
		"| base snapshot after 1% of 50 tenants changed: StoredBytes ≤ 1.2 × the changed tenants' bytes |",
		"of 3 target checks met.",
		"](charts/tenant-append.png)",
		endMarker + "\n\nafter\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README lacks %q:\n%s", want, text)
		}
	}
	// Two rows per append configuration: events/s and the AES limit.
	if n := strings.Count(text, "\n| 128 B | "); n != 4 {
		t.Errorf("%d rows for 128 B, want 4 (1 and 64 writers, in the append and the limit tables)", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "charts", "tenant-append.png")); err != nil {
		t.Errorf("chart not drawn: %v", err)
	}
	if strings.Contains(text, "\nold\n") || !strings.Contains(out.String(), "#### Targets") {
		t.Errorf("report not written in place:\n%s", text)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tenantbench-") {
			t.Errorf("work directory %s left behind", e.Name())
		}
	}
}
