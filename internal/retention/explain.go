package retention

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ExplainTimeLayout is the layout of the TIME column written by Explain.
const ExplainTimeLayout = "2006-01-02 15:04:05 MST"

// Explain writes ds as a table for operators, one line per decision in the
// order given (Apply's order is newest first), then a summary line:
//
//	TIME                     ID  ACTION  REASONS
//	2026-03-02 06:00:00 UTC  c3  keep    last snapshot, daily snapshot
//	2026-03-02 00:00:00 UTC  b2  remove
//	2026-03-01 18:00:00 UTC  a1  keep    daily snapshot
//
//	keep 2 of 3 snapshots, remove 1
//
// Times are printed in each Item's own location (convert them first to show
// the policy's calendar). Explain makes one Write to w and returns its
// error, wrapped.
func Explain(w io.Writer, ds []Decision) error {
	rows := make([][4]string, 0, len(ds)+1)
	rows = append(rows, [4]string{"TIME", "ID", "ACTION", "REASONS"})
	kept := 0
	for _, d := range ds {
		action := "remove"
		if d.Keep {
			action = "keep"
			kept++
		}
		rows = append(rows, [4]string{
			d.Item.Time.Format(ExplainTimeLayout),
			d.Item.ID,
			action,
			strings.Join(d.Reasons, ", "),
		})
	}
	var width [3]int
	for _, r := range rows {
		for c := range width {
			// fmt pads by runes, so measure in runes.
			width[c] = max(width[c], utf8.RuneCountInString(r[c]))
		}
	}

	var b strings.Builder
	for _, r := range rows {
		line := fmt.Sprintf("%-*s  %-*s  %-*s  %s", width[0], r[0], width[1], r[1], width[2], r[2], r[3])
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "\nkeep %d of %d snapshots, remove %d\n", kept, len(ds), len(ds)-kept)

	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	return nil
}
