package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity/snapshot"
)

// initJSON is ctl init --json.
type initJSON struct {
	Archive string `json:"archive"`
	ID      string `json:"id"`
	Slot    string `json:"slot"`
	NewKey  string `json:"new_key_file"`
}

func cmdInit(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "init",
		GroupID: "write",
		Short:   "Create an archive (a Node also creates its own on first start)",
		Long: `init creates an empty archive at --archive with one key slot for the key
given. With --key-file naming a file that does not exist, it writes a new
random raw key there first (mode 0600): the archive.key a Node reads.`,
		Args: args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var newKey string
			var raw [32]byte
			if a.keyFile != "" && len(a.keySources()) == 1 {
				if _, err := os.Lstat(a.keyFile); errors.Is(err, os.ErrNotExist) {
					rand.Read(raw[:])
					newKey = a.keyFile
				}
			}
			var keys snapshot.KeyProvider
			if newKey != "" {
				keys = snapshot.RawKey(raw)
			} else {
				var err error
				if keys, err = a.keyProvider(ctx); err != nil {
					return err
				}
			}
			orig := a.archiveURL
			a.archiveURL = creating(orig)
			b, err := a.openBucket(ctx)
			a.archiveURL = orig
			if err != nil {
				return err
			}
			defer b.Close()
			if in, err := snapshot.Inspect(ctx, b); err != nil {
				return err
			} else if in.Exists {
				return usage(fmt.Errorf("%s already holds an archive (it opens with: %s): ctl init never replaces one", a.archiveURL, in))
			}
			if newKey != "" {
				if err := newKeyFile(newKey, raw); err != nil {
					return err
				}
			}
			repo, err := snapshot.Init(ctx, b, keys, snapshot.Format{}, snapshot.Options{})
			if err != nil {
				if newKey != "" {
					os.Remove(newKey)
				}
				return err
			}
			defer repo.Close()
			v := initJSON{Archive: a.archiveURL, ID: repo.ID(), Slot: repo.SlotID(), NewKey: newKey}
			return a.printer().print(v, func(out io.Writer) {
				if newKey != "" {
					fmt.Fprintf(out, "new raw key written to %s (mode 0600): without it (or another slot's key) the archive cannot be read\n", newKey)
				}
				fmt.Fprintf(out, "created archive %s at %s (key slot %.8s)\n", repo.ID(), a.archiveURL, repo.SlotID())
			})
		}),
	}
}

// unlockJSON is ctl unlock --json.
type unlockJSON struct {
	Removed int  `json:"removed"`
	All     bool `json:"all"`
}

func cmdUnlock(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "unlock [--all]",
		GroupID: "write",
		Short:   "Remove stale locks (left by a process that died)",
		Long: `unlock removes the locks whose holders stopped refreshing them. --all
removes every lock, live ones too: only when no other process uses the
archive (a Save losing its lock to a prune can lose data).`,
		Args: args(cobra.NoArgs),
		RunE: a.withArchive(false, func(cmd *cobra.Command, _ []string, s *session) error {
			n, err := s.repo.Unlock(cmd.Context(), all)
			if err != nil {
				return err
			}
			if n > 0 {
				a.recordAction(cmd.Context(), s, "unlock", "", map[string]string{"removed": strconv.Itoa(n), "all": strconv.FormatBool(all)})
			}
			return a.printer().print(unlockJSON{n, all}, func(out io.Writer) { fmt.Fprintf(out, "removed %d lock(s)\n", n) })
		}),
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every lock, live ones too")
	return cmd
}

// version is the module's version and VCS revision, from the build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "ctl (unknown build)"
	}
	v := "ctl " + bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return v + " " + bi.GoVersion
}

// versionJSON is ctl version --json.
type versionJSON struct {
	Version string `json:"version"`
}

func cmdVersion(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print ctl's version",
		Args:  args(cobra.NoArgs),
		RunE: a.do(func(cmd *cobra.Command, _ []string) error {
			return a.printer().print(versionJSON{version()}, func(out io.Writer) { fmt.Fprintln(out, version()) })
		}),
	}
}
