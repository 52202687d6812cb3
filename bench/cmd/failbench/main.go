// Command failbench measures continuity's automatic fail-over (package
// failover) on loopback: how long a cluster of three coordinators takes
// from the death of its primary to the first write acknowledged by the new
// one, whether the primary was the Raft leader or not; the write pause of
// a planned Switchover; the Raft election alone; and, in every trial,
// whether two nodes could ever write at once or an acknowledged write was
// lost. It prints a Markdown report.
//
// Usage, from the bench module's directory:
//
//	go run ./cmd/failbench [-trials 30] [-wantrials 5] [-profile lan|wan|both] [-dir DIR] [-seed 1] [-readme README.md] [-charts DIR]
//	go run ./cmd/failbench -quick                  # a quick look: 3 trials of each kind, 1 WAN trial
//
// Every fail-over trial starts a fresh cluster: three failover.Open
// coordinators in this process, each with its own directory (Raft log in
// raft-boltdb) and its own listener on 127.0.0.1, speaking Raft over
// mutual TLS 1.3 with certificates the program makes (identities
// continuity://failbench/n1 ... n3 as URI SANs). n1 bootstraps, the others
// join it as voters, SyncMode is on. The log is simulated, written the
// way a sync-mode host writes: every millisecond (or at once when the
// last write took longer) a driver goroutine appends one record on
// whichever node CanWrite, copies it to the standbys (a synchronous
// standby holds a record before it is acknowledged), commits it with
// Acknowledge, checks CanWrite again, and acknowledges it; each node's
// Position reports its LSNs. A monitor polls
// every node's CanWrite and IsLeader every 0.5 ms. At a random moment
// (3 to 5 Renew intervals after the cluster settled) the primary is
// killed with Close; the fail-over time runs from that call to the first
// write the driver has acknowledged on another node. The primary is the
// Raft leader in one kind of trial and not in the other (a Switchover
// after bootstrap arranges either). The switchover trials run in one
// cluster: -trials times, the primary hands over to the next node, and the
// pause runs from the old primary's last acknowledged write to the new
// one's first.
//
// Flags: -trials is the number of LAN trials of each kind of death and of
// switchovers (default 30); -wantrials the number of fail-over trials
// with the WAN profile (default 5, about 15 s each); -profile lan, wan or
// both (default); -seed the seed of the random kill moments; -dir the
// directory for the Raft logs (a temporary directory is made inside it
// and removed; default $TMPDIR); -quick sets -trials 3 -wantrials 1
// unless they are given. With -readme, the report replaces the text
// between <!-- failbench:begin --> and <!-- failbench:end --> in that
// file. With -charts DIR, the program also draws PNG charts into DIR
// (fail-failover-lan.png, fail-failover-wan.png: the distribution of the
// fail-over times per kind of trial; fail-switchover.png: that of the
// switchover pauses) and appends their image links to the report.
//
// The program needs about three and a half minutes with the defaults
// (two and a quarter for the LAN trials, one for the WAN trials); -quick
// takes about thirty seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

func main() { benchkit.Exit("failbench", run()) }

// Profiles, which -profile may name.
const (
	profileLAN  = "lan"
	profileWAN  = "wan"
	profileBoth = "both"
)

// settings are the command-line flags.
type settings struct {
	dir       string
	trials    int // LAN trials of each kind, and LAN switchovers
	wanTrials int // WAN fail-over trials
	profile   string
	seed      uint64
	quick     bool
	readme    string
	charts    string // directory to draw the PNG charts into; "" draws none
}

// lan and wan say whether the profile is to run.
func (s settings) lan() bool { return s.profile == profileLAN || s.profile == profileBoth }
func (s settings) wan() bool { return s.profile == profileWAN || s.profile == profileBoth }

// Defaults, and what -quick sets instead for the flags not given.
const (
	defaultTrials    = 30
	defaultWANTrials = 5
	quickTrials      = 3
	quickWANTrials   = 1
)

func parseFlags(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("failbench", flag.ContinueOnError)
	fs.StringVar(&s.dir, "dir", "", "directory for the coordinators' Raft logs (a temporary directory is made inside it and removed); default $TMPDIR")
	fs.IntVar(&s.trials, "trials", defaultTrials, "LAN trials of each kind of primary death, and LAN switchovers")
	fs.IntVar(&s.wanTrials, "wantrials", defaultWANTrials, "fail-over trials with the WAN profile (the primary is the Raft leader)")
	fs.StringVar(&s.profile, "profile", profileBoth, "timing profiles to measure: lan, wan or both")
	fs.Uint64Var(&s.seed, "seed", 1, "seed of the random kill and switchover moments")
	fs.BoolVar(&s.quick, "quick", false, fmt.Sprintf("a quick look: -trials %d -wantrials %d, unless given", quickTrials, quickWANTrials))
	fs.StringVar(&s.readme, "readme", "", "Markdown file to write the report into, between the failbench markers")
	fs.StringVar(&s.charts, "charts", "", "directory to draw the report's PNG charts into (linked from -readme); none if empty")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if s.quick {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["trials"] {
			s.trials = quickTrials
		}
		if !given["wantrials"] {
			s.wanTrials = quickWANTrials
		}
	}
	var errs []error
	if s.trials < 1 {
		errs = append(errs, fmt.Errorf("-trials %d: need at least 1", s.trials))
	}
	if s.wanTrials < 1 {
		errs = append(errs, fmt.Errorf("-wantrials %d: need at least 1", s.wanTrials))
	}
	switch s.profile {
	case profileLAN, profileWAN, profileBoth:
	default:
		errs = append(errs, fmt.Errorf("-profile %q: want lan, wan or both", s.profile))
	}
	return s, errors.Join(errs...)
}

func run() error { return benchkit.Run(parseFlags, execute) }

// execute measures what s asks for, prints the report to out (progress to
// progress) and writes it into s.readme if set. args are the command's
// arguments, quoted in the report.
func execute(ctx context.Context, s settings, args string, out, progress io.Writer) error {
	cs, err := benchkit.NewCharts(s.charts, s.readme)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp(s.dir, "failbench-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(root)

	sys := benchkit.Gather(root, "failover", "replication", "wal", "internal")
	pk, err := newPKI(nodeIDs()...)
	if err != nil {
		return fmt.Errorf("make certificates: %w", err)
	}
	b := newBencher(s, root, pk, progress)
	res, err := b.all(ctx)
	if err != nil {
		return err
	}
	sys.LoadEnd = benchkit.LoadAverage()
	report := renderReport(s, sys, res, args)
	charts, err := drawCharts(cs, res)
	if err != nil {
		return err
	}
	report += charts
	fmt.Fprint(out, report)
	if s.readme != "" {
		if err := writeReadme(s.readme, report); err != nil {
			return fmt.Errorf("write %s: %w", s.readme, err)
		}
		fmt.Fprintf(progress, "failbench: wrote the report into %s\n", s.readme)
	}
	return nil
}
