package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"github.com/continuity-go/continuity/failover"
)

// The targets, checked in the report (LAN profile, loopback).
const (
	targetMedian = time.Second     // fail-over median at most
	targetP99    = 2 * time.Second // fail-over p99 at most
	targetPause  = time.Second     // every switchover's write pause below
)

// renderReport formats the results as Markdown: the machine and the
// cluster, the fail-over times, the switchover pauses, the Raft election
// and the profiles for context, and the targets.
func renderReport(s settings, sys benchkit.System, res *results, args string) string {
	var b strings.Builder
	cmd := "go run ./cmd/failbench"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "Measured %s with `%s`.\n\n", sys.Date.Format("2006-01-02 15:04 MST"), cmd)
	benchkit.Table(&b, []string{"", ""}, append(sys.Facts(), [][]string{
		{"Cluster", fmt.Sprintf("%d failover coordinators in one process, all Raft voters, each with its own directory (raft-boltdb) on the file system above; n1 bootstraps, the others join through it; Config.SyncMode on", clusterSize)},
		{"Transport", "127.0.0.1, TLS 1.3 with mutual authentication (ECDSA P-256 certificates made by the program, identities continuity://failbench/n1 … n3)"},
		{"Log", logText(res)},
		sys.Load(),
		{"Trials", trialsText(s)},
	}...))

	if len(res.fail) > 0 {
		b.WriteString("\n#### Fail-over: primary killed → first write acknowledged on the new primary\n\n")
		var rows [][]string
		for _, j := range res.fail {
			took := j.durations(func(t failTrial) time.Duration { return t.took })
			rows = append(rows, []string{j.prof.name, j.kind.label(), strconv.Itoa(len(j.trials)),
				msCell(medianOf(took)), msCell(benchkit.Percentile(took, 0.99)), msCell(minOf(took)), msCell(maxOf(took)),
				j.electionCell(), msCell(medianOf(j.durations(func(t failTrial) time.Duration { return t.promoted }))),
				msCell(medianOf(j.durations(func(t failTrial) time.Duration { return t.writable }))),
				strconv.Itoa(j.stuck()), strconv.Itoa(j.safety().violations()), strconv.Itoa(j.safety().lost),
			})
		}
		benchkit.Table(&b, []string{"profile", "killed primary", "trials", "median ms", "p99 ms", "min ms", "max ms", "new Raft leader ms (median)", "new primary told ms (median)", "new primary can write ms (median)", "no new primary", "split-brain violations", "lost acknowledged writes"}, rows)
		fmt.Fprintf(&b, "\nEach trial is a fresh cluster; the primary is killed (Coordinator.Close, which stops its writes at once) at a random moment 3 to 5 Renew intervals after the cluster settled, and the time runs from that call to the first write the driver acknowledged on another node. p99 is the nearest rank: with fewer than 100 trials, the maximum. new Raft leader: from the kill until the monitor saw another node IsLeader (only when the leader was killed). new primary told: until the new primary's OnRole(primary): its promotion applied on it. can write: until the monitor saw its CanWrite true, after it recorded its fork and renewed its lease through Raft; the rest, to the first acknowledged write, is the driver's next write and its Acknowledge (a Raft commit). no new primary: trials in which no other node wrote within the wait (%v LAN, %v WAN); they are left out of the times. split-brain violations: monitor samples in which two nodes could write at once, epochs in which two nodes could write or wrote, and writes acknowledged in an older epoch after a newer one. lost acknowledged writes: acknowledged LSNs above the fork (State.Fork) of a later epoch.\n",
			waitTimeout(failover.LAN), waitTimeout(failover.WAN))
	}

	for _, j := range res.switches {
		b.WriteString("\n#### Switchover write pause\n\n")
		pause := j.durations(func(t switchTrial) time.Duration { return t.pause })
		benchkit.Table(&b, []string{"profile", "switchovers", "failed", "median ms", "p99 ms", "min ms", "max ms", "Switchover call ms (median)", "return → first write ms (median)", "split-brain violations", "lost acknowledged writes"}, [][]string{{
			j.prof.name, strconv.Itoa(len(j.trials)), strconv.Itoa(j.failed()),
			msCell(medianOf(pause)), msCell(benchkit.Percentile(pause, 0.99)), msCell(minOf(pause)), msCell(maxOf(pause)),
			msCell(medianOf(j.durations(func(t switchTrial) time.Duration { return t.call }))),
			msCell(medianOf(j.durations(func(t switchTrial) time.Duration { return t.after }))),
			strconv.Itoa(j.safe.violations()), strconv.Itoa(j.safe.lost),
		}})
		b.WriteString("\nOne cluster; each switchover, 3 to 5 Renew intervals after the last, the primary calls Switchover to the next node (n1 → n2 → n3 → n1 …), whose log the driver keeps caught up. pause: from the old primary's last acknowledged write to the new primary's first. Switchover call: its call to its return (the target's report of the old primary's last LSN reaching the cluster, and the promotion committed); then until the new primary's first acknowledged write. failed: Switchover returned an error (the old primary resumes); left out of the times.\n")
	}

	if rows := electionRows(res); len(rows) > 0 {
		b.WriteString("\n#### Raft election alone (context)\n\n")
		benchkit.Table(&b, []string{"profile", "trials", "median ms", "p99 ms", "min ms", "max ms"}, rows)
		b.WriteString("\nFrom the kill of the primary that was also the Raft leader until the monitor saw another node IsLeader, in the fail-over trials above.\n")
	}

	b.WriteString("\n#### Timing profiles (context)\n\n")
	var rows [][]string
	for _, p := range profilesRun(s) {
		rows = append(rows, []string{p.name, dur(p.p.Heartbeat), dur(p.p.Election), dur(p.p.LeaderLease), dur(p.p.Lease), dur(p.p.Renew), dur(p.p.Margin)})
	}
	benchkit.Table(&b, []string{"profile", "Heartbeat", "Election", "LeaderLease", "Lease", "Renew", "Margin"}, rows)
	b.WriteString("\nfailover.LAN and failover.WAN as the package defines them. On loopback the WAN profile measures what its longer timings cost, not a real WAN's round trips.\n")

	if rows := warnRows(res); len(rows) > 0 {
		b.WriteString("\n#### Coordinator warnings during the trials (context)\n\n")
		benchkit.Table(&b, []string{"trials", "warnings (message ×count)"}, rows)
		b.WriteString("\nWarnings and errors the coordinators logged between the cluster's start and the end of the trial (not while it was closed).\n")
	}

	trows, met, total := targets(res)
	if total > 0 {
		b.WriteString("\n#### Targets\n\n")
		benchkit.Table(&b, []string{"target", "measured", "met?"}, trows)
		fmt.Fprintf(&b, "\n%d of %d target checks met.\n", met, total)
	}
	return b.String()
}

// logText describes the simulated log and the monitor, with the
// intervals they really kept.
func logText(res *results) string {
	all := res.safety()
	text := fmt.Sprintf("simulated, as a sync-mode host writes: every %v (or at once when the last write took longer) the driver appends one LSN on the node whose CanWrite is true, copies it to the live standbys, calls Acknowledge(epoch, LSN) (a Raft commit), asks CanWrite again and acknowledges it; a monitor polls every node's CanWrite and IsLeader every %v", writeEvery, sampleEvery)
	if all.gapN > 0 && all.samples > 0 {
		text += fmt.Sprintf(" (measured means: a write every %s ms, a sample every %s ms; %d Acknowledge calls failed, on dying or deposed primaries)",
			benchkit.Sig3(float64(all.gaps)/float64(all.gapN)/1e6), benchkit.Sig3(float64(all.watched)/float64(all.samples)/1e6), all.ackFailed)
	}
	return text
}

// safety sums every trial's safety counts.
func (res *results) safety() safety {
	var all safety
	for _, j := range res.fail {
		all.add(j.safety())
	}
	for _, j := range res.switches {
		all.add(j.safe)
	}
	return all
}

// trialsText describes the trials for the header.
func trialsText(s settings) string {
	var parts []string
	if s.lan() {
		parts = append(parts, fmt.Sprintf("LAN: %s of each kind, round by round, each in a fresh cluster; %s in one cluster", plural(s.trials, "fail-over"), plural(s.trials, "switchover")))
	}
	if s.wan() {
		parts = append(parts, fmt.Sprintf("WAN: %s of the primary that is the Raft leader, each in a fresh cluster", plural(s.wanTrials, "fail-over")))
	}
	text := strings.Join(parts, "; ") + fmt.Sprintf("; seed %d", s.seed)
	if s.quick {
		text += "; -quick"
	}
	return text
}

// plural says "1 trial" or "3 trials".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// profilesRun are the profiles the settings measure.
func profilesRun(s settings) []profile {
	var out []profile
	if s.lan() {
		out = append(out, lanProfile)
	}
	if s.wan() {
		out = append(out, wanProfile)
	}
	return out
}

// durations returns metric of the trials that found a new primary, sorted.
func (j *failJob) durations(metric func(failTrial) time.Duration) []time.Duration {
	var out []time.Duration
	for _, t := range j.trials {
		if !t.stuck {
			out = append(out, metric(t))
		}
	}
	slices.Sort(out)
	return out
}

func (j *failJob) stuck() int {
	n := 0
	for _, t := range j.trials {
		if t.stuck {
			n++
		}
	}
	return n
}

func (j *failJob) safety() safety {
	var s safety
	for _, t := range j.trials {
		s.add(t.safe)
	}
	return s
}

// electionCell is the median time to a new Raft leader, or why there is
// none.
func (j *failJob) electionCell() string {
	if j.kind != kindLeader {
		return "— (the leader lives)"
	}
	return msCell(medianOf(j.durations(func(t failTrial) time.Duration { return t.election })))
}

// durations returns metric of the switchovers that succeeded, sorted.
func (j *switchJob) durations(metric func(switchTrial) time.Duration) []time.Duration {
	var out []time.Duration
	for _, t := range j.trials {
		if t.err == "" {
			out = append(out, metric(t))
		}
	}
	slices.Sort(out)
	return out
}

// failed counts the switchovers that returned an error.
func (j *switchJob) failed() int {
	n := 0
	for _, t := range j.trials {
		if t.err != "" {
			n++
		}
	}
	return n
}

// electionRows are the Raft elections of the trials that killed the
// leader.
func electionRows(res *results) [][]string {
	var rows [][]string
	for _, j := range res.fail {
		if j.kind != kindLeader {
			continue
		}
		el := j.durations(func(t failTrial) time.Duration { return t.election })
		rows = append(rows, []string{j.prof.name, strconv.Itoa(len(el)),
			msCell(medianOf(el)), msCell(benchkit.Percentile(el, 0.99)), msCell(minOf(el)), msCell(maxOf(el))})
	}
	return rows
}

// warnRows lists the coordinators' warnings per job.
func warnRows(res *results) [][]string {
	var rows [][]string
	for _, j := range res.fail {
		all := map[string]int{}
		for _, t := range j.trials {
			for k, v := range t.warns {
				all[k] += v
			}
		}
		if len(all) > 0 {
			rows = append(rows, []string{fmt.Sprintf("%s fail-overs, killed primary %s", j.prof.name, j.kind.label()), warnList(all)})
		}
	}
	for _, j := range res.switches {
		if len(j.warns) > 0 {
			rows = append(rows, []string{j.prof.name + " switchovers", warnList(j.warns)})
		}
	}
	return rows
}

// targets checks the targets: LAN fail-over median ≤ 1 s and p99
// ≤ 2 s for each kind of death, no split brain and no lost acknowledged
// write in any trial, every switchover's pause below 1 s.
func targets(res *results) (rows [][]string, met, total int) {
	add := func(target, measured string, ok bool) {
		yes := "no"
		if ok {
			yes = "yes"
			met++
		}
		total++
		rows = append(rows, []string{target, measured, yes})
	}
	for _, j := range res.fail {
		if j.prof.name != lanProfile.name {
			continue
		}
		took := j.durations(func(t failTrial) time.Duration { return t.took })
		n, stuck := len(j.trials), j.stuck()
		med, p99 := medianOf(took), benchkit.Percentile(took, 0.99)
		note := ""
		if stuck > 0 {
			note = fmt.Sprintf(", %d of %d trials without a new primary", stuck, n)
		}
		add(fmt.Sprintf("LAN, killed primary %s: median fail-over ≤ %v", j.kind.label(), targetMedian),
			secCell(med)+note, len(took) > 0 && med <= targetMedian && 2*stuck < n)
		add(fmt.Sprintf("LAN, killed primary %s: p99 fail-over ≤ %v", j.kind.label(), targetP99),
			secCell(p99)+note, len(took) > 0 && p99 <= targetP99 && stuck == 0)
	}
	all := res.safety()
	trials := 0
	for _, j := range res.fail {
		trials += len(j.trials)
	}
	for _, j := range res.switches {
		trials += len(j.trials)
	}
	if trials > 0 {
		add("split brain: 0 violations in every trial (fail-overs and switchovers, all profiles)",
			fmt.Sprintf("%d in %d trials (%s monitor samples)", all.violations(), trials, benchkit.Thousands(int64(all.samples))), all.violations() == 0)
		add("lost acknowledged writes: 0 in every trial",
			fmt.Sprintf("%d of %s acknowledged writes", all.lost, benchkit.Thousands(int64(all.acks))), all.lost == 0)
	}
	for _, j := range res.switches {
		pause := j.durations(func(t switchTrial) time.Duration { return t.pause })
		measured := "max " + secCell(maxOf(pause))
		if f := j.failed(); f > 0 {
			measured += fmt.Sprintf(", %d of %d switchovers failed", f, len(j.trials))
		}
		add(fmt.Sprintf("%s switchover write pause < %v (every switchover)", j.prof.name, targetPause),
			measured, len(pause) > 0 && maxOf(pause) < targetPause && j.failed() == 0)
	}
	return rows, met, total
}

// medianOf is the median of sorted (the mean of the middle two for an
// even count), 0 for none.
func medianOf(sorted []time.Duration) time.Duration {
	v := make([]float64, len(sorted))
	for i, d := range sorted {
		v[i] = float64(d)
	}
	return time.Duration(benchkit.StatOf(v).Med)
}

func minOf(sorted []time.Duration) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[0]
}

func maxOf(sorted []time.Duration) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[len(sorted)-1]
}

// msCell formats d in milliseconds, three significant digits.
func msCell(d time.Duration) string { return benchkit.Sig3(float64(d) / 1e6) }

// secCell formats d in seconds, three significant digits.
func secCell(d time.Duration) string { return benchkit.Sig3(d.Seconds()) + " s" }

// dur formats a profile's timing.
func dur(d time.Duration) string { return d.String() }
