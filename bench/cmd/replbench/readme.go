package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The markers around the generated part of the README.
const (
	beginMarker = "<!-- replbench:begin -->"
	endMarker   = "<!-- replbench:end -->"
)

// sectionHeading starts the section the markers are put in when a README
// has none.
const sectionHeading = "## Replication: cmd/replbench"

// writeReadme puts report between the markers of the Markdown file at
// path, creating the file if it does not exist and appending a section
// with the markers if it has none. It replaces the file atomically.
func writeReadme(path, report string) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		old, err = []byte("# Benchmarks\n"), nil
	}
	if err != nil {
		return err
	}
	text, err := replaceBlock(string(old), report)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".readme-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// replaceBlock returns text with what lies between the markers replaced
// by report, or with a section holding the markers and report appended if
// it has none.
func replaceBlock(text, report string) (string, error) {
	block := beginMarker + "\n" + strings.TrimRight(report, "\n") + "\n" + endMarker
	i := strings.Index(text, beginMarker)
	j := strings.Index(text, endMarker)
	switch {
	case i < 0 && j < 0:
		return strings.TrimRight(text, "\n") + "\n\n" + sectionHeading + "\n\n" + block + "\n", nil
	case i < 0 || j < i:
		return "", fmt.Errorf("markers %s and %s are missing or out of order", beginMarker, endMarker)
	}
	return text[:i] + block + text[j+len(endMarker):], nil
}
