package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity/archive"
)

// windowJSON is what can be restored (ctl window --json, and in verify's
// and stats' objects).
type windowJSON struct {
	Earliest    jsonTime    `json:"earliest"`
	Latest      jsonTime    `json:"latest"`
	EarliestLSN uint64      `json:"earliest_lsn"`
	LatestLSN   uint64      `json:"latest_lsn"`
	Timeline    string      `json:"timeline"`
	Snapshots   int         `json:"snapshots"`
	Ranges      []rangeJSON `json:"ranges"`
	Gaps        []string    `json:"gaps"`
	Cut         string      `json:"cut"`
	HeadLSN     uint64      `json:"head_lsn"`
	HeadWritten jsonTime    `json:"head_written"`
	Unverified  string      `json:"unverified"`
}

// rangeJSON is one restorable stretch.
type rangeJSON struct {
	From    jsonTime `json:"from"`
	To      jsonTime `json:"to"`
	FromLSN uint64   `json:"from_lsn"`
	ToLSN   uint64   `json:"to_lsn"`
	Base    string   `json:"base"`
}

func windowOf(w archive.Window) windowJSON {
	v := windowJSON{Earliest: jsonTime(w.Earliest), Latest: jsonTime(w.Latest), EarliestLSN: uint64(w.EarliestLSN), LatestLSN: uint64(w.LatestLSN),
		Timeline: w.Timeline, Snapshots: w.Snapshots, Cut: errText(w.Cut), HeadLSN: uint64(w.HeadLSN),
		HeadWritten: jsonTime(w.HeadWritten), Unverified: errText(w.Unverified), Ranges: []rangeJSON{}, Gaps: []string{}}
	for _, r := range w.Ranges {
		v.Ranges = append(v.Ranges, rangeJSON{From: jsonTime(r.From), To: jsonTime(r.To), FromLSN: uint64(r.FromLSN), ToLSN: uint64(r.ToLSN), Base: jsonID(r.Base)})
	}
	for _, g := range w.Gaps {
		v.Gaps = append(v.Gaps, g.Error())
	}
	return v
}

// printWindow prints what can be restored: each range, the holes between
// them, a cut tail and the newest head.
func printWindow(out io.Writer, w archive.Window, now time.Time) {
	if len(w.Ranges) == 0 {
		fmt.Fprintln(out, "nothing restorable: no base snapshot and no archived records from LSN 1")
	} else {
		fmt.Fprintf(out, "restorable from %s (LSN %d) to %s (LSN %d)\n", utc(w.Earliest), w.EarliestLSN, utc(w.Latest), w.LatestLSN)
	}
	if w.Timeline != "" {
		fmt.Fprintf(out, "timeline: %s\n", w.Timeline)
	}
	fmt.Fprintf(out, "base snapshots in the window: %d\n", w.Snapshots)
	if len(w.Ranges) > 1 {
		fmt.Fprintf(out, "%d ranges (records are missing between them):\n", len(w.Ranges))
		for _, r := range w.Ranges {
			fmt.Fprintf(out, "  %s to %s (LSN %d to %d)\n", utc(r.From), utc(r.To), r.FromLSN, r.ToLSN)
		}
	}
	for _, g := range w.Gaps {
		fmt.Fprintln(out, "gap:", g)
	}
	if !w.HeadWritten.IsZero() {
		fmt.Fprintf(out, "newest head: LSN %d, written %s (%s ago)\n", w.HeadLSN, utc(w.HeadWritten), now.Sub(w.HeadWritten).Round(time.Second))
	}
	if w.Cut != nil {
		fmt.Fprintln(out, "warning: the archive's newest records are missing; restoring the latest state fails until you name an earlier target:", w.Cut)
	}
	if w.Unverified != nil {
		fmt.Fprintln(out, "warning: a range ends early because an object does not authenticate (run verify):", w.Unverified)
	}
}

func cmdWindow(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "window",
		GroupID: "read",
		Short:   "Show what can be restored: from which instant to which, gaps, the newest head",
		Args:    args(cobra.NoArgs),
		RunE: a.withArchive(true, func(cmd *cobra.Command, _ []string, s *session) error {
			w, err := archive.Restorable(cmd.Context(), s.repo)
			if err != nil {
				return err
			}
			return a.printer().print(windowOf(w), func(out io.Writer) { printWindow(out, w, a.now()) })
		}),
	}
}

// snapshotJSON is one snapshot (ctl snapshots --json).
type snapshotJSON struct {
	ID          string   `json:"id"`
	Time        jsonTime `json:"time"`
	LSN         uint64   `json:"lsn"`
	Epoch       uint64   `json:"epoch"`
	Host        string   `json:"host"`
	Tags        []string `json:"tags"`
	SizeBytes   int64    `json:"size_bytes"`
	NewBytes    int64    `json:"new_bytes"`
	StoredBytes int64    `json:"stored_bytes"`
}

// snapshotsJSON is ctl snapshots --json.
type snapshotsJSON struct {
	Snapshots []snapshotJSON `json:"snapshots"`
	Damaged   []string       `json:"damaged"`
}

func cmdSnapshots(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "snapshots",
		GroupID: "read",
		Short:   "List the base snapshots, oldest first (and damaged manifests)",
		Args:    args(cobra.NoArgs),
		RunE: a.withArchive(true, func(cmd *cobra.Command, _ []string, s *session) error {
			ms, damaged, err := s.repo.ListReadable(cmd.Context())
			if err != nil {
				return err
			}
			v := snapshotsJSON{Snapshots: []snapshotJSON{}, Damaged: []string{}}
			for _, m := range ms {
				v.Snapshots = append(v.Snapshots, snapshotJSON{ID: m.ID.String(), Time: jsonTime(m.Time), LSN: m.LSN, Epoch: m.Epoch,
					Host: m.Host, Tags: list(m.Tags), SizeBytes: m.Size, NewBytes: m.NewBytes, StoredBytes: m.StoredBytes})
			}
			for _, d := range damaged {
				v.Damaged = append(v.Damaged, d.Error())
			}
			return a.printer().print(v, func(out io.Writer) {
				fmt.Fprintf(out, "%-8s  %-23s  %10s  %5s  %10s  %s\n", "ID", "TIME (UTC)", "LSN", "EPOCH", "SIZE", "TAGS")
				for _, m := range ms {
					fmt.Fprintf(out, "%-8s  %-23s  %10d  %5d  %10s  %s\n", m.ID.Short(), m.Time.UTC().Format("2006-01-02 15:04:05.000"),
						m.LSN, m.Epoch, size(m.Size), strings.Join(m.Tags, ","))
				}
				fmt.Fprintf(out, "%d snapshots\n", len(ms))
				for _, d := range damaged {
					fmt.Fprintln(out, "DAMAGED", d, "(ctl repair snapshots drops it)")
				}
			})
		}),
	}
}
