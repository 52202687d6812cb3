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
//	ctl ... forget -window 720h -daily 7 -weekly 4 -monthly 12 -yearly 10 [-dry-run]
//	ctl ... prune [-dry-run]
//	ctl ... keys list | keys add -passphrase-env NEW | keys remove -slot ID
//
// The key comes from -key-file (32 raw bytes, as a Node makes) or
// -passphrase-env VAR. -json prints JSON for scripts. Long operations
// show a progress bar on stderr when it is a terminal (else a line as
// each ends).
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

	_ "gocloud.dev/blob/s3blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ctl:", err)
		os.Exit(1)
	}
}

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
		return err
	}
	if *archive == "" || fs.NArg() == 0 {
		return errors.New("usage: ctl -archive URL (-key-file F | -passphrase-env VAR) [-json] COMMAND (window, snapshots, verify, restore, forget, prune, keys)")
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
	return nil, errors.New("give -key-file or -passphrase-env")
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

func cmdWindow(ctx context.Context, e env) error {
	w, err := archive.Restorable(ctx, e.repo)
	if err != nil {
		return err
	}
	return e.print(w, func() {
		fmt.Fprintf(e.out, "restorable from %s (LSN %d) to %s (LSN %d)\ntimeline: %s\nbase snapshots in the window: %d\n",
			w.Earliest.UTC().Format(time.RFC3339Nano), w.EarliestLSN, w.Latest.UTC().Format(time.RFC3339Nano), w.LatestLSN, w.Timeline, w.Snapshots)
		if w.Unverified != nil {
			fmt.Fprintf(e.out, "warning: a bound of the window comes from an object that does not authenticate; restores that need it fail (run verify): %v\n", w.Unverified)
		}
	})
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

func cmdVerify(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	readData := fs.Bool("read-data", false, "read and check every stored byte")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep, err := e.repo.Verify(ctx, snapshot.VerifyOptions{ReadData: *readData})
	if err != nil {
		return err
	}
	level := archive.VerifyPITR
	arep, err := archive.Verify(ctx, e.repo, level)
	if err != nil {
		return err
	}
	var problems []string
	for _, p := range rep.Problems {
		problems = append(problems, fmt.Sprintf("%s: %v", p.Object, p.Err))
	}
	for _, p := range arep.Problems {
		problems = append(problems, p.Error())
	}
	for _, id := range arep.Unreachable {
		problems = append(problems, fmt.Sprintf("base snapshot %s cannot reach the newest record", id.Short()))
	}
	result := map[string]any{"snapshots": rep.Snapshots, "packs": rep.Packs, "bytes_read": rep.BytesRead,
		"wal_objects": arep.Objects, "wal_first_lsn": arep.First, "wal_last_lsn": arep.Last, "problems": problems, "ok": len(problems) == 0}
	if err := e.print(result, func() {
		fmt.Fprintf(e.out, "snapshots: %d, packs: %d, %s read\nWAL archive: %d objects, LSN %d to %d, timeline %s\n",
			rep.Snapshots, rep.Packs, size(rep.BytesRead), arep.Objects, arep.First, arep.Last, arep.Timeline)
		for _, p := range problems {
			fmt.Fprintln(e.out, "PROBLEM:", p)
		}
		if len(problems) == 0 {
			fmt.Fprintln(e.out, "no problems")
		}
	}); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems", len(problems))
	}
	return nil
}

// exporter is the StateMachine restore writes through: the base
// snapshot's bytes to one file, the replayed events to another.
type exporter struct {
	state  io.Writer
	events *json.Encoder
	n      int
}

func (x *exporter) Restore(r io.Reader) error { _, err := io.Copy(x.state, r); return err }
func (x *exporter) Snapshot(io.Writer) error  { return errors.New("not a state") }
func (x *exporter) Apply(rec wal.Record) error {
	x.n++
	return x.events.Encode(struct {
		LSN   wal.LSN   `json:"lsn"`
		Epoch uint64    `json:"epoch"`
		Time  time.Time `json:"time"`
		Data  []byte    `json:"data"`
	}{rec.LSN, rec.Epoch, rec.Time, rec.Data})
}

func cmdRestore(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	at := fs.String("time", "", "RFC 3339 time to restore (default: the newest state)")
	lsn := fs.Uint64("lsn", 0, "LSN to restore instead of a time")
	outPath := fs.String("out", "", "file for the base snapshot's state (events go to FILE.events.jsonl)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *outPath == "" {
		return errors.New("restore: -out is required")
	}
	var target archive.Target
	if *at != "" {
		t, err := time.Parse(time.RFC3339Nano, *at)
		if err != nil {
			return fmt.Errorf("restore: -time: %w", err)
		}
		target = archive.AtTime(t)
	} else if *lsn != 0 {
		target = archive.AtLSN(wal.LSN(*lsn))
	}
	sf, err := os.Create(*outPath)
	if err != nil {
		return err
	}
	defer sf.Close()
	ef, err := os.Create(*outPath + ".events.jsonl")
	if err != nil {
		return err
	}
	defer ef.Close()
	x := &exporter{state: sf, events: json.NewEncoder(ef)}
	res, err := archive.RestoreTo(ctx, e.repo, target, x, archive.RestoreOptions{Progress: e.progress.restore})
	e.progress.finish()
	if err != nil {
		return err
	}
	if err := sf.Sync(); err != nil {
		return err
	}
	if err := ef.Sync(); err != nil {
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
		return err
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
		return err
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
		return err
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
