package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// exporter is the StateMachine restore writes through: the base
// snapshot's bytes to one writer, the replayed events to another.
type exporter struct {
	state  io.Writer
	events *json.Encoder
	err    error // the first failure to write an output (a full disk)
}

// eventJSON is one replayed event in the events file (JSON lines).
type eventJSON struct {
	LSN   uint64   `json:"lsn"`
	Epoch uint64   `json:"epoch"`
	Time  jsonTime `json:"time"`
	Kind  uint8    `json:"kind"` // 0: the host's event; 1-4: a tenant's record, sealed (package tenant)
	Data  []byte   `json:"data"` // base64
}

// Restore copies the snapshot's bytes to the state file. Only a failure
// to write is the exporter's; a failure to read the snapshot is the
// restore's own, which it reports.
func (x *exporter) Restore(r io.Reader) error {
	_, err := io.Copy(stateWriter{x}, r)
	return err
}

// stateWriter writes to the exporter's state file and records its first
// failure.
type stateWriter struct{ x *exporter }

func (w stateWriter) Write(p []byte) (int, error) {
	n, err := w.x.state.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil && w.x.err == nil {
		w.x.err = err
	}
	return n, err
}
func (x *exporter) Snapshot(io.Writer) error {
	return errors.New("ctl: an exported state cannot be snapshotted")
}
func (x *exporter) Apply(rec wal.Record) error {
	err := x.events.Encode(eventJSON{uint64(rec.LSN), rec.Epoch, jsonTime(rec.Time), uint8(rec.Kind), rec.Data})
	if err != nil && x.err == nil {
		x.err = err
	}
	return err
}

// restoreJSON is ctl restore --json.
type restoreJSON struct {
	TargetTime      jsonTime `json:"target_time"` // null: an LSN or the newest state
	TargetLSN       uint64   `json:"target_lsn"`  // 0: a time or the newest state
	Snapshot        string   `json:"snapshot"`
	SnapshotLSN     uint64   `json:"snapshot_lsn"`
	LSN             uint64   `json:"lsn"`
	Time            jsonTime `json:"time"`
	Events          int64    `json:"events"`
	EventBytes      int64    `json:"event_bytes"`
	Objects         int      `json:"objects"`
	StateFile       string   `json:"state_file"`
	EventsFile      string   `json:"events_file"`
	DurationSeconds float64  `json:"duration_seconds"`
}

// target is what restore, drill and window name: a time, an LSN, or
// nothing (the newest state).
type target struct {
	at    string
	lsn   uint64
	local bool // at named no zone and was read in local time
}

// resolve turns the flags into an archive target.
func (t *target) resolve(a *app) (archive.Target, error) {
	if t.at != "" {
		tm, local, err := parseTime(t.at, a.now(), a.loc)
		if err != nil {
			return archive.Target{}, usage(fmt.Errorf("--time: %w", err))
		}
		t.local = local
		return archive.AtTime(tm), nil
	}
	if t.lsn != 0 {
		return archive.AtLSN(wal.LSN(t.lsn)), nil
	}
	return archive.Target{}, nil
}

// describe says which instant a target is, in local time too when it was
// given so.
func (t target) describe(at archive.Target, loc *time.Location) string {
	if t.local {
		return fmt.Sprintf("as of %s (local time, %s UTC)", at.Time.In(loc).Format("2006-01-02 15:04:05.999999999 MST"), at.Time.UTC().Format(time.RFC3339Nano))
	}
	if at == (archive.Target{}) {
		return "the newest state"
	}
	return at.String()
}

func (t *target) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&t.at, "time", "", "the instant to restore: "+timeForms)
	f.Uint64Var(&t.lsn, "lsn", 0, "the LSN to restore instead of a time")
	cmd.MarkFlagsMutuallyExclusive("time", "lsn")
}

func cmdRestore(a *app) *cobra.Command {
	var (
		t          target
		snapID     string
		tenantID   string
		outPath    string
		eventsPath string
		force      bool
	)
	cmd := &cobra.Command{
		Use:     "restore --out FILE [--time T | --lsn N | --snapshot ID]",
		GroupID: "read",
		Short:   "Restore the state as of a time or LSN into a file (the base snapshot, and the events after it)",
		Long: `restore writes the state as of a point in time: the newest base snapshot at
or before it into --out, and the events after it, up to the target, into
--events (default OUT.events.jsonl; one JSON object per line: lsn, epoch,
time, kind, data in base64; kind 0 is the host's event, 1 to 4 a tenant's
record, sealed). Without --time or --lsn it restores the newest
state; --snapshot restores one base snapshot alone (no events).
--tenant restores one tenant alone: its state from its section of the
base snapshot and its own events, decrypted with its key (a tenant whose
key a customer keeper wraps restores through its Node); a tenant
forgotten since exits 4.

Files are written whole or not at all: to a temporary file beside the
target (mode 0600), synced, then renamed. An existing file is replaced
only with --force; a symbolic link or a directory is refused. --out -
writes the state to stdout (then --events must name a file, unless
--snapshot).`,
		Example: `  ctl restore --time "2026-12-04 21:30:00" --out state.bin
  ctl restore --time -5m --out state.bin --force
  ctl restore --lsn 42000 --out state.bin --events events.jsonl
  ctl restore --snapshot 1f2e3d4c --out - > state.bin
  ctl restore --tenant acme --time -1h --out acme.json`,
		Args: args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			if outPath == "" {
				return usage(errors.New("restore: --out FILE is required (- for stdout)"))
			}
			if cmd.Flags().Changed("tenant") && tenantID == "" {
				return usage(errors.New("restore: --tenant names no tenant"))
			}
			if snapID != "" && (t.at != "" || t.lsn != 0) {
				return usage(errors.New("restore: --snapshot restores one snapshot; give --time or --lsn without it"))
			}
			at, err := t.resolve(a)
			if err != nil {
				return err
			}
			if eventsPath == "" && outPath != "-" {
				eventsPath = outPath + ".events.jsonl"
			}
			if outPath == "-" && eventsPath == "" && snapID == "" {
				return usage(errors.New("restore: with --out - give --events FILE for the events after the base snapshot (or --snapshot ID for a snapshot alone)"))
			}
			if eventsPath == "-" || eventsPath != "" && eventsPath == outPath {
				return usage(errors.New("restore: --events must name a file of its own"))
			}
			ctx := cmd.Context()
			s, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer s.close()
			if snapID != "" {
				return a.restoreSnapshot(ctx, s, snapID, outPath, force)
			}

			if tenantID != "" {
				return a.restoreTenant(ctx, s, t, at, tenantID, outPath, eventsPath, force)
			}
			return a.restoreTo(ctx, s, t, at, outPath, eventsPath, force)
		}),
	}
	t.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&snapID, "snapshot", "", "restore this base snapshot alone (its ID or a unique prefix of it)")
	f.StringVar(&tenantID, "tenant", "", "restore this tenant alone: its state and its events, decrypted")
	f.StringVarP(&outPath, "out", "o", "", "file for the state (- for stdout)")
	f.StringVar(&eventsPath, "events", "", "file for the events after the base snapshot (default OUT.events.jsonl)")
	f.BoolVar(&force, "force", false, "replace the output files if they exist")
	cmd.MarkFlagsMutuallyExclusive("snapshot", "time")
	cmd.MarkFlagsMutuallyExclusive("snapshot", "lsn")
	cmd.MarkFlagsMutuallyExclusive("snapshot", "tenant")
	return cmd
}

// output is where a restore writes one of its files: a temporary file
// renamed into place, or stdout.
type output interface {
	io.Writer
	commit() error
	abort()
}

type stdout struct{ io.Writer }

func (stdout) commit() error { return nil }
func (stdout) abort()        {}

func (a *app) createOutput(path string, force bool) (output, error) {
	if path == "-" {
		return stdout{a.out}, nil
	}
	return createOut(path, force)
}

// restoreFiles are a restore's two outputs: the state and the events
// after it, kept whole or not at all.
type restoreFiles struct{ state, events output }

// createRestoreFiles creates both outputs (eventsPath is set: the flags'
// checks require it without --snapshot).
func (a *app) createRestoreFiles(outPath, eventsPath string, force bool) (restoreFiles, error) {
	sf, err := a.createOutput(outPath, force)
	if err != nil {
		return restoreFiles{}, err
	}
	ef, err := a.createOutput(eventsPath, force)
	if err != nil {
		sf.abort()
		return restoreFiles{}, err
	}
	return restoreFiles{sf, ef}, nil
}

func (f restoreFiles) abort() {
	f.state.abort()
	f.events.abort()
}

// commit keeps both, the events first: a state file never stands
// without its events.
func (f restoreFiles) commit() error {
	if err := f.events.commit(); err != nil {
		f.state.abort()
		return err
	}
	return f.state.commit()
}

func (a *app) restoreTo(ctx context.Context, s *session, t target, at archive.Target, outPath, eventsPath string, force bool) error {
	files, err := a.createRestoreFiles(outPath, eventsPath, force)
	if err != nil {
		return err
	}
	x := &exporter{state: files.state, events: json.NewEncoder(files.events)}
	res, err := archive.RestoreTo(ctx, s.repo, at, x, archive.RestoreOptions{Progress: s.meter.restore})
	s.meter.finish()
	if err != nil {
		files.abort()
		if x.err != nil { // what the archive reports as the state machine's failure
			return fmt.Errorf("restore: writing the output failed, nothing was kept: %w", x.err)
		}
		if errors.Is(err, archive.ErrGap) && res.Records == 0 && res.Snapshot.IsZero() {
			return withCode(exitNotFound, fmt.Errorf("%w ('ctl window' shows what can be restored)", err))
		}
		if errors.Is(err, archive.ErrOutOfWindow) {
			return fmt.Errorf("%w ('ctl window' shows what can be restored)", err)
		}
		return err
	}
	if err := files.commit(); err != nil {
		return err
	}
	v := restoreJSON{TargetTime: jsonTime(at.Time), TargetLSN: uint64(at.LSN), Snapshot: jsonID(res.Snapshot), SnapshotLSN: uint64(res.SnapshotLSN), LSN: uint64(res.LSN),
		Time: jsonTime(res.Time), Events: res.Records, EventBytes: res.Bytes, Objects: res.Objects, StateFile: outPath, EventsFile: eventsPath,
		DurationSeconds: seconds(res.Duration)}
	p := a.printer()
	if outPath == "-" {
		p.out = a.errOut // stdout holds the state
	}
	return p.print(v, func(out io.Writer) {
		base := "no base snapshot (replayed from LSN 1)"
		if !res.Snapshot.IsZero() {
			base = fmt.Sprintf("base snapshot %s (LSN %d)", res.Snapshot.Short(), res.SnapshotLSN)
		}
		fmt.Fprintf(out, "restored %s: %s into %s, %d events after it into %s; state as of LSN %d (%s), in %v\n",
			t.describe(at, a.loc), base, outPath, res.Records, eventsPath, res.LSN, utc(res.Time), res.Duration.Round(time.Millisecond))
	})
}

// findSnapshot resolves an ID or a unique prefix of one.
func findSnapshot(ctx context.Context, repo *snapshot.Repo, idOrPrefix string) (snapshot.Manifest, error) {
	ms, err := repo.List(ctx)
	if err != nil {
		return snapshot.Manifest{}, err
	}
	var found []snapshot.Manifest
	for _, m := range ms {
		if strings.HasPrefix(m.ID.String(), strings.ToLower(idOrPrefix)) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return snapshot.Manifest{}, fmt.Errorf("%w: %q ('ctl snapshots' lists them)", snapshot.ErrNotFound, idOrPrefix)
	case 1:
		return found[0], nil
	}
	return snapshot.Manifest{}, usage(fmt.Errorf("%q names %d snapshots: give more of the ID", idOrPrefix, len(found)))
}

func (a *app) restoreSnapshot(ctx context.Context, s *session, id, outPath string, force bool) error {
	m, err := findSnapshot(ctx, s.repo, id)
	if err != nil {
		return err
	}
	sf, err := a.createOutput(outPath, force)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := s.repo.Restore(ctx, m.ID, sf); err != nil {
		sf.abort()
		return err
	}
	s.meter.finish()
	if err := sf.commit(); err != nil {
		return err
	}
	v := restoreJSON{Snapshot: m.ID.String(), SnapshotLSN: m.LSN, LSN: m.LSN, Time: jsonTime(m.Time),
		StateFile: outPath, DurationSeconds: seconds(time.Since(start))}
	p := a.printer()
	if outPath == "-" {
		p.out = a.errOut
	}
	return p.print(v, func(out io.Writer) {
		fmt.Fprintf(out, "restored base snapshot %s (LSN %d, %s) into %s, %s\n", m.ID.Short(), m.LSN, utc(m.Time), outPath, size(m.Size))
	})
}
