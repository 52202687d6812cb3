package main

import (
	"fmt"
	"io"

	"github.com/continuity-go/continuity/bench/internal/benchkit"
)

// The markers around the generated part of the README.
const (
	beginMarker = "<!-- archbench:begin -->"
	endMarker   = "<!-- archbench:end -->"
)

// sectionHeading starts the section the markers are put in when a README
// has none.
const sectionHeading = "## WAL archive: cmd/archbench"

// readme is the generated section of bench/README.md.
var readme = benchkit.Section{Begin: beginMarker, End: endMarker, Heading: sectionHeading}

// writeReadme puts report between the markers of the Markdown file at
// path, appending a section with the markers if it has none.
func writeReadme(path, report string) error { return readme.Write(path, report) }

// replaceBlock returns text with report between the markers.
func replaceBlock(text, report string) (string, error) { return readme.Replace(text, report) }

// The markers around the cost suite's generated part of the README.
const (
	costBeginMarker = "<!-- archbench-cost:begin -->"
	costEndMarker   = "<!-- archbench-cost:end -->"
)

// costReadme is the cost suite's generated section of bench/README.md.
var costReadme = benchkit.Section{Begin: costBeginMarker, End: costEndMarker, Heading: "### Request cost: cmd/archbench -suites cost"}

// The markers around the copy suite's generated part of the README.
const (
	copyBeginMarker = "<!-- archbench-copy:begin -->"
	copyEndMarker   = "<!-- archbench-copy:end -->"
)

// copyReadme is the copy suite's generated section of bench/README.md.
var copyReadme = benchkit.Section{Begin: copyBeginMarker, End: copyEndMarker, Heading: "### Archive copy: cmd/archbench -suites copy"}

// The markers around the sync suite's generated part of the README.
const (
	syncBeginMarker = "<!-- archbench-sync:begin -->"
	syncEndMarker   = "<!-- archbench-sync:end -->"
)

// syncReadme is the sync suite's generated section of bench/README.md.
var syncReadme = benchkit.Section{Begin: syncBeginMarker, End: syncEndMarker, Heading: "### Archive-synchronous writes: cmd/archbench -suites sync"}

// writeSection prints a suite's report to out and writes it into its
// section of -readme, if given.
func writeSection(s settings, sec benchkit.Section, suite, report string, out, progress io.Writer) error {
	fmt.Fprint(out, report)
	if s.readme == "" {
		return nil
	}
	if err := sec.Write(s.readme, report); err != nil {
		return fmt.Errorf("write %s: %w", s.readme, err)
	}
	fmt.Fprintf(progress, "archbench: wrote the %s report into %s\n", suite, s.readme)
	return nil
}
