package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/continuity-go/continuity/audit"
)

// auditJSON is ctl audit --json.
type auditJSON struct {
	Records []auditRecordJSON `json:"records"`
	Damaged []string          `json:"damaged"`
}

type auditRecordJSON struct {
	Time    jsonTime          `json:"time"`
	Action  string            `json:"action"`
	Actor   string            `json:"actor"`
	Subject string            `json:"subject"`
	LSN     uint64            `json:"lsn"`
	Details map[string]string `json:"details"`
	Name    string            `json:"name"`
}

func cmdAudit(a *app) *cobra.Command {
	var since string
	cmd := &cobra.Command{
		Use:     "audit [--since T]",
		GroupID: "read",
		Short:   "List the audit trail: tenants created, forgotten, restored; promotions; prune, key changes",
		Long: `audit lists the archive's audit records, oldest first: every tenant
created, forgotten (with its deletion receipt) or restored, every
promotion and switchover, and every ctl command that changed the
archive (forget, prune, repair, keys, unlock). Each record is sealed
under the archive's key: one that does not open (planted, damaged) is
named, and ctl exits 3.`,
		Args: args(cobra.NoArgs),
		RunE: a.withArchive(true, func(cmd *cobra.Command, _ []string, s *session) error {
			var from time.Time
			if since != "" {
				t, _, err := parseTime(since, a.now(), a.loc)
				if err != nil {
					return usage(fmt.Errorf("--since: %w", err))
				}
				from = t
			}
			entries, damaged, err := audit.List(cmd.Context(), s.repo, from)
			if err != nil {
				return err
			}
			v := auditJSON{Records: []auditRecordJSON{}, Damaged: []string{}}
			for _, e := range entries {
				d := e.Details
				if d == nil {
					d = map[string]string{}
				}
				v.Records = append(v.Records, auditRecordJSON{jsonTime(e.Time), e.Action, e.Actor, e.Subject, e.LSN, d, e.Name})
			}
			for _, err := range damaged {
				v.Damaged = append(v.Damaged, err.Error())
			}
			if err := a.printer().print(v, func(out io.Writer) {
				for _, e := range entries {
					fmt.Fprintf(out, "%s  %-15s %-20s %s", utc(e.Time), e.Action, e.Actor, e.Subject)
					if e.LSN != 0 {
						fmt.Fprintf(out, " (LSN %d)", e.LSN)
					}
					for _, k := range slices.Sorted(maps.Keys(e.Details)) {
						fmt.Fprintf(out, " %s=%q", k, e.Details[k])
					}
					fmt.Fprintln(out)
				}
				if len(entries) == 0 {
					fmt.Fprintln(out, "no audit records")
				}
			}); err != nil {
				return err
			}
			if len(damaged) > 0 {
				return withCode(exitIntegrity, fmt.Errorf("%d audit records do not open under this archive's key (planted or damaged): %s",
					len(damaged), strings.Join(v.Damaged, "; ")))
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&since, "since", "", "list records from this instant on: "+timeForms)
	return cmd
}

// recordAction writes the audit record of a change ctl made. The change
// stands either way; a record that could not be written is a warning.
func (a *app) recordAction(ctx context.Context, s *session, action, subject string, details map[string]string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := audit.Write(ctx, s.repo, audit.Entry{Action: action, Actor: audit.Actor("ctl"), Subject: subject, Details: details}); err != nil {
		fmt.Fprintf(a.errOut, "warning: done, but not in the audit trail: %v\n", err)
	}
}
