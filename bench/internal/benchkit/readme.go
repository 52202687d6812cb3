package benchkit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Section names the generated part of a Markdown file: the text between
// Begin and End is replaced by each run.
type Section struct {
	Begin, End string
	// Heading is the Markdown heading line ("## Results") of the section
	// appended to a file that has no markers.
	Heading string
	// Template, if set, is the whole file to create when there is none;
	// Token in it stands for the markers and the report. Without it a
	// missing file starts as "# Benchmarks".
	Template, Token string
}

// Write puts report between the section's markers in the Markdown file at
// path (see Section), and replaces the file atomically.
func (s Section) Write(path, report string) error {
	old, err := os.ReadFile(path)
	var text string
	switch {
	case errors.Is(err, fs.ErrNotExist) && s.Template != "":
		text, err = strings.Replace(s.Template, s.Token, s.block(report), 1), nil
	case errors.Is(err, fs.ErrNotExist):
		text, err = s.Replace("# Benchmarks\n", report)
	case err == nil:
		text, err = s.Replace(string(old), report)
	}
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

func (s Section) block(report string) string {
	return s.Begin + "\n" + strings.TrimRight(report, "\n") + "\n" + s.End
}

// Replace returns text with what lies between the markers replaced by
// report, or with a section holding the markers and report appended if
// it has none.
func (s Section) Replace(text, report string) (string, error) {
	i := strings.Index(text, s.Begin)
	j := strings.Index(text, s.End)
	switch {
	case i < 0 && j < 0:
		return strings.TrimRight(text, "\n") + "\n\n" + s.Heading + "\n\n" + s.block(report) + "\n", nil
	case i < 0 || j < i:
		return "", fmt.Errorf("markers %s and %s are missing or out of order", s.Begin, s.End)
	}
	return text[:i] + s.block(report) + text[j+len(s.End):], nil
}
