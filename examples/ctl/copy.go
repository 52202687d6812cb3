package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
)

// copyJSON is ctl copy --json.
type copyJSON struct {
	DryRun          bool     `json:"dry_run"`
	To              string   `json:"destination"`
	Objects         int      `json:"objects"`
	Copied          int      `json:"copied"`
	CopiedBytes     int64    `json:"copied_bytes"`
	Present         int      `json:"present"`
	Conflicts       []string `json:"conflicts"`
	Unauthenticated []string `json:"unauthenticated"`
	Unknown         []string `json:"unknown"`
	Missing         []string `json:"missing"`
	LocksExtended   int      `json:"locks_extended"`
}

func cmdCopy(a *app) *cobra.Command {
	var (
		to                string
		dry               bool
		lockMode          string
		lockKeep, lockWAL time.Duration
	)
	cmd := &cobra.Command{
		Use:     "copy --to URL [--dry-run] [--lock MODE --lock-keep D --lock-window D]",
		GroupID: "read",
		Short:   "Copy the archive into another bucket (off-site); a repeated copy moves only what is new",
		Long: `copy copies the archive (base snapshots and the WAL) into the bucket --to,
which must be empty or an earlier copy of this archive. Each object is
authenticated before it is copied, under the same name, so the copy opens
with the same keys and a repeated copy moves only new objects. Nothing is
deleted from the copy: give it its own retention (ctl --archive URL forget,
prune) and check it (ctl --archive URL verify). The archive is opened
read-only: read credentials for it, and write credentials for the copy
(gocloud URL parameters such as ?profile= choose them per bucket).
With --lock the copy is written under S3 Object Lock (the bucket must have
it enabled): packs, manifests and audit records for --lock-keep, WAL
objects for --lock-window plus an hour (a Node's default SnapshotEvery),
key slots never; before a snapshot's manifest lands, the copy's dates of
the packs it reuses are moved to cover it.
A node may compact or prune the archive while it is copied: objects
deleted between the listing and the read are skipped and the archive is
listed again, up to 3 times, so that what replaced them is copied.
Exit status 3 if the copy holds conflicting objects or objects of the
archive did not authenticate (they are named, and not copied); 1 if
objects still went missing on the last pass.`,
		Example: `  ctl copy --to s3://offsite-bucket?region=eu-central-1&prefix=app/
  ctl copy --to file:///mnt/usb/archive --dry-run
  ctl copy --to s3://vault --lock compliance --lock-keep 8760h --lock-window 720h`,
		Args: args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return usage(errors.New("copy: --to is required: the bucket URL of the copy"))
			}
			if to == a.archiveURL {
				return usage(errors.New("copy: --to is the archive itself"))
			}
			var lock *continuity.ObjectLockConfig
			if lockMode != "" || lockKeep != 0 || lockWAL != 0 {
				lock = &continuity.ObjectLockConfig{Mode: snapshot.LockMode(strings.ToUpper(lockMode)), Keep: lockKeep, Window: lockWAL}
				if lock.Mode != snapshot.Governance && lock.Mode != snapshot.Compliance {
					return usage(fmt.Errorf("copy: --lock %q: want governance or compliance", lockMode))
				}
				if lock.Window <= 0 || lock.Keep < lock.Window {
					return usage(fmt.Errorf("copy: --lock-window %v and --lock-keep %v: want 0 < window <= keep (e.g. --lock-window 720h --lock-keep 8760h)", lock.Window, lock.Keep))
				}
			}
			ctx := cmd.Context()
			s, err := a.open(ctx, true)
			if err != nil {
				return err
			}
			defer s.close()
			dst, err := localblob.Open(ctx, creating(to))
			if err != nil {
				return fmt.Errorf("open the copy's bucket %s: %w", to, err)
			}
			defer dst.Close()
			// Objects deleted between the listing and the read (a node
			// compacting or pruning meanwhile) are Missing; what replaced
			// them came after the listing, so another pass copies it.
			var st snapshot.CopyStats
			for pass := 1; ; pass++ {
				more, err := s.repo.CopyTo(ctx, dst, snapshot.CopyOptions{SealedPrefix: continuity.SealedPrefixLen, DryRun: dry, Lock: lock.Policy(time.Hour)})
				if err != nil {
					s.meter.finish()
					return err
				}
				st = addCopyStats(st, more)
				if len(more.Missing) == 0 || dry || pass == maxCopyPasses {
					break
				}
			}
			s.meter.finish()
			v := copyJSON{DryRun: dry, To: to, Objects: st.Objects, Copied: st.Copied, CopiedBytes: st.Bytes, Present: st.Present,
				Conflicts: list(st.Conflicts), Unauthenticated: list(st.Unauthenticated), Unknown: list(st.Unknown), Missing: list(st.Missing), LocksExtended: st.LocksExtended}
			if err := a.printer().print(v, func(out io.Writer) {
				verb := "copied"
				if dry {
					verb = "would copy"
				}
				fmt.Fprintf(out, "%s %d of %d objects (%s) to %s; %d were there already\n", verb, st.Copied, st.Objects, size(st.Bytes), to, st.Present)
				for _, n := range st.Conflicts {
					fmt.Fprintf(out, "conflict: %s is in the copy with another size (left as it is)\n", n)
				}
				for _, n := range st.Unauthenticated {
					fmt.Fprintf(out, "not copied: %s does not authenticate (ctl verify says what it costs)\n", n)
				}
				for _, n := range st.Unknown {
					fmt.Fprintf(out, "not copied: %s is a sealed object of no kind ctl knows\n", n)
				}
				for _, n := range st.Missing {
					fmt.Fprintf(out, "not copied: %s was deleted from the archive during the copy (a compaction or a prune), %d times in a row; run ctl copy again when the archive is quiet\n", n, maxCopyPasses)
				}
				if st.LocksExtended > 0 {
					fmt.Fprintf(out, "moved the Object Lock dates of %d pack(s) in the copy to cover the snapshots copied\n", st.LocksExtended)
				}
				if !dry && st.Copied > 0 {
					fmt.Fprintf(out, "check the copy: ctl --archive '%s' verify\n", to)
				}
			}); err != nil {
				return err
			}
			if n := len(st.Conflicts) + len(st.Unauthenticated); n > 0 {
				return withCode(exitIntegrity, fmt.Errorf("copy: %d object(s) not copied: see above", n))
			}
			if len(st.Missing) > 0 {
				return fmt.Errorf("copy: %d object(s) were deleted from the archive while they were copied, on each of %d passes: the copy may lack what replaced them; run ctl copy again", len(st.Missing), maxCopyPasses)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&to, "to", "", "bucket URL of the copy: empty, or an earlier copy of this archive (required)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "only say what would be copied")
	cmd.Flags().StringVar(&lockMode, "lock", "", "write the copy under S3 Object Lock: governance or compliance")
	cmd.Flags().DurationVar(&lockKeep, "lock-keep", 0, "with --lock: how long packs, manifests and audit records are locked (the longest any snapshot is kept)")
	cmd.Flags().DurationVar(&lockWAL, "lock-window", 0, "with --lock: the point-in-time window; WAL objects are locked this plus 1h")
	return cmd
}

// maxCopyPasses bounds how often ctl copy lists the archive again
// because objects went missing while it copied.
const maxCopyPasses = 3

// addCopyStats adds pass b to the totals a of the passes before it (zero
// before the first): what b found (conflicts, objects missing, ...) is
// the archive's state; what the passes copied adds up, and b counts as
// present what they did.
func addCopyStats(a, b snapshot.CopyStats) snapshot.CopyStats {
	b.Present = max(0, b.Present-a.Copied)
	b.Copied += a.Copied
	b.Bytes += a.Bytes
	b.LocksExtended += a.LocksExtended
	return b
}
