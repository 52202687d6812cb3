package main

import "github.com/continuity-go/continuity/bench/internal/benchkit"

// The markers around the generated part of the README.
const (
	beginMarker = "<!-- tenantbench:begin -->"
	endMarker   = "<!-- tenantbench:end -->"
)

// sectionHeading starts the section the markers are put in when a README
// has none.
const sectionHeading = "## Tenants: cmd/tenantbench"

// readme is the generated section of bench/README.md.
var readme = benchkit.Section{Begin: beginMarker, End: endMarker, Heading: sectionHeading}

// writeReadme puts report between the markers of the Markdown file at
// path, appending a section with the markers if it has none.
func writeReadme(path, report string) error { return readme.Write(path, report) }
