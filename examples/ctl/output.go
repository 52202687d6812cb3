package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/continuity-go/continuity/snapshot"
)

// The --json schema, one for every command (README.md lists each
// command's object):
//
//	keys       snake_case
//	IDs        lowercase hex strings (snapshots: 32 digits; slots: 32)
//	times      RFC 3339 strings in UTC with nanoseconds; null when unknown
//	durations  seconds as numbers, in keys ending in _seconds
//	sizes      bytes as integers, in keys ending in _bytes
//	lists      [] when empty, never null
//	errors     strings; a failed command prints {"error": {...}} on stderr
//
// Each command prints one JSON object on stdout.

// jsonTime is a time in the schema: UTC RFC 3339, null when zero.
type jsonTime time.Time

// MarshalJSON implements json.Marshaler.
func (t jsonTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339Nano))
}

// UnmarshalJSON implements json.Unmarshaler (for tests and tools that
// read ctl's output back).
func (t *jsonTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = jsonTime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	*t = jsonTime(v)
	return err
}

// jsonID is a snapshot ID in the schema: hex, empty when zero.
func jsonID(id snapshot.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

// seconds is a duration in the schema.
func seconds(d time.Duration) float64 { return d.Seconds() }

// list returns s, or an empty list for nil (the schema has no null
// lists).
func list[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// errText is err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// printer writes a command's result: its JSON object with --json, else
// the human form.
type printer struct {
	out    io.Writer
	asJSON bool
}

func (p printer) print(v any, human func(w io.Writer)) error {
	if p.asJSON {
		enc := json.NewEncoder(p.out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	human(p.out)
	return nil
}

// errorJSON is what --json prints on stderr for a failed command.
type errorJSON struct {
	Error struct {
		Message  string `json:"message"`
		Kind     string `json:"kind"`
		ExitCode int    `json:"exit_code"`
	} `json:"error"`
}

// printError writes err for the operator (or, with asJSON, as errorJSON).
func printError(w io.Writer, err error, code int, kind string, asJSON bool) {
	if !asJSON {
		fmt.Fprintln(w, "ctl:", err)
		return
	}
	var e errorJSON
	e.Error.Message, e.Error.Kind, e.Error.ExitCode = err.Error(), kind, code
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(e)
}

// size formats n bytes for people: "512 B", "1.5 MiB".
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// utc formats t for people, in UTC.
func utc(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
