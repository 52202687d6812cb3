package main

import "github.com/continuity-go/continuity/bench/internal/benchkit"

// The generated sections of bench/README.md: one for a run with every log
// on one disk, one for a run with the standbys' logs elsewhere
// (-standby-dir), so that both stand side by side.
var (
	sectionOneDisk = benchkit.Section{
		Begin:   "<!-- replbench:begin -->",
		End:     "<!-- replbench:end -->",
		Heading: "## Replication: cmd/replbench",
	}
	sectionApart = benchkit.Section{
		Begin:   "<!-- replbench-apart:begin -->",
		End:     "<!-- replbench-apart:end -->",
		Heading: "## Replication, standbys' logs off the primary's disk: cmd/replbench -standby-dir",
	}
)

// section is the README section s's report goes in.
func section(s settings) benchkit.Section {
	if s.standbyDir != "" {
		return sectionApart
	}
	return sectionOneDisk
}

// chartPrefix starts the names of s's chart files.
func chartPrefix(s settings) string {
	if s.standbyDir != "" {
		return "repl-apart-"
	}
	return "repl-"
}

// writeReadme puts report between the markers of s's section in the
// Markdown file at path, appending the section if it has none.
func writeReadme(s settings, path, report string) error { return section(s).Write(path, report) }

// replaceBlock returns text with report between the markers of s's
// section.
func replaceBlock(s settings, text, report string) (string, error) {
	return section(s).Replace(text, report)
}
