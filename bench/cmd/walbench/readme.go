package main

import "github.com/continuity-go/continuity/bench/internal/benchkit"

// The markers around the generated part of the README.
const (
	beginMarker = "<!-- walbench:begin -->"
	endMarker   = "<!-- walbench:end -->"
)

// readme is the generated section of bench/README.md; a README without
// the markers gets a section of its own at its end.
var readme = benchkit.Section{Begin: beginMarker, End: endMarker, Heading: "## WAL: cmd/walbench"}

// writeReadme puts report between the markers of the Markdown file at
// path.
func writeReadme(path, report string) error { return readme.Write(path, report) }

// replaceBlock returns text with report between the markers.
func replaceBlock(text, report string) (string, error) { return readme.Replace(text, report) }
