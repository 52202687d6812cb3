// Command ctl is an operator's tool for a continuity archive (snapshots
// and WAL in one bucket): what can be restored, verify, restore to a point
// in time, retention, key slots.
//
//	go run ./examples/ctl -archive file:///var/lib/app/archive -key-file /var/lib/app/archive.key window
//	ctl ... snapshots                      # list, newest last
//	ctl ... verify [-read-data]            # snapshots (quick or every byte) and the WAL archive (consistent, valid, PITR)
//	ctl ... restore -time 2026-11-25T10:04:05Z -out state.bin
//	                                       # the newest base snapshot at or before the time into state.bin, and
//	                                       # the events after it up to the time into state.bin.events.jsonl
//	                                       # (both written whole or not at all, mode 0600; -force to replace)
//	ctl ... forget -window 720h -daily 7 -weekly 4 -monthly 12 -yearly 10 [-dry-run]
//	ctl ... prune [-dry-run]
//	ctl ... keys list | keys add -passphrase-env NEW | keys remove -slot ID
//
// The key comes from -key-file (32 raw bytes, as a Node makes) or
// -passphrase-env VAR. -json prints JSON for scripts. Long operations
// show a progress bar on stderr when it is a terminal (else a line as
// each ends).
//
// Exit status, for scripts:
//
//	0  done (verify: nothing wrong)
//	1  the command could not run: the bucket, the key, a file
//	2  usage: a wrong flag or command, or restore -out naming an existing
//	   file (without -force), a symbolic link or a directory
//	3  verify found problems, each printed on its own line
//	4  restore: the target cannot be restored (outside the window, or
//	   the archive's newest records are missing); window says what can
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ctl:", err)
		os.Exit(exitCode(err))
	}
}

// Exit codes (see the package documentation).
const (
	exitFailed     = 1
	exitUsage      = 2
	exitProblems   = 3
	exitNotInRange = 4
)

// exitError carries the exit status for err.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the process's exit status for an error run returned.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}

// usage marks err as a usage error.
func usage(err error) error { return &exitError{exitUsage, err} }

// env is what every command gets.
type env struct {
	repo     *snapshot.Repo
	out      io.Writer
	asJSON   bool
	progress *meter
}

func (e env) print(v any, human func()) error {
	if e.asJSON {
		enc := json.NewEncoder(e.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	human()
	return nil
}

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(errOut)
	archive := fs.String("archive", "", "bucket URL of the archive (file:///..., s3://...)")
	keyFile := fs.String("key-file", "", "file holding the 32-byte raw key")
	passEnv := fs.String("passphrase-env", "", "environment variable holding the passphrase")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	if *archive == "" || fs.NArg() == 0 {
		return usage(errors.New("usage: ctl -archive URL (-key-file F | -passphrase-env VAR) [-json] COMMAND (window, snapshots, verify, restore, forget, prune, keys)"))
	}
	switch fs.Arg(0) {
	case "window", "snapshots", "verify", "restore", "forget", "prune", "keys":
	default:
		return usage(fmt.Errorf("unknown command %q (window, snapshots, verify, restore, forget, prune, keys)", fs.Arg(0)))
	}
	keys, err := keyProvider(*keyFile, *passEnv)
	if err != nil {
		return err
	}
	// file:// (and local://) through localblob, as the Node writes it:
	// what ctl writes (prune, forget, keys) is fsynced too.
	b, err := localblob.Open(ctx, *archive)
	if err != nil {
		return err
	}
	defer b.Close()
	progress := newMeter(errOut)
	defer progress.finish()
	repo, err := snapshot.Open(ctx, b, keys, snapshot.Options{Progress: progress.snapshot})
	if errors.Is(err, snapshot.ErrWrongKey) {
		return wrongKey(ctx, b, err)
	}
	if err != nil {
		return err
	}
	defer repo.Close()
	e := env{repo: repo, out: out, asJSON: *asJSON, progress: progress}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "window":
		return cmdWindow(ctx, e)
	case "snapshots":
		return cmdSnapshots(ctx, e)
	case "verify":
		return cmdVerify(ctx, e, rest)
	case "restore":
		return cmdRestore(ctx, e, rest)
	case "forget":
		return cmdForget(ctx, e, rest)
	case "prune":
		return cmdPrune(ctx, e, rest)
	case "keys":
		return cmdKeys(ctx, e, rest)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// wrongKey says what opens the archive when the key given does not: the
// key slots, readable without a key, or that there are none (keys/ empty
// or damaged: no key can open the archive as it is).
func wrongKey(ctx context.Context, b *blob.Bucket, err error) error {
	in, ierr := snapshot.Inspect(ctx, b)
	switch {
	case ierr != nil:
		return err
	case len(in.Slots) == 0:
		return fmt.Errorf("the archive has no readable key slot (%d damaged; keys/ is empty or damaged), so no key opens it as it is: restore its keys/ objects from a copy of the archive", in.Damaged)
	}
	return fmt.Errorf("%w; the archive opens with: %s", err, in)
}

func keyProvider(keyFile, passEnv string) (snapshot.KeyProvider, error) {
	switch {
	case keyFile != "":
		k, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, err
		}
		if len(k) != 32 {
			return nil, fmt.Errorf("%s holds %d bytes, want 32", keyFile, len(k))
		}
		return snapshot.RawKey([32]byte(k)), nil
	case passEnv != "":
		p := os.Getenv(passEnv)
		if p == "" {
			return nil, fmt.Errorf("$%s is empty", passEnv)
		}
		return snapshot.Passphrase(p), nil
	}
	return nil, usage(errors.New("give -key-file or -passphrase-env"))
}

func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// windowView is the window as ctl prints it in JSON: errors as text.
type windowView struct {
	Earliest    time.Time   `json:"earliest"`
	Latest      time.Time   `json:"latest"`
	EarliestLSN uint64      `json:"earliest_lsn"`
	LatestLSN   uint64      `json:"latest_lsn"`
	Timeline    string      `json:"timeline"`
	Snapshots   int         `json:"snapshots"`
	Ranges      []rangeView `json:"ranges"`
	Gaps        []string    `json:"gaps,omitempty"`
	Cut         string      `json:"cut,omitempty"`
	HeadLSN     uint64      `json:"head_lsn"`
	HeadWritten time.Time   `json:"head_written"`
	Unverified  string      `json:"unverified,omitempty"`
}

// rangeView is one restorable range in JSON.
type rangeView struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	FromLSN uint64    `json:"from_lsn"`
	ToLSN   uint64    `json:"to_lsn"`
	Base    string    `json:"base,omitempty"`
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func viewOf(w archive.Window) windowView {
	v := windowView{Earliest: w.Earliest, Latest: w.Latest, EarliestLSN: uint64(w.EarliestLSN), LatestLSN: uint64(w.LatestLSN),
		Timeline: w.Timeline, Snapshots: w.Snapshots, Cut: errText(w.Cut), HeadLSN: uint64(w.HeadLSN),
		HeadWritten: w.HeadWritten, Unverified: errText(w.Unverified)}
	for _, r := range w.Ranges {
		rv := rangeView{From: r.From, To: r.To, FromLSN: uint64(r.FromLSN), ToLSN: uint64(r.ToLSN)}
		if !r.Base.IsZero() {
			rv.Base = r.Base.String()
		}
		v.Ranges = append(v.Ranges, rv)
	}
	for _, g := range w.Gaps {
		v.Gaps = append(v.Gaps, g.Error())
	}
	return v
}

// printWindow prints what can be restored: each range, the holes between
// them, a cut tail and the newest head.
func printWindow(out io.Writer, w archive.Window) {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	fmt.Fprintf(out, "restorable from %s (LSN %d) to %s (LSN %d)\ntimeline: %s\nbase snapshots in the window: %d\n",
		ts(w.Earliest), w.EarliestLSN, ts(w.Latest), w.LatestLSN, w.Timeline, w.Snapshots)
	if len(w.Ranges) > 1 {
		fmt.Fprintf(out, "%d ranges (records are missing between them):\n", len(w.Ranges))
		for _, r := range w.Ranges {
			fmt.Fprintf(out, "  %s to %s (LSN %d to %d)\n", ts(r.From), ts(r.To), r.FromLSN, r.ToLSN)
		}
	}
	for _, g := range w.Gaps {
		fmt.Fprintln(out, "gap:", g)
	}
	if !w.HeadWritten.IsZero() {
		fmt.Fprintf(out, "newest head: LSN %d, written %s (%s ago)\n", w.HeadLSN, ts(w.HeadWritten), time.Since(w.HeadWritten).Round(time.Second))
	}
	if w.Cut != nil {
		fmt.Fprintln(out, "warning: the archive's newest records are missing; restoring the latest state fails until you name an earlier target:", w.Cut)
	}
	if w.Unverified != nil {
		fmt.Fprintln(out, "warning: a range ends early because an object does not authenticate (run verify):", w.Unverified)
	}
}

func cmdWindow(ctx context.Context, e env) error {
	w, err := archive.Restorable(ctx, e.repo)
	if err != nil {
		return err
	}
	return e.print(viewOf(w), func() { printWindow(e.out, w) })
}

func cmdSnapshots(ctx context.Context, e env) error {
	ms, err := e.repo.List(ctx)
	if err != nil {
		return err
	}
	type row struct {
		ID    string    `json:"id"`
		Time  time.Time `json:"time"`
		LSN   uint64    `json:"lsn"`
		Epoch uint64    `json:"epoch"`
		Tags  []string  `json:"tags"`
		Size  int64     `json:"size"`
	}
	var rows []row
	for _, m := range ms {
		rows = append(rows, row{m.ID.String(), m.Time, m.LSN, m.Epoch, m.Tags, m.Size})
	}
	return e.print(rows, func() {
		fmt.Fprintf(e.out, "%-8s  %-24s  %10s  %5s  %10s  %s\n", "ID", "time (UTC)", "LSN", "epoch", "size", "tags")
		for _, r := range rows {
			fmt.Fprintf(e.out, "%-8s  %-24s  %10d  %5d  %10s  %s\n", r.ID[:8], r.Time.UTC().Format("2006-01-02 15:04:05.000"), r.LSN, r.Epoch, size(r.Size), strings.Join(r.Tags, ","))
		}
	})
}

// problemView is one problem as verify prints it.
type problemView struct {
	Object string `json:"object"`
	LSN    uint64 `json:"lsn,omitempty"`
	What   string `json:"what"`
	Costs  string `json:"costs,omitempty"`
}

func (p problemView) String() string {
	s := "PROBLEM " + p.Object
	if p.LSN != 0 {
		s += fmt.Sprintf(" (LSN %d)", p.LSN)
	}
	s += ": " + p.What
	if p.Costs != "" {
		s += "; costs: " + p.Costs
	}
	return s
}

func cmdVerify(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	readData := fs.Bool("read-data", false, "read and check every stored byte of the snapshots")
	decode := fs.Bool("decode", false, "also decode every WAL record and recompute the chain (CPU-bound; every byte is authenticated without it)")
	levelName := fs.String("level", "pitr", "how deeply to check the WAL archive: consistent (the listing and anchors), valid (also read every object), pitr (also every base snapshot reaches the newest record)")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	levels := map[string]archive.VerifyLevel{"consistent": archive.VerifyConsistent, "valid": archive.VerifyValid, "pitr": archive.VerifyPITR}
	level, ok := levels[*levelName]
	if !ok {
		return usage(fmt.Errorf("verify: -level %q: want consistent, valid or pitr", *levelName))
	}
	rep, err := e.repo.Verify(ctx, snapshot.VerifyOptions{ReadData: *readData})
	if err != nil {
		return err
	}
	arep, err := archive.VerifyWith(ctx, e.repo, level, archive.VerifyOptions{Progress: e.progress.verify, Decode: *decode})
	e.progress.finish()
	if err != nil {
		return err
	}
	var problems []problemView
	seen := map[string]bool{} // objects the snapshot check named already
	for _, p := range rep.Problems {
		problems = append(problems, problemView{Object: p.Object, What: p.Err.Error()})
		seen[p.Object] = true
	}
	for _, p := range arep.Problems {
		var oe *archive.ObjectError
		if errors.As(p, &oe) && seen[oe.Object] {
			// A damaged manifest: say what it costs on the line
			// already printed.
			for i := range problems {
				if problems[i].Object == oe.Object && problems[i].Costs == "" {
					problems[i].Costs = oe.Cost
				}
			}
			continue
		}
		if errors.As(p, &oe) {
			what := strings.TrimPrefix(oe.Err.Error(), "archive: ")
			if oe.Detail != "" {
				what += ": " + oe.Detail
			}
			problems = append(problems, problemView{Object: oe.Object, LSN: uint64(oe.LSN), What: what, Costs: oe.Cost})
		} else {
			problems = append(problems, problemView{Object: "?", What: p.Error()})
		}
	}
	for _, id := range arep.Unreachable {
		problems = append(problems, problemView{Object: "snapshots/" + id.String(), What: "this base snapshot cannot reach the newest record", Costs: "restores from it stop at the first gap after it"})
	}
	result := map[string]any{"snapshots": rep.Snapshots, "packs": rep.Packs, "bytes_read": rep.BytesRead,
		"wal_objects": arep.Objects, "wal_read": arep.Read, "wal_bytes_read": arep.Bytes, "wal_first_lsn": arep.First, "wal_last_lsn": arep.Last,
		"pin_lsn": arep.PinLSN, "head_lsn": arep.HeadLSN, "head_written": arep.HeadWritten, "level": *levelName,
		"window": viewOf(arep.Window), "problems": problems, "ok": len(problems) == 0}
	if err := e.print(result, func() {
		fmt.Fprintf(e.out, "snapshots: %d, packs: %d, %s read\nWAL archive (%s): %d objects, LSN %d to %d, timeline %s; %d objects read (%s) in %v\n",
			rep.Snapshots, rep.Packs, size(rep.BytesRead), *levelName, arep.Objects, arep.First, arep.Last, arep.Timeline, arep.Read, size(arep.Bytes), arep.Duration.Round(time.Millisecond))
		if arep.PinLSN != 0 {
			fmt.Fprintf(e.out, "first record kept (pin): LSN %d\n", arep.PinLSN)
		}
		if !arep.HeadWritten.IsZero() {
			fmt.Fprintf(e.out, "newest head: LSN %d, written %s (%s ago)\n", arep.HeadLSN, arep.HeadWritten.UTC().Format(time.RFC3339), time.Since(arep.HeadWritten).Round(time.Second))
		}
		for _, p := range problems {
			fmt.Fprintln(e.out, p)
		}
		if len(problems) == 0 {
			fmt.Fprintln(e.out, "no problems")
		} else {
			fmt.Fprintln(e.out, "what still restores:")
			printWindow(e.out, arep.Window)
		}
	}); err != nil {
		return err
	}
	if len(problems) > 0 {
		return &exitError{exitProblems, fmt.Errorf("verify found %d problem(s)", len(problems))}
	}
	return nil
}

// exporter is the StateMachine restore writes through: the base
// snapshot's bytes to one file, the replayed events to another.
type exporter struct {
	state  io.Writer
	events *json.Encoder
	n      int
	err    error // the first failure to write an output file (a full disk)
}

func (x *exporter) Restore(r io.Reader) error {
	_, err := io.Copy(x.state, r)
	if err != nil && x.err == nil {
		x.err = err
	}
	return err
}
func (x *exporter) Snapshot(io.Writer) error { return errors.New("not a state") }
func (x *exporter) Apply(rec wal.Record) error {
	x.n++
	err := x.events.Encode(struct {
		LSN   wal.LSN   `json:"lsn"`
		Epoch uint64    `json:"epoch"`
		Time  time.Time `json:"time"`
		Data  []byte    `json:"data"`
	}{rec.LSN, rec.Epoch, rec.Time, rec.Data})
	if err != nil && x.err == nil {
		x.err = err
	}
	return err
}

func cmdRestore(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	at := fs.String("time", "", "RFC 3339 time to restore (default: the newest state)")
	lsn := fs.Uint64("lsn", 0, "LSN to restore instead of a time")
	outPath := fs.String("out", "", "file for the base snapshot's state (events go to FILE.events.jsonl); written whole or not at all, mode 0600")
	force := fs.Bool("force", false, "replace -out and its events file if they exist")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	if *outPath == "" {
		return usage(errors.New("restore: -out FILE is required"))
	}
	if *at != "" && *lsn != 0 {
		return usage(errors.New("restore: give -time or -lsn, not both"))
	}
	var target archive.Target
	if *at != "" {
		t, err := time.Parse(time.RFC3339Nano, *at)
		if err != nil {
			return usage(fmt.Errorf("restore: -time %q is not an RFC 3339 time (e.g. 2026-12-04T21:30:00Z)", *at))
		}
		target = archive.AtTime(t)
	} else if *lsn != 0 {
		target = archive.AtLSN(wal.LSN(*lsn))
	}
	sf, err := createOut(*outPath, *force)
	if err != nil {
		return err
	}
	ef, err := createOut(*outPath+".events.jsonl", *force)
	if err != nil {
		sf.abort()
		return err
	}
	x := &exporter{state: sf, events: json.NewEncoder(ef)}
	res, err := archive.RestoreTo(ctx, e.repo, target, x, archive.RestoreOptions{Progress: e.progress.restore})
	e.progress.finish()
	if err != nil {
		sf.abort()
		ef.abort()
		if x.err != nil { // what the archive reports as the state machine's failure
			return fmt.Errorf("restore: writing the output failed, nothing was kept: %w", x.err)
		}
	}
	if errors.Is(err, archive.ErrOutOfWindow) || errors.Is(err, archive.ErrGap) && res.Records == 0 && res.Snapshot.IsZero() {
		return &exitError{exitNotInRange, fmt.Errorf("%w (ctl window shows what can be restored)", err)}
	}
	if err != nil {
		return err
	}
	// The events first: a state file never stands without its events.
	if err := ef.commit(); err != nil {
		sf.abort()
		return err
	}
	if err := sf.commit(); err != nil {
		return err
	}
	return e.print(res, func() {
		fmt.Fprintf(e.out, "restored %s: base snapshot %s (LSN %d) into %s, %d events after it into %s.events.jsonl; state as of LSN %d (%s), in %v\n",
			target, res.Snapshot.Short(), res.SnapshotLSN, *outPath, res.Records, *outPath, res.LSN, res.Time.UTC().Format(time.RFC3339Nano), res.Duration.Round(time.Millisecond))
	})
}

func cmdForget(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("forget", flag.ContinueOnError)
	window := fs.Duration("window", 35*24*time.Hour, "point-in-time window to keep whole")
	var p snapshot.Policy
	fs.IntVar(&p.Daily, "daily", 7, "daily snapshots kept beyond the window")
	fs.IntVar(&p.Weekly, "weekly", 4, "weekly")
	fs.IntVar(&p.Monthly, "monthly", 12, "monthly")
	fs.IntVar(&p.Yearly, "yearly", 10, "yearly")
	dry := fs.Bool("dry-run", false, "only say what would go")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	res, err := archive.ApplyRetention(ctx, e.repo, archive.RetentionPolicy{Window: *window, Keep: p}, *dry)
	if err != nil {
		return err
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	return e.print(res, func() {
		fmt.Fprintf(e.out, "window from %s; kept %d snapshots, %s %d; %s %d WAL objects (up to LSN %d); run prune to free the snapshots' data\n",
			res.WindowStart.UTC().Format(time.RFC3339), len(res.Kept), verb, len(res.Removed), verb, len(res.DeletedObjects), res.CutLSN)
	})
}

func cmdPrune(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	dry := fs.Bool("dry-run", false, "only say what would go")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	st, err := e.repo.Prune(ctx, snapshot.PruneOptions{DryRun: *dry})
	if err != nil {
		return err
	}
	return e.print(st, func() { fmt.Fprintf(e.out, "%+v\n", st) })
}

func cmdKeys(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New("keys list | add -passphrase-env VAR [-label L] | remove -slot ID")
	}
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	passEnv := fs.String("passphrase-env", "", "environment variable holding the new passphrase")
	label := fs.String("label", "ctl", "label of the new slot")
	slot := fs.String("slot", "", "slot ID to remove")
	if err := fs.Parse(args[1:]); err != nil {
		return usage(err)
	}
	switch args[0] {
	case "list":
		ks, err := e.repo.Keys(ctx)
		if err != nil {
			return err
		}
		return e.print(ks, func() {
			for _, k := range ks {
				fmt.Fprintf(e.out, "%s  %+v\n", k.ID, k)
			}
		})
	case "add":
		p := os.Getenv(*passEnv)
		if p == "" {
			return errors.New("keys add: -passphrase-env names an empty variable")
		}
		k, err := e.repo.AddKey(ctx, snapshot.Passphrase(p), *label)
		if err != nil {
			return err
		}
		return e.print(k, func() { fmt.Fprintf(e.out, "added slot %s\n", k.ID) })
	case "remove":
		if err := e.repo.RemoveKey(ctx, *slot); err != nil {
			return err
		}
		return e.print(map[string]string{"removed": *slot}, func() { fmt.Fprintf(e.out, "removed slot %s\n", *slot) })
	}
	return fmt.Errorf("keys: unknown subcommand %q", args[0])
}
