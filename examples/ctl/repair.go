package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/continuity-go/continuity/snapshot"
)

func cmdRepair(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "repair",
		GroupID: "write",
		Short:   "Rebuild a lost index, drop damaged snapshot manifests",
		Args:    args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			return usage(errors.New("repair: give index or snapshots"))
		}),
	}
	cmd.AddCommand(cmdRepairIndex(a), cmdRepairSnapshots(a))
	return cmd
}

// repairIndexJSON is ctl repair index --json.
type repairIndexJSON struct {
	UnindexedPacks int           `json:"unindexed_packs"`
	Indexed        int           `json:"indexed"`
	Blobs          int           `json:"blobs"`
	Problems       []problemJSON `json:"problems"`
}

func cmdRepairIndex(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "index",
		Short: "Index again every pack no index names (after an index object was lost or damaged)",
		Args:  args(cobra.NoArgs),
		RunE: a.withArchive(false, func(cmd *cobra.Command, _ []string, s *session) error {
			rep, err := s.repo.RepairIndex(cmd.Context())
			if err != nil {
				return err
			}
			if rep.Indexed > 0 {
				a.recordAction(cmd.Context(), s, "repair.index", "", map[string]string{"indexed": strconv.Itoa(rep.Indexed)})
			}
			v := repairIndexJSON{UnindexedPacks: rep.Packs, Indexed: rep.Indexed, Blobs: rep.Blobs, Problems: []problemJSON{}}
			for _, p := range rep.Problems {
				v.Problems = append(v.Problems, problemJSON{Object: p.Object, What: p.Err.Error(), Costs: "its data is lost; 'ctl verify' names the snapshots affected"})
			}
			if err := a.printer().print(v, func(out io.Writer) {
				fmt.Fprintf(out, "%d packs no index named; %d indexed again (%d blobs in the new index)\n", rep.Packs, rep.Indexed, rep.Blobs)
				for _, p := range v.Problems {
					fmt.Fprintln(out, p)
				}
			}); err != nil {
				return err
			}
			if len(v.Problems) > 0 {
				return withCode(exitIntegrity, fmt.Errorf("repair index: %d pack(s) could not be read back", len(v.Problems)))
			}
			return nil
		}),
	}
}

// repairSnapshotsJSON is ctl repair snapshots --json.
type repairSnapshotsJSON struct {
	DryRun  bool     `json:"dry_run"`
	Damaged []string `json:"damaged"`
	Dropped []string `json:"dropped"`
}

func cmdRepairSnapshots(a *app) *cobra.Command {
	var dry, yes bool
	cmd := &cobra.Command{
		Use:   "snapshots [--dry-run] [--yes]",
		Short: "Drop the manifests of snapshots that do not authenticate (asks first)",
		Long: `repair snapshots lists the snapshot manifests that do not authenticate or
decode (damaged, truncated, or stored under another snapshot's name) and,
once confirmed, deletes them: those snapshots cannot be restored, and a
damaged manifest stops forget. Each is read again under the archive's
exclusive lock before it is deleted. Manifests of a newer format version
are left for a newer ctl. Run prune afterwards to free their data.
It asks on a terminal; elsewhere give --yes.`,
		Args: args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := a.open(ctx, dry)
			if err != nil {
				return err
			}
			defer s.close()
			_, damaged, err := s.repo.ListReadable(ctx)
			if err != nil {
				return err
			}
			v := repairSnapshotsJSON{DryRun: dry, Damaged: []string{}, Dropped: []string{}}
			var names []string
			for _, d := range damaged {
				var oe *snapshot.ObjectError
				var ve *snapshot.VersionError
				if errors.As(d, &ve) || !errors.As(d, &oe) {
					continue
				}
				v.Damaged = append(v.Damaged, d.Error())
				names = append(names, oe.Object)
			}
			if len(names) > 0 && !dry {
				if !yes {
					ok, err := a.confirm(fmt.Sprintf("delete %d damaged manifest(s)?\n  %s\n", len(names), strings.Join(v.Damaged, "\n  ")))
					if err != nil {
						return err
					}
					if !ok {
						return withCode(exitFailed, errors.New("repair snapshots: nothing deleted (not confirmed)"))
					}
				}
				dropped, err := s.repo.DropDamagedManifests(ctx, names)
				v.Dropped = append(v.Dropped, dropped...)
				if len(dropped) > 0 {
					a.recordAction(ctx, s, "repair.snapshots", "", map[string]string{"dropped": strings.Join(dropped, ",")})
				}
				if err != nil {
					return err
				}
			}
			return a.printer().print(v, func(out io.Writer) {
				if len(names) == 0 {
					fmt.Fprintln(out, "no damaged manifests")
					return
				}
				for _, d := range v.Damaged {
					fmt.Fprintln(out, "DAMAGED", d)
				}
				if dry {
					fmt.Fprintf(out, "would delete %d manifest(s)\n", len(names))
					return
				}
				fmt.Fprintf(out, "deleted %d manifest(s); run 'ctl prune' to free the data only they used\n", len(v.Dropped))
			})
		}),
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "only list them (opens the archive read-only)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	cmd.MarkFlagsMutuallyExclusive("dry-run", "yes")
	return cmd
}

// confirm asks question on the terminal; without one it refuses, naming
// --yes.
func (a *app) confirm(question string) (bool, error) {
	f, ok := a.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, usage(errors.New("refusing to delete without confirmation: stdin is not a terminal; give --yes"))
	}
	fmt.Fprint(a.errOut, question+"type yes to go on: ")
	line, err := bufio.NewReader(a.in).ReadString('\n')
	if err != nil && line == "" {
		return false, nil
	}
	return strings.TrimSpace(line) == "yes", nil
}
