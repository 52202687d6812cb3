package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/wal"
)

// digest is the state machine a drill restores into: it keeps no state,
// only the SHA-256 of the base snapshot's bytes and of the events, and
// checks that the events follow one another.
type digest struct {
	state, events hash.Hash
	stateBytes    int64
	last          wal.LSN
	first         wal.LSN
	err           error // the first event out of order
}

func newDigest() *digest { return &digest{state: sha256.New(), events: sha256.New()} }

func (d *digest) Restore(r io.Reader) error {
	n, err := io.Copy(d.state, r)
	d.stateBytes += n
	return err
}
func (d *digest) Snapshot(io.Writer) error {
	return errors.New("ctl: a drill's state cannot be snapshotted")
}
func (d *digest) Apply(rec wal.Record) error {
	if d.last != 0 && rec.LSN != d.last+1 && d.err == nil {
		d.err = fmt.Errorf("event LSN %d follows LSN %d", rec.LSN, d.last)
	}
	if d.first == 0 {
		d.first = rec.LSN
	}
	d.last = rec.LSN
	fmt.Fprintf(d.events, "%d %d %d ", rec.LSN, rec.Epoch, len(rec.Data))
	d.events.Write(rec.Data)
	return nil
}

// drillJSON is ctl drill --json.
type drillJSON struct {
	OK           bool     `json:"ok"`
	Target       jsonTime `json:"target"`
	TargetLSN    uint64   `json:"target_lsn"`
	Snapshot     string   `json:"snapshot"`
	SnapshotLSN  uint64   `json:"snapshot_lsn"`
	LSN          uint64   `json:"lsn"`
	Time         jsonTime `json:"time"`
	Events       int64    `json:"events"`
	StateBytes   int64    `json:"state_bytes"`
	StateSHA256  string   `json:"state_sha256"`
	EventsSHA256 string   `json:"events_sha256"`
	RTOSeconds   float64  `json:"rto_seconds"`
	Error        string   `json:"error"`
}

func cmdDrill(a *app) *cobra.Command {
	var t target
	cmd := &cobra.Command{
		Use:     "drill [--time T | --lsn N]",
		GroupID: "read",
		Short:   "Run a restore drill: restore a random second of the window, check it, time it",
		Long: `drill restores the state as of a random second of the restorable window (or
--time / --lsn) without writing it anywhere: it checks that the base
snapshot reads whole and that the events after it follow one another up to
the target, and reports the time to restore and the state's SHA-256 (to
compare with the host's own). Exit status 3 if the restore or the check
fails.`,
		Args: args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			at, err := t.resolve(a)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer s.close()
			d := newDigest()
			res, err := a.drill(ctx, s, at, d)
			s.meter.finish()
			v := drillJSON{OK: err == nil, Target: jsonTime(res.Target), TargetLSN: uint64(at.LSN), Snapshot: jsonID(res.Restored.Snapshot),
				SnapshotLSN: uint64(res.Restored.SnapshotLSN), LSN: uint64(res.Restored.LSN), Time: jsonTime(res.Restored.Time),
				Events: res.Restored.Records, StateBytes: d.stateBytes, StateSHA256: hex.EncodeToString(d.state.Sum(nil)),
				EventsSHA256: hex.EncodeToString(d.events.Sum(nil)), RTOSeconds: seconds(res.RTO), Error: errText(err)}
			if perr := a.printer().print(v, func(out io.Writer) {
				target := "LSN " + fmt.Sprint(at.LSN)
				if at.LSN == 0 {
					target = utc(res.Target)
				}
				if err != nil {
					fmt.Fprintf(out, "DRILL FAILED for %s after %v: %v\n", target, res.RTO.Round(time.Millisecond), err)
					return
				}
				base := "no base snapshot (from LSN 1)"
				if v.Snapshot != "" {
					base = fmt.Sprintf("base snapshot %.8s (LSN %d, %s, sha256 %.16s…)", v.Snapshot, v.SnapshotLSN, size(d.stateBytes), v.StateSHA256)
				}
				fmt.Fprintf(out, "drill passed: restored %s in %v: %s and %d events up to LSN %d (%s)\n",
					target, res.RTO.Round(time.Millisecond), base, v.Events, v.LSN, utc(res.Restored.Time))
			}); perr != nil {
				return perr
			}
			if err == nil {
				return nil
			}
			if code, _ := classify(err); code != exitFailed {
				return err
			}
			return withCode(exitIntegrity, err)
		}),
	}
	t.flags(cmd)
	return cmd
}

// drill runs archive.Drill, or a timed restore to the target given.
func (a *app) drill(ctx context.Context, s *session, at archive.Target, d *digest) (archive.DrillResult, error) {
	check := func(context.Context, archive.StateMachine, archive.Restored) error { return d.err }
	if at == (archive.Target{}) {
		return archive.Drill(ctx, s.repo, func() archive.StateMachine { return d }, check,
			archive.DrillOptions{Now: a.now, Progress: s.meter.restore})
	}
	res := archive.DrillResult{At: a.now(), Target: at.Time}
	start := time.Now()
	r, err := archive.RestoreTo(ctx, s.repo, at, d, archive.RestoreOptions{Progress: s.meter.restore})
	res.Restored = r
	if err == nil {
		err = d.err
	}
	res.RTO, res.Err = time.Since(start), err
	return res, err
}
