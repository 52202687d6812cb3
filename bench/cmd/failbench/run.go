package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/continuity-go/continuity/failover"
)

// profile is a named timing profile.
type profile struct {
	name string // "LAN", "WAN"
	p    failover.Profile
}

var (
	lanProfile = profile{"LAN", failover.LAN}
	wanProfile = profile{"WAN", failover.WAN}
)

// kind is which node dies in a fail-over trial.
type kind int

const (
	kindLeader   kind = iota // the primary is also the Raft leader
	kindFollower             // the primary is a Raft follower; the leader survives
)

func (k kind) label() string {
	if k == kindLeader {
		return "the Raft leader"
	}
	return "not the Raft leader"
}

// failTrial is one fail-over: a primary killed, a new one writing.
type failTrial struct {
	from, to string        // the killed primary, the new one
	epoch    uint64        // the new primary's epoch
	took     time.Duration // kill → first write acknowledged by another node
	election time.Duration // kill → another node is Raft leader (kindLeader; 0 if none was seen)
	promoted time.Duration // kill → the new primary's OnRole (its promotion applied there)
	writable time.Duration // kill → the monitor saw the new primary's CanWrite true
	lastOld  time.Duration // kill → the old primary's last acknowledged write (≤ 0: before the kill)
	stuck    bool          // no other node wrote within waitTimeout
	arranged int           // switchovers made to arrange the kind of trial
	safe     safety
	warns    map[string]int
}

// failJob is the trials of one profile and kind.
type failJob struct {
	prof   profile
	kind   kind
	trials []failTrial
}

// switchTrial is one switchover.
type switchTrial struct {
	from, to string
	pause    time.Duration // the old primary's last acknowledged write → the new one's first
	call     time.Duration // Switchover's call → its return
	after    time.Duration // Switchover's return → the new primary's first acknowledged write
	err      string        // Switchover failed (the old primary resumes)
	leader   bool          // the old primary was the Raft leader
}

// switchJob is a series of switchovers in one cluster.
type switchJob struct {
	prof   profile
	trials []switchTrial
	safe   safety
	warns  map[string]int
}

// results are every measurement of a benchmark run, in report order.
type results struct {
	fail     []*failJob   // LAN leader, LAN follower, WAN leader
	switches []*switchJob // LAN
}

// bencher runs the measurements.
type bencher struct {
	settings
	root     string
	pk       *pki
	progress io.Writer
	rng      *rand.Rand
	clusters int // clusters started, for their directories
	done     int // trials done, for progress
	total    int // trials planned, for progress
}

func newBencher(s settings, root string, pk *pki, progress io.Writer) *bencher {
	return &bencher{settings: s, root: root, pk: pk, progress: progress, rng: rand.New(rand.NewPCG(s.seed, 0xfa11))}
}

// all runs the trials: the LAN fail-overs round by round (one trial of
// each kind per round), the LAN switchovers, then the WAN fail-overs.
func (b *bencher) all(ctx context.Context) (*results, error) {
	res := &results{}
	var lan []*failJob
	if b.lan() {
		lan = []*failJob{{prof: lanProfile, kind: kindLeader}, {prof: lanProfile, kind: kindFollower}}
		res.fail = append(res.fail, lan...)
		res.switches = append(res.switches, &switchJob{prof: lanProfile})
		b.total += 3 * b.trials
	}
	var wan *failJob
	if b.wan() {
		wan = &failJob{prof: wanProfile, kind: kindLeader}
		res.fail = append(res.fail, wan)
		b.total += b.wanTrials
	}
	for r := 1; r <= b.trials && len(lan) > 0; r++ {
		for _, j := range lan {
			if err := b.failTrial(ctx, j, r); err != nil {
				return nil, err
			}
		}
	}
	for _, j := range res.switches {
		if err := b.switchovers(ctx, j, b.trials); err != nil {
			return nil, fmt.Errorf("%s switchovers: %w", j.prof.name, err)
		}
	}
	for r := 1; r <= b.wanTrials && wan != nil; r++ {
		if err := b.failTrial(ctx, wan, r); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// clusterDir makes a fresh directory for a cluster.
func (b *bencher) clusterDir() (string, error) {
	b.clusters++
	dir := filepath.Join(b.root, fmt.Sprintf("cluster-%03d", b.clusters))
	return dir, os.MkdirAll(dir, 0o755)
}

// settle is how long a trial lets a cluster run before it acts: 3 Renew
// intervals (every standby has reported since the last change) and a
// random part of 2 more, so that the kill or the switchover falls at a
// random phase of the renewals and reports.
func (b *bencher) settle(p failover.Profile) time.Duration {
	return 3*p.Renew + time.Duration(b.rng.Int64N(int64(2*p.Renew)))
}

func (b *bencher) failTrial(ctx context.Context, j *failJob, round int) error {
	b.done++
	fmt.Fprintf(b.progress, "[%d/%d] round %d: %s, kill the primary, %s: ", b.done, b.total, round, j.prof.name, j.kind.label())
	tr, err := b.failOnce(ctx, j.prof, j.kind)
	if err != nil {
		fmt.Fprintln(b.progress, "failed")
		return fmt.Errorf("%s fail-over (%s), round %d: %w", j.prof.name, j.kind.label(), round, err)
	}
	j.trials = append(j.trials, tr)
	if tr.stuck {
		fmt.Fprintf(b.progress, "killed %s; no other node wrote within %v", tr.from, waitTimeout(j.prof.p))
	} else {
		fmt.Fprintf(b.progress, "killed %s; %s writes in epoch %d after %v (", tr.from, tr.to, tr.epoch, ms(tr.took))
		if j.kind == kindLeader {
			fmt.Fprintf(b.progress, "new leader %v, ", ms(tr.election))
		}
		fmt.Fprintf(b.progress, "promoted %v, can write %v; old primary's last write %v)", ms(tr.promoted), ms(tr.writable), ms(tr.lastOld))
	}
	fmt.Fprintf(b.progress, "; %d acks (%d Acknowledge failed), split brain %d, lost %d", tr.safe.acks, tr.safe.ackFailed, tr.safe.violations(), tr.safe.lost)
	if tr.arranged > 0 {
		fmt.Fprintf(b.progress, "; %d switchover(s) to arrange", tr.arranged)
	}
	if len(tr.warns) > 0 {
		fmt.Fprintf(b.progress, "; warnings: %s", warnList(tr.warns))
	}
	fmt.Fprintln(b.progress)
	return nil
}

// ms rounds d to 0.1 ms for progress lines.
func ms(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }

// failOnce runs one fail-over trial in a fresh cluster: it arranges for
// the primary to be (or not be) the Raft leader, lets the cluster run,
// kills the primary, and waits for another node to write.
func (b *bencher) failOnce(ctx context.Context, prof profile, k kind) (tr failTrial, err error) {
	dir, err := b.clusterDir()
	if err != nil {
		return tr, err
	}
	defer os.RemoveAll(dir)
	cl, err := startCluster(ctx, b.pk, dir, prof.p)
	if err != nil {
		return tr, err
	}
	defer cl.close()
	timeout := waitTimeout(prof.p)
	var p *node
	for attempt := 1; ; attempt++ {
		if attempt > 10 {
			return tr, fmt.Errorf("the primary did not stay %s for %d tries", k.label(), attempt-1)
		}
		if p, err = cl.waitPrimary(ctx, nil); err != nil {
			return tr, err
		}
		leader := cl.leader()
		if leader != nil && (leader == p) == (k == kindLeader) {
			if err := sleep(ctx, b.settle(prof.p)); err != nil {
				return tr, err
			}
			// Still so after settling (a leader may have changed)?
			if p.isLeader() == (k == kindLeader) {
				if _, ok := p.canWrite(); ok {
					break
				}
			}
			continue
		}
		if tr.arranged == 3 {
			return tr, fmt.Errorf("could not make the primary %s in 3 switchovers", k.label())
		}
		tr.arranged++
		target := leader // kindLeader: hand the primary role to the leader
		if k == kindFollower || leader == nil {
			for _, n := range cl.nodes {
				if n != p && !n.isLeader() {
					target = n
					break
				}
			}
		}
		if target == nil {
			continue
		}
		// Let the target's reports catch up with the log first.
		if err := sleep(ctx, 3*prof.p.Renew); err != nil {
			return tr, err
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		err := p.coord.Load().Switchover(sctx, target.id)
		cancel()
		if err != nil {
			return tr, fmt.Errorf("switchover %s → %s to arrange the trial: %w", p.id, target.id, err)
		}
	}

	tr.from = p.id
	killed := cl.kill(p)
	a, ok := cl.waitAck(ctx, timeout, func(a ack) bool { return a.node != p.id && a.at.After(killed) })
	if ctx.Err() != nil {
		return tr, ctx.Err()
	}
	if !ok {
		tr.stuck = true
	} else {
		tr.to, tr.epoch, tr.took = a.node, a.epoch, a.at.Sub(killed)
		if e, ok := cl.firstEvent(&cl.leaders, killed, p.id); ok && k == kindLeader {
			tr.election = e.at.Sub(killed)
		}
		if e, ok := cl.firstEvent(&cl.primaries, killed, p.id); ok {
			tr.promoted = e.at.Sub(killed)
		}
		if e, ok := cl.firstEvent(&cl.writable, killed, p.id); ok {
			tr.writable = e.at.Sub(killed)
		}
		if old, ok := cl.lastAck(a.at, func(o ack) bool { return o.node == p.id }); ok {
			tr.lastOld = old.at.Sub(killed)
		}
		// Watch the new primary a moment longer.
		if err := sleep(ctx, prof.p.Renew); err != nil {
			return tr, err
		}
	}
	tr.safe, err = cl.check()
	tr.warns = cl.warns.snapshot()
	return tr, err
}

// switchovers runs n switchovers in one cluster: each time, after the
// cluster settled, the primary hands over to the next node (n1 → n2 →
// n3 → n1 ...), and the pause is timed from the old primary's last
// acknowledged write to the new one's first.
func (b *bencher) switchovers(ctx context.Context, j *switchJob, n int) error {
	dir, err := b.clusterDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cl, err := startCluster(ctx, b.pk, dir, j.prof.p)
	if err != nil {
		return err
	}
	defer cl.close()
	timeout := waitTimeout(j.prof.p)
	for i := 1; i <= n; i++ {
		b.done++
		fmt.Fprintf(b.progress, "[%d/%d] switchover %d, %s: ", b.done, b.total, i, j.prof.name)
		p, err := cl.waitPrimary(ctx, nil)
		if err != nil {
			fmt.Fprintln(b.progress, "failed")
			return err
		}
		target := cl.nodes[(slices.Index(cl.nodes, p)+1)%len(cl.nodes)]
		if err := sleep(ctx, b.settle(j.prof.p)); err != nil {
			return err
		}
		tr := switchTrial{from: p.id, to: target.id, leader: p.isLeader()}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err = p.coord.Load().Switchover(sctx, target.id)
		returned := time.Now()
		cancel()
		tr.call = returned.Sub(start)
		if err != nil {
			tr.err = err.Error()
			j.trials = append(j.trials, tr)
			fmt.Fprintf(b.progress, "%s → %s failed after %v: %v\n", p.id, target.id, ms(tr.call), err)
			continue
		}
		a, ok := cl.waitAck(ctx, timeout, func(a ack) bool { return a.node == target.id && a.at.After(start) })
		if !ok {
			fmt.Fprintln(b.progress, "failed")
			return fmt.Errorf("%s did not write within %v of the switchover from %s", target.id, timeout, p.id)
		}
		last, ok := cl.lastAck(a.at, func(o ack) bool { return o.node == p.id })
		if !ok {
			fmt.Fprintln(b.progress, "failed")
			return fmt.Errorf("no write acknowledged by %s before the switchover", p.id)
		}
		tr.pause, tr.after = a.at.Sub(last.at), a.at.Sub(returned)
		j.trials = append(j.trials, tr)
		leader := ""
		if tr.leader {
			leader = " (the leader)"
		}
		fmt.Fprintf(b.progress, "%s%s → %s: pause %v (Switchover returned after %v, the first write %v later)\n",
			p.id, leader, target.id, ms(tr.pause), ms(tr.call), ms(tr.after))
	}
	if err := sleep(ctx, j.prof.p.Renew); err != nil {
		return err
	}
	j.safe, err = cl.check()
	j.warns = cl.warns.snapshot()
	fmt.Fprintf(b.progress, "failbench: %d switchovers: %d acks (%d Acknowledge failed), split brain %d, lost %d\n", n, j.safe.acks, j.safe.ackFailed, j.safe.violations(), j.safe.lost)
	return err
}
