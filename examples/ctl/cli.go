package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
)

// app is one invocation of ctl: its global options, where it writes and
// what it reads from its environment.
type app struct {
	archiveURL      string
	keyFile         string
	passwordFile    string
	passwordCommand string
	passphraseEnv   string
	asJSON          bool
	quiet           bool
	retryLock       time.Duration
	limitUpload     int64 // KiB/s; 0 no limit
	limitDownload   int64 // KiB/s; 0 no limit

	in     io.Reader // answers to confirmations
	out    io.Writer // results
	errOut io.Writer // progress, warnings, errors
	getenv func(string) string
	now    func() time.Time
	loc    *time.Location // local time, for times given without a zone

	// ran is set once a command's own code starts: errors before it
	// (unknown commands, bad flags, wrong arguments) are usage errors.
	ran bool
}

// envFlags binds global flags to environment variables, as restic does:
// a flag given on the command line wins.
var envFlags = []struct{ flag, env string }{
	{"archive", "CONTINUITY_ARCHIVE"},
	{"key-file", "CONTINUITY_KEY_FILE"},
	{"password-file", "CONTINUITY_PASSWORD_FILE"},
	{"password-command", "CONTINUITY_PASSWORD_COMMAND"},
}

// newRoot builds the command tree for a.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "ctl",
		Short: "Operate a continuity archive: what restores, restore, verify, drills, retention, keys",
		Long: `ctl operates a continuity archive (base snapshots and the WAL in one bucket):
what can be restored and to which second, restores to a file, verification
and restore drills, retention, repair, and key slots.

The archive and its key come from flags or the environment:
  --archive URL         CONTINUITY_ARCHIVE        file:///var/lib/app/archive, s3://bucket?region=...
  --key-file FILE       CONTINUITY_KEY_FILE       the 32-byte raw key a Node writes (archive.key)
  --password-file FILE  CONTINUITY_PASSWORD_FILE  a passphrase, from the file's first line
  --password-command C  CONTINUITY_PASSWORD_COMMAND  a passphrase, printed by the shell command C
                        CONTINUITY_PASSWORD       a passphrase, in the variable itself
Commands that only read open the archive read-only and work with
read-only credentials.

Exit status: 0 done, 1 failed, 2 usage, 3 integrity problem found,
4 not found or outside the window, 5 wrong key, 6 locked, 130 interrupted.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version(),
		// Without a command, ctl prints its help and exits 0 (--help
		// does the same); an unknown command is a usage error.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			for _, l := range []struct {
				flag string
				kib  int64
			}{{"limit-upload", a.limitUpload}, {"limit-download", a.limitDownload}} {
				if l.kib < 0 || l.kib > 0 && l.kib < 64 {
					return usage(fmt.Errorf("--%s %d: want 0 (no limit) or at least 64 (KiB/s)", l.flag, l.kib))
				}
			}
			return a.bindEnv(cmd.Root().PersistentFlags())
		},
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&a.archiveURL, "archive", "r", "", "bucket URL of the archive (env CONTINUITY_ARCHIVE)")
	pf.StringVar(&a.keyFile, "key-file", "", "file holding the archive's 32-byte raw key (env CONTINUITY_KEY_FILE)")
	pf.StringVar(&a.passwordFile, "password-file", "", "file whose first line is the passphrase (env CONTINUITY_PASSWORD_FILE)")
	pf.StringVar(&a.passwordCommand, "password-command", "", "shell command that prints the passphrase (env CONTINUITY_PASSWORD_COMMAND)")
	pf.StringVar(&a.passphraseEnv, "passphrase-env", "", "name of an environment variable holding the passphrase")
	pf.BoolVar(&a.asJSON, "json", false, "print one JSON object (schema: README.md); errors as JSON on stderr")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "no progress output")
	pf.Int64Var(&a.limitUpload, "limit-upload", 0, "cap pack uploads (prune's repacking) at this many KiB/s")
	pf.Int64Var(&a.limitDownload, "limit-download", 0, "cap pack downloads of verify --read-data and prune at this many KiB/s (restore is never throttled)")
	pf.DurationVar(&a.retryLock, "retry-lock", 0, "how long to wait for another operation's lock (default: fail at once, exit 6; 'ctl unlock' removes a dead process's lock)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddGroup(&cobra.Group{ID: "read", Title: "Read (open the archive read-only):"},
		&cobra.Group{ID: "write", Title: "Change the archive:"})
	root.AddCommand(
		cmdSnapshots(a), cmdWindow(a), cmdRestore(a), cmdVerify(a), cmdDrill(a), cmdStats(a), cmdAudit(a), cmdCopy(a),
		cmdInit(a), cmdForget(a), cmdPrune(a), cmdRepair(a), cmdKeys(a), cmdUnlock(a),
		cmdVersion(a),
	)
	root.SetHelpCommandGroupID("")
	root.SetCompletionCommandGroupID("")
	return root
}

// bindEnv fills the global flags not given on the command line from the
// environment.
func (a *app) bindEnv(fs *pflag.FlagSet) error {
	keyFlagGiven := fs.Changed("key-file") || fs.Changed("password-file") || fs.Changed("password-command") || fs.Changed("passphrase-env")
	for _, b := range envFlags {
		if fs.Changed(b.flag) {
			continue
		}
		if b.flag != "archive" && keyFlagGiven {
			continue // a key named on the command line wins over the environment's
		}
		if v := a.getenv(b.env); v != "" {
			if err := fs.Set(b.flag, v); err != nil {
				return usage(fmt.Errorf("$%s: %w", b.env, err))
			}
		}
	}
	return nil
}

// run runs ctl with args and returns the exit status, having printed any
// error on errOut.
func run(ctx context.Context, a *app, args []string) int {
	if a.getenv == nil {
		a.getenv = os.Getenv
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.loc == nil {
		a.loc = time.Local
	}
	if a.in == nil {
		a.in = strings.NewReader("")
	}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetIn(a.in)
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if !a.ran {
		var ee *exitError
		if !errors.As(err, &ee) {
			err = usage(err)
		}
		if !a.asJSON {
			defer fmt.Fprintln(a.errOut, "Run 'ctl --help' for the commands, 'ctl COMMAND --help' for a command's flags.")
		}
	}
	if ctx.Err() != nil { // a signal stopped it, whatever failed after
		err = withCode(exitInterrupted, fmt.Errorf("interrupted: %w", err))
	}
	if gcerrors.Code(err) == gcerrors.PermissionDenied || errors.Is(err, snapshot.ErrReadOnly) || errors.Is(err, localblob.ErrReadOnly) {
		err = fmt.Errorf("%w\n(these credentials may not write to the archive: init, forget, prune, repair, keys add/remove/rotate/rotate-master/reencrypt and unlock need write access; the read commands and --dry-run do not)", err)
	}
	if errors.Is(err, snapshot.ErrLocked) {
		err = fmt.Errorf("%w\n(wait for it with --retry-lock DURATION; if that process is gone, 'ctl unlock' removes its lock)", err)
	}
	code, kind := classify(err)
	printError(a.errOut, err, code, kind, a.asJSON)
	return code
}

// do wraps a command's code: from here on an error is the command's,
// not a usage error.
func (a *app) do(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.ran = true
		return fn(cmd, args)
	}
}

// withArchive is do for a command that opens the archive first
// (read-only if readOnly) and closes it when fn returns.
func (a *app) withArchive(readOnly bool, fn func(cmd *cobra.Command, args []string, s *session) error) func(*cobra.Command, []string) error {
	return a.do(func(cmd *cobra.Command, args []string) error {
		s, err := a.open(cmd.Context(), readOnly)
		if err != nil {
			return err
		}
		defer s.close()
		return fn(cmd, args, s)
	})
}

// args wraps a cobra argument check so that its failure is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, as []string) error {
		if err := check(cmd, as); err != nil {
			return usage(fmt.Errorf("%s: %w", cmd.CommandPath(), err))
		}
		return nil
	}
}

// printer prints a command's result as the options ask.
func (a *app) printer() printer { return printer{out: a.out, asJSON: a.asJSON} }
