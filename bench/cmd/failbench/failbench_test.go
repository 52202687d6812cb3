package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/bench/internal/charttest"
	"github.com/continuity-go/continuity/failover"
)

func TestParseFlags(t *testing.T) {
	s, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.trials != 30 || s.wanTrials != 5 || s.profile != profileBoth || !s.lan() || !s.wan() || s.seed != 1 || s.quick {
		t.Errorf("defaults %+v", s)
	}
	s, err = parseFlags([]string{"-quick", "-wantrials", "2", "-profile", "lan"})
	if err != nil {
		t.Fatal(err)
	}
	if s.trials != quickTrials || s.wanTrials != 2 || !s.lan() || s.wan() {
		t.Errorf("-quick -wantrials 2 -profile lan: %+v", s)
	}
	_, err = parseFlags([]string{"-trials", "0", "-wantrials", "0", "-profile", "lte"})
	for _, flag := range []string{"-trials", "-wantrials", "-profile"} {
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("bad flags gave %v, want an error naming %s", err, flag)
		}
	}
	if _, err := parseFlags([]string{"extra"}); err == nil {
		t.Error("an argument was accepted")
	}
}

func TestReplaceBlock(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            bool
	}{
		{"replace", "a\n" + beginMarker + "\nold\n" + endMarker + "\nb\n", "a\n" + beginMarker + "\nnew\n" + endMarker + "\nb\n", false},
		{"append", "# T\n", "# T\n\n" + sectionHeading + "\n\n" + beginMarker + "\nnew\n" + endMarker + "\n", false},
		{"reversed", endMarker + beginMarker, "", true},
		{"begin only", beginMarker, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replaceBlock(tc.in, "new\n")
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestCheckAcks: the check of the acknowledged writes is not blind. A
// write above the fork of a later epoch is lost, an epoch written by two
// nodes and a write of an older epoch after a newer one are split brain.
func TestCheckAcks(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	timeline := []failover.TimelineEntry{{Epoch: 1, Fork: 0, Primary: "n1"}, {Epoch: 2, Fork: 3, Primary: "n2"}}
	good := []ack{{"n1", 1, 1, at(0)}, {"n1", 1, 2, at(1)}, {"n1", 1, 3, at(2)}, {"n2", 2, 4, at(500)}, {"n2", 2, 5, at(501)}}
	s := checkAcks(good, timeline, map[uint64]bool{})
	if s.violations() != 0 || s.lost != 0 || s.acks != 5 || s.gapN != 3 || s.gaps != 3*time.Millisecond {
		t.Errorf("a clean history gave %+v", s)
	}
	lost := append(good[:3:3], ack{"n1", 1, 4, at(3)}, ack{"n2", 2, 4, at(500)})
	if s := checkAcks(lost, timeline, map[uint64]bool{}); s.lost != 1 || s.violations() != 0 {
		t.Errorf("a write acknowledged above the next epoch's fork gave %+v", s)
	}
	shared := []ack{{"n1", 1, 1, at(0)}, {"n2", 1, 2, at(1)}, {"n1", 1, 3, at(2)}}
	if s := checkAcks(shared, nil, map[uint64]bool{}); s.sharedEpoch != 1 {
		t.Errorf("an epoch written by two nodes gave %+v", s)
	}
	if s := checkAcks(shared, nil, map[uint64]bool{1: true}); s.sharedEpoch != 0 {
		t.Errorf("an epoch the monitor already counted was counted again: %+v", s)
	}
	late := []ack{{"n1", 1, 1, at(0)}, {"n2", 2, 2, at(1)}, {"n1", 1, 3, at(2)}}
	if s := checkAcks(late, nil, map[uint64]bool{}); s.ackOrder != 1 {
		t.Errorf("a write of epoch 1 after one of epoch 2 gave %+v", s)
	}
}

// TestReport renders a report from made-up results and checks the
// statistics and the targets' verdicts.
func TestReport(t *testing.T) {
	s, err := parseFlags([]string{"-trials", "4", "-wantrials", "1"})
	if err != nil {
		t.Fatal(err)
	}
	trial := func(took time.Duration) failTrial {
		return failTrial{from: "n1", to: "n2", epoch: 2, took: took, election: took / 3, promoted: took - 5*time.Millisecond, writable: took - 2*time.Millisecond,
			safe: safety{samples: 1000, acks: 500, watched: 600 * time.Millisecond, gaps: 499 * time.Millisecond, gapN: 499}}
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	split := trial(ms(450))
	split.safe.twoWriters = 1
	split.warns = map[string]int{"killed: promotion failed": 2}
	res := &results{
		fail: []*failJob{
			{prof: lanProfile, kind: kindLeader, trials: []failTrial{trial(ms(800)), trial(ms(900)), trial(ms(700)), trial(ms(2500))}},
			{prof: lanProfile, kind: kindFollower, trials: []failTrial{trial(ms(500)), split, trial(ms(550)), {from: "n2", stuck: true}}},
			{prof: wanProfile, kind: kindLeader, trials: []failTrial{trial(ms(7000))}},
		},
		switches: []*switchJob{{prof: lanProfile, trials: []switchTrial{
			{pause: ms(60), call: ms(50), after: ms(10)}, {pause: ms(120), call: ms(100), after: ms(20)}, {err: "not caught up"},
		}, safe: safety{acks: 1000, lost: 1}}},
	}
	out := renderReport(s, benchkit.System{}, res, "-trials 4")
	checkCharts(t, res, "fail-failover-lan.png", "fail-failover-wan.png", "fail-switchover.png")
	for _, want := range []string{
		"`go run ./cmd/failbench -trials 4`",
		"| LAN | the Raft leader | 4 | 850 | 2,500 | 700 | 2,500 | 283 | 845 | 848 | 0 | 0 | 0 |",
		"| LAN | not the Raft leader | 4 | 500 | 550 | 450 | 550 | — (the leader lives) | 495 | 498 | 1 | 1 | 0 |",
		"| WAN | the Raft leader | 1 | 7,000 |",
		"| LAN | 3 | 1 | 90.0 | 120 | 60.0 | 120 | 75.0 | 15.0 | 0 | 1 |",
		"| LAN | 4 | 283 | 833 | 233 | 833 |", // the elections of the LAN leader trials
		"| WAN | 1s | 1s | 500ms | 5s | 1s | 1s |",
		"killed: \"promotion failed\" ×2",
		"a write every 1.00 ms, a sample every 0.600 ms; 0 Acknowledge calls failed",
		"| LAN, killed primary the Raft leader: median fail-over ≤ 1s | 0.850 s | yes |",
		"| LAN, killed primary the Raft leader: p99 fail-over ≤ 2s | 2.50 s | no |",
		"| LAN, killed primary not the Raft leader: median fail-over ≤ 1s | 0.500 s, 1 of 4 trials without a new primary | yes |",
		"| LAN, killed primary not the Raft leader: p99 fail-over ≤ 2s | 0.550 s, 1 of 4 trials without a new primary | no |",
		"| split brain: 0 violations in every trial (fail-overs and switchovers, all profiles) | 1 in 12 trials",
		"| lost acknowledged writes: 0 in every trial | 1 of 5,000 acknowledged writes | no |",
		"| LAN switchover write pause < 1s (every switchover) | max 0.120 s, 1 of 3 switchovers failed | no |",
		"2 of 7 target checks met.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestChartsWithoutTimes checks that trials without a time (no new
// primary, a failed switchover) draw no chart, and that a profile without
// trials draws none.
func TestChartsWithoutTimes(t *testing.T) {
	stuck := &results{fail: []*failJob{{prof: lanProfile, kind: kindLeader, trials: []failTrial{{stuck: true}}}},
		switches: []*switchJob{{prof: lanProfile, trials: []switchTrial{{err: "not caught up"}}}}}
	checkCharts(t, stuck)
	stuck.fail = append(stuck.fail, &failJob{prof: lanProfile, kind: kindFollower, trials: []failTrial{{took: time.Second}}})
	checkCharts(t, stuck, "fail-failover-lan.png")
}

// checkCharts draws the charts of res into a temporary directory and
// checks that exactly the files named are drawn, PNGs, and linked from
// the Markdown under the charts heading; and that without -charts
// nothing is drawn.
func checkCharts(t *testing.T, res *results, files ...string) {
	t.Helper()
	charttest.Check(t, func(cs *benchkit.Charts) (string, error) { return drawCharts(cs, res) }, files...)
}

// TestFailbenchSmoke runs the command's logic end to end with the LAN
// profile and two trials of each kind, writing into a copy of a README,
// so that the harness cannot rot between full runs. The times are not
// checked: timings never decide whether a test passes.
func TestFailbenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Raft clusters for about ten seconds")
	}
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# Benchmarks\n\n"+beginMarker+"\nold\n"+endMarker+"\n\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := parseFlags([]string{"-profile", "lan", "-trials", "2", "-dir", dir, "-readme", readme, "-charts", filepath.Join(dir, "charts")})
	if err != nil {
		t.Fatal(err)
	}
	var out, progress strings.Builder
	if err := execute(context.Background(), s, "-profile lan -trials 2", &out, &progress); err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"| LAN | the Raft leader | 2 |", "| LAN | not the Raft leader | 2 |",
		"#### Switchover write pause", "| LAN | 2 |",
		"#### Raft election alone", "#### Timing profiles", "| LAN | 150ms | 150ms | 100ms | 500ms | 100ms | 100ms |",
		"#### Targets", "LAN, killed primary not the Raft leader: p99 fail-over ≤ 2s", "split brain: 0 violations in every trial",
		"lost acknowledged writes: 0 in every trial", "LAN switchover write pause < 1s", "of 7 target checks met.",
		"#### Charts", "](charts/fail-failover-lan.png)", "](charts/fail-switchover.png)",
		endMarker + "\n\nafter\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README lacks %q:\n%s", want, text)
		}
	}
	for _, f := range []string{"fail-failover-lan.png", "fail-switchover.png"} {
		if _, err := os.Stat(filepath.Join(dir, "charts", f)); err != nil {
			t.Errorf("chart not drawn: %v", err)
		}
	}
	if strings.Contains(text, "\nold\n") || strings.Contains(text, "| WAN |") || !strings.Contains(out.String(), "#### Fail-over") {
		t.Errorf("report not written in place, or with WAN rows:\n%s", text)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "failbench-") {
			t.Errorf("work directory %s left behind", e.Name())
		}
	}
	t.Log(progress.String())
}
