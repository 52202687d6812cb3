package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity/archive"
)

// objectsJSON counts one kind of object in the bucket.
type objectsJSON struct {
	Prefix string `json:"prefix"`
	Count  int    `json:"count"`
	Bytes  int64  `json:"bytes"`
}

// statsJSON is ctl stats --json.
type statsJSON struct {
	ID                  string        `json:"id"`
	Snapshots           int           `json:"snapshots"`
	LatestSnapshotBytes int64         `json:"latest_snapshot_bytes"`
	SnapshotsBytes      int64         `json:"snapshots_bytes"` // the states' sizes summed
	StoredBytes         int64         `json:"stored_bytes"`    // every object in the bucket
	DedupRatio          float64       `json:"dedup_ratio"`     // snapshots_bytes / data and index bytes
	Objects             []objectsJSON `json:"objects"`
	Window              windowJSON    `json:"window"`
}

// statPrefixes are the bucket's kinds of objects, as stats counts them.
var statPrefixes = []struct{ prefix, what string }{
	{"data/", "packs (snapshot data)"},
	{"index/", "indexes"},
	{"snapshots/", "snapshot manifests"},
	{"keys/", "key slots"},
	{"locks/", "locks"},
	{"wal/", "WAL archive"},
}

func cmdStats(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "stats",
		GroupID: "read",
		Short:   "Show what the archive stores: objects and bytes by kind, deduplication, the window",
		Args:    args(cobra.NoArgs),
		RunE: a.withArchive(true, func(cmd *cobra.Command, _ []string, s *session) error {
			ctx := cmd.Context()
			v := statsJSON{ID: s.repo.ID(), Objects: []objectsJSON{}}
			ms, _, err := s.repo.ListReadable(ctx)
			if err != nil {
				return err
			}
			v.Snapshots = len(ms)
			for _, m := range ms {
				v.SnapshotsBytes += m.Size
			}
			if len(ms) > 0 {
				v.LatestSnapshotBytes = ms[len(ms)-1].Size
			}
			var packed int64
			for _, p := range statPrefixes {
				objs, err := s.repo.ListObjects(ctx, p.prefix, "")
				if err != nil {
					return err
				}
				o := objectsJSON{Prefix: p.prefix}
				for _, obj := range objs {
					o.Count++
					o.Bytes += obj.Size
				}
				v.StoredBytes += o.Bytes
				if p.prefix == "data/" || p.prefix == "index/" {
					packed += o.Bytes
				}
				v.Objects = append(v.Objects, o)
			}
			if packed > 0 {
				v.DedupRatio = float64(v.SnapshotsBytes) / float64(packed)
			}
			w, err := archive.Restorable(ctx, s.repo)
			if err != nil && !errors.Is(err, archive.ErrNothingToRestore) {
				return err // a new archive has nothing to restore yet: its stats still print
			}
			v.Window = windowOf(w)
			return a.printer().print(v, func(out io.Writer) {
				fmt.Fprintf(out, "archive %s\n%d snapshots, %s of state in all (newest %s), stored in %s of packs and indexes: %.1fx\n",
					v.ID, v.Snapshots, size(v.SnapshotsBytes), size(v.LatestSnapshotBytes), size(packed), v.DedupRatio)
				for i, o := range v.Objects {
					fmt.Fprintf(out, "  %-11s %8d objects  %10s  %s\n", o.Prefix, o.Count, size(o.Bytes), statPrefixes[i].what)
				}
				fmt.Fprintf(out, "  %-11s %8s          %10s\n", "total", "", size(v.StoredBytes))
				var b strings.Builder
				printWindow(&b, w, a.now())
				fmt.Fprint(out, b.String())
			})
		}),
	}
}
