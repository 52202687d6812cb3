package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/snapshot"
)

// decisionJSON is forget's verdict on one snapshot.
type decisionJSON struct {
	ID      string   `json:"id"`
	Time    jsonTime `json:"time"`
	Keep    bool     `json:"keep"`
	Reasons []string `json:"reasons"`
}

// forgetJSON is ctl forget --json.
type forgetJSON struct {
	DryRun         bool           `json:"dry_run"`
	WindowSeconds  float64        `json:"window_seconds"`
	WindowStart    jsonTime       `json:"window_start"`
	Base           string         `json:"base"`
	Snapshots      []decisionJSON `json:"snapshots"`
	Kept           int            `json:"kept"`
	Removed        int            `json:"removed"`
	CutLSN         uint64         `json:"cut_lsn"`
	PinLSN         uint64         `json:"pin_lsn"`
	DeletedObjects []string       `json:"deleted_wal_objects"`
	// What an archiver without delete permission left (compaction's
	// merged pieces, old heads), deleted here.
	Superseded []string `json:"superseded_wal_objects"`
	OldHeads   []string `json:"old_heads"`
	// What the run would delete and S3 Object Lock keeps until its date.
	Retained []string `json:"retained"`
}

// days is a duration flag that also reads "35d".
type days struct{ d *time.Duration }

func (v days) String() string {
	if *v.d == 0 {
		return "0"
	}
	return v.d.String()
}
func (v days) Type() string { return "duration" }
func (v days) Set(s string) error {
	if d, ok := parseDays(s); ok {
		*v.d = d
		return nil
	}
	return fmt.Errorf("%q: want a duration like 35d, 720h or 90m", s)
}

func cmdForget(a *app) *cobra.Command {
	var (
		window time.Duration
		p      snapshot.Policy
		dry    bool
	)
	cmd := &cobra.Command{
		Use:     "forget --keep-window D [--keep-daily N ...] [--dry-run]",
		GroupID: "write",
		Short:   "Apply a retention policy: keep the point-in-time window and chosen snapshots beyond it",
		Long: `forget keeps every instant of the last --keep-window restorable (the base
snapshot at or before its start, every snapshot inside it, and the WAL from
that base on) and, beyond it, the snapshots the --keep-* rules choose
(restic's rules; each such snapshot is exact at its LSN and needs no WAL).
It removes the other snapshots' manifests and the WAL objects nothing
needs, and prints each snapshot kept or removed with its reasons. Run
prune afterwards to free the snapshots' data. --dry-run only says.`,
		Example: `  ctl forget --keep-window 35d --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --keep-yearly 10 --dry-run`,
		Args:    args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			if window <= 0 {
				return usage(errors.New("forget: --keep-window is required (the point-in-time window to keep whole, e.g. 35d); ctl has no built-in policy"))
			}
			ctx := cmd.Context()
			s, err := a.open(ctx, dry)
			if err != nil {
				return err
			}
			defer s.close()
			res, err := archive.ApplyRetention(ctx, s.repo, archive.RetentionPolicy{Window: window, Keep: p, Now: a.now}, dry)
			if err != nil {
				return err
			}
			v := forgetJSON{DryRun: dry, WindowSeconds: seconds(window), WindowStart: jsonTime(res.WindowStart), Base: jsonID(res.Base),
				Snapshots: []decisionJSON{}, Kept: len(res.Kept), Removed: len(res.Removed), CutLSN: uint64(res.CutLSN),
				PinLSN: uint64(res.PinLSN), DeletedObjects: list(res.DeletedObjects), Superseded: list(res.Superseded), OldHeads: list(res.OldHeads), Retained: list(res.Retained)}
			for _, d := range res.Decisions {
				v.Snapshots = append(v.Snapshots, decisionJSON{ID: d.Item.ID, Time: jsonTime(d.Item.Time), Keep: d.Keep, Reasons: list(d.Reasons)})
			}
			if !dry {
				a.recordAction(ctx, s, "forget", "", map[string]string{"window": window.String(), "removed": strconv.Itoa(len(res.Removed)),
					"kept": strconv.Itoa(len(res.Kept)), "cut_lsn": strconv.FormatUint(uint64(res.CutLSN), 10), "deleted_objects": strconv.Itoa(len(res.DeletedObjects))})
			}
			return a.printer().print(v, func(out io.Writer) {
				snapshot.ExplainDecisions(out, res.Decisions)
				verb := "removed"
				if dry {
					verb = "would remove"
				}
				fmt.Fprintf(out, "window from %s; kept %d snapshots, %s %d; %s %d WAL objects (up to LSN %d)\n",
					utc(res.WindowStart), len(res.Kept), verb, len(res.Removed), verb, len(res.DeletedObjects), res.CutLSN)
				if n := len(res.Superseded) + len(res.OldHeads); n > 0 {
					fmt.Fprintf(out, "%s %d objects an archiver without delete permission left (%d merged WAL pieces, %d old heads)\n",
						verb, n, len(res.Superseded), len(res.OldHeads))
				}
				if len(res.Retained) > 0 {
					fmt.Fprintf(out, "kept %d objects Object Lock retains (a later run deletes them once their dates pass)\n", len(res.Retained))
				}
				if !dry && len(res.Removed) > 0 {
					fmt.Fprintln(out, "run 'ctl prune' to free the removed snapshots' data")
				}
			})
		}),
	}
	f := cmd.Flags()
	f.Var(days{&window}, "keep-window", "point-in-time window to keep whole (required), e.g. 35d or 720h")
	f.IntVar(&p.Last, "keep-last", 0, "keep the N newest snapshots beyond the window")
	f.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of N hours")
	f.IntVar(&p.Daily, "keep-daily", 0, "keep the newest snapshot of each of N days")
	f.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of N weeks")
	f.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of N months")
	f.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of N years")
	f.StringSliceVar(&p.Tags, "keep-tag", nil, "keep snapshots with this tag (repeatable)")
	f.BoolVar(&dry, "dry-run", false, "only say what would be removed (opens the archive read-only)")
	return cmd
}

// pruneJSON is ctl prune --json.
type pruneJSON struct {
	DryRun        bool  `json:"dry_run"`
	Snapshots     int   `json:"snapshots"`
	PacksDeleted  int   `json:"packs_deleted"`
	PacksRepacked int   `json:"packs_repacked"`
	PacksWritten  int   `json:"packs_written"`
	BlobsRemoved  int   `json:"blobs_removed"`
	FreedBytes    int64 `json:"freed_bytes"`
	// Unused packs S3 Object Lock keeps until their dates.
	Retained []string `json:"retained"`
}

func cmdPrune(a *app) *cobra.Command {
	var (
		dry       bool
		maxUnused float64
	)
	cmd := &cobra.Command{
		Use:     "prune [--dry-run]",
		GroupID: "write",
		Short:   "Free the data no snapshot uses any more (after forget)",
		Args:    args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			if maxUnused < 0 || maxUnused > 1 {
				return usage(fmt.Errorf("--max-unused %v: want a fraction from 0 to 1", maxUnused))
			}
			ctx := cmd.Context()
			s, err := a.open(ctx, dry)
			if err != nil {
				return err
			}
			defer s.close()
			st, err := s.repo.Prune(ctx, snapshot.PruneOptions{DryRun: dry, MaxUnused: maxUnused})
			s.meter.finish()
			if err != nil {
				return err
			}
			v := pruneJSON{dry, st.Snapshots, st.PacksDeleted, st.PacksRepacked, st.PacksWritten, st.BlobsRemoved, st.BytesFreed, list(st.Retained)}
			if !dry {
				a.recordAction(ctx, s, "prune", "", map[string]string{"packs_deleted": strconv.Itoa(st.PacksDeleted),
					"packs_repacked": strconv.Itoa(st.PacksRepacked), "bytes_freed": strconv.FormatInt(st.BytesFreed, 10)})
			}
			return a.printer().print(v, func(out io.Writer) {
				verb := "freed"
				if dry {
					verb = "would free"
				}
				fmt.Fprintf(out, "%d snapshots' data kept; packs: %d deleted, %d repacked into %d; %d unused blobs dropped; %s %s\n",
					st.Snapshots, st.PacksDeleted, st.PacksRepacked, st.PacksWritten, st.BlobsRemoved, verb, size(st.BytesFreed))
				if len(st.Retained) > 0 {
					fmt.Fprintf(out, "%d unused packs kept: Object Lock retains them until their dates\n", len(st.Retained))
				}
			})
		}),
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "only say what would be freed (opens the archive read-only)")
	cmd.Flags().Float64Var(&maxUnused, "max-unused", 0.3, "repack a partly used pack when more than this fraction of it is unused (1: never repack)")
	return cmd
}
