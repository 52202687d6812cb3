package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/snapshot"
)

// problemJSON is one problem verify found.
type problemJSON struct {
	Object string `json:"object"`
	LSN    uint64 `json:"lsn"`
	What   string `json:"what"`
	Costs  string `json:"costs"`
}

func (p problemJSON) String() string {
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

// verifyJSON is ctl verify --json.
type verifyJSON struct {
	OK               bool          `json:"ok"`
	Level            string        `json:"level"`
	ReadData         float64       `json:"read_data"` // fraction of packs read: 0 none, 1 all
	Snapshots        int           `json:"snapshots"`
	Packs            int           `json:"packs"`
	Blobs            int           `json:"blobs"`
	BlobsRead        int           `json:"blobs_read"`
	SnapshotBytes    int64         `json:"snapshot_read_bytes"`
	WALObjects       int           `json:"wal_objects"`
	WALObjectsRead   int           `json:"wal_objects_read"`
	WALBytes         int64         `json:"wal_read_bytes"`
	WALFirstLSN      uint64        `json:"wal_first_lsn"`
	WALLastLSN       uint64        `json:"wal_last_lsn"`
	Timeline         string        `json:"timeline"`
	PinLSN           uint64        `json:"pin_lsn"`
	HeadLSN          uint64        `json:"head_lsn"`
	HeadWritten      jsonTime      `json:"head_written"`
	DurationSeconds  float64       `json:"duration_seconds"`
	Window           windowJSON    `json:"window"`
	Problems         []problemJSON `json:"problems"`
	UnreachableBases []string      `json:"unreachable_bases"`
	// Locks is what S3 Object Lock protects; checked only with --locks.
	Locks locksJSON `json:"locks"`
}

// locksJSON is --locks' report: the snapshots' manifests and packs in
// use, and the WAL objects the history needs.
type locksJSON struct {
	Checked   bool     `json:"checked"` // --locks was given
	Snapshots lockJSON `json:"snapshots"`
	WAL       lockJSON `json:"wal"`
}

type lockJSON struct {
	Checked     int      `json:"checked"`
	Locked      int      `json:"locked"`
	Earliest    jsonTime `json:"earliest"` // the earliest lock date among the locked
	Unprotected []string `json:"unprotected"`
}

func lockOf(l *snapshot.LockReport) lockJSON {
	if l == nil {
		return lockJSON{Unprotected: []string{}}
	}
	return lockJSON{Checked: l.Checked, Locked: l.Locked, Earliest: jsonTime(l.Earliest), Unprotected: list(l.Unprotected)}
}

// parseSubset reads --read-data-subset: "10%" or "1/10", a fraction of
// the packs read, chosen at random each run.
func parseSubset(s string) (float64, error) {
	bad := fmt.Errorf("--read-data-subset %q: give a percentage (10%%) or a fraction (1/10) of the packs to read", s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return 0, usage(bad)
		}
		return f / 100, nil
	}
	if n, m, ok := strings.Cut(s, "/"); ok {
		a, err1 := strconv.Atoi(n)
		b, err2 := strconv.Atoi(m)
		if err1 != nil || err2 != nil || a <= 0 || b <= 0 || a > b {
			return 0, usage(bad)
		}
		return float64(a) / float64(b), nil
	}
	return 0, usage(bad)
}

func cmdVerify(a *app) *cobra.Command {
	var (
		levelName string
		readData  bool
		subset    string
		decode    bool
		locks     bool
	)
	levels := map[string]archive.VerifyLevel{"consistent": archive.VerifyConsistent, "valid": archive.VerifyValid, "pitr": archive.VerifyPITR}
	cmd := &cobra.Command{
		Use:     "verify",
		GroupID: "read",
		Short:   "Check the snapshots and the WAL archive; exit 3 if anything is wrong",
		Long: `verify checks the base snapshots (structure; with --read-data every stored
byte) and the WAL archive to --level:
  consistent  the listing and the anchors (head, pin) agree
  valid       also read and authenticate every WAL object
  pitr        also every base snapshot reaches the newest record (default)
Each problem is printed with what it costs; exit status 3 if any.`,
		Args: args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			level, ok := levels[levelName]
			if !ok {
				return usage(fmt.Errorf("--level %q: want consistent, valid or pitr", levelName))
			}
			opts := snapshot.VerifyOptions{ReadData: readData, Locks: locks}
			fraction := 0.0
			if readData {
				fraction = 1
			}
			if subset != "" {
				f, err := parseSubset(subset)
				if err != nil {
					return err
				}
				opts.ReadData, opts.Fraction, fraction = true, f, f
			}
			ctx := cmd.Context()
			s, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer s.close()
			rep, err := s.repo.Verify(ctx, opts)
			if err != nil {
				return err
			}
			arep, err := archive.VerifyWith(ctx, s.repo, level, archive.VerifyOptions{Progress: s.meter.verify, Decode: decode, Locks: locks})
			s.meter.finish()
			if err != nil {
				return err
			}
			v := verifyJSON{Level: levelName, ReadData: fraction, Snapshots: rep.Snapshots, Packs: rep.Packs, Blobs: rep.Blobs, BlobsRead: rep.BlobsRead,
				SnapshotBytes: rep.BytesRead, WALObjects: arep.Objects, WALObjectsRead: arep.Read, WALBytes: arep.Bytes,
				WALFirstLSN: uint64(arep.First), WALLastLSN: uint64(arep.Last), Timeline: arep.Timeline, PinLSN: uint64(arep.PinLSN),
				HeadLSN: uint64(arep.HeadLSN), HeadWritten: jsonTime(arep.HeadWritten), DurationSeconds: seconds(arep.Duration),
				Window: windowOf(arep.Window), Problems: problemsOf(rep, arep), UnreachableBases: []string{}}
			for _, id := range arep.Unreachable {
				v.UnreachableBases = append(v.UnreachableBases, id.String())
			}
			v.Locks = locksJSON{Snapshots: lockOf(rep.Locks), WAL: lockOf(arep.Locks), Checked: locks}
			v.OK = len(v.Problems) == 0
			if err := a.printer().print(v, func(out io.Writer) {
				fmt.Fprintf(out, "snapshots: %d, packs: %d, %s read\nWAL archive (%s): %d objects, LSN %d to %d, timeline %s; %d objects read (%s) in %v\n",
					rep.Snapshots, rep.Packs, size(rep.BytesRead), levelName, arep.Objects, arep.First, arep.Last, arep.Timeline, arep.Read, size(arep.Bytes), arep.Duration.Round(time.Millisecond))
				if arep.PinLSN != 0 {
					fmt.Fprintf(out, "first record kept (pin): LSN %d\n", arep.PinLSN)
				}
				if !arep.HeadWritten.IsZero() {
					fmt.Fprintf(out, "newest head: LSN %d, written %s (%s ago)\n", arep.HeadLSN, utc(arep.HeadWritten), a.now().Sub(arep.HeadWritten).Round(time.Second))
				}
				if locks {
					fmt.Fprintf(out, "snapshots' %s\nWAL's %s\n", rep.Locks, arep.Locks)
				}
				for _, p := range v.Problems {
					fmt.Fprintln(out, p)
				}
				if v.OK {
					fmt.Fprintln(out, "no problems")
				} else {
					fmt.Fprintln(out, "what still restores:")
					printWindow(out, arep.Window, a.now())
				}
			}); err != nil {
				return err
			}
			if !v.OK {
				return withCode(exitIntegrity, fmt.Errorf("verify found %d problem(s)", len(v.Problems)))
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&levelName, "level", "pitr", "how deeply to check the WAL archive: consistent, valid or pitr")
	f.BoolVar(&readData, "read-data", false, "read and authenticate every stored byte of the snapshots")
	f.StringVar(&subset, "read-data-subset", "", "read a random part of the snapshots' packs: 10% or 1/10")
	f.BoolVar(&decode, "decode", false, "also decode every WAL record and recompute the chain (CPU-bound; every byte is authenticated without it)")
	f.BoolVar(&locks, "locks", false, "also report what S3 Object Lock protects, and which objects in use it does not (one request per object)")
	cmd.MarkFlagsMutuallyExclusive("read-data", "read-data-subset")
	return cmd
}

// problemsOf merges the snapshot and WAL reports: one line per object,
// with what it costs.
func problemsOf(rep snapshot.Report, arep archive.Report) []problemJSON {
	problems := []problemJSON{}
	seen := map[string]bool{} // objects the snapshot check named already
	for _, p := range rep.Problems {
		problems = append(problems, problemJSON{Object: p.Object, What: p.Err.Error()})
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
			problems = append(problems, problemJSON{Object: oe.Object, LSN: uint64(oe.LSN), What: what, Costs: oe.Cost})
		} else {
			problems = append(problems, problemJSON{Object: "?", What: p.Error()})
		}
	}
	for _, id := range arep.Unreachable {
		problems = append(problems, problemJSON{Object: "snapshots/" + id.String(), What: "this base snapshot cannot reach the newest record", Costs: "restores from it stop at the first gap after it"})
	}
	return problems
}
