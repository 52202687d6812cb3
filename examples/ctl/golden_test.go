package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden --json files in testdata/golden")

var (
	rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	hexRun  = regexp.MustCompile(`\b[0-9a-f]{16,64}\b`)
)

// normalize replaces what differs between runs (times, IDs, hashes,
// temporary paths, durations, WAL sizes and counts) with placeholders of the same JSON type,
// and keeps everything else: keys, types, counts, LSNs, sizes.
func normalize(v any, key string, tmp []string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e, k, tmp)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e, key, tmp)
		}
	case string:
		for _, d := range tmp {
			x = strings.ReplaceAll(x, d, "<tmp>")
		}
		x = rfc3339.ReplaceAllString(x, "<time>")
		x = hexRun.ReplaceAllStringFunc(x, func(h string) string { return "<hex" + string(rune('0'+len(h)/16)) + ">" })
		switch key {
		case "version":
			x = "<version>"
		case "actor": // ctl@host: the machine's name
			x = "<actor>"
		case "resealed", "repacked": // in an audit record's details: how many WAL objects there were
			x = "<n>"
		}
		return x
	case float64:
		if strings.HasSuffix(key, "_seconds") && key != "window_seconds" {
			return 0.0
		}
		switch key {
		case "bytes", "stored_bytes", "wal_read_bytes", "written_bytes", "copied_bytes":
			return 0.0 // WAL objects' sizes vary with their records' times
		case "count", "objects", "wal_objects", "wal_objects_read", "checked", "resealed", "copied", "present":
			return 0.0 // how many WAL objects a session ships depends on the archiver's timer
		}
	}
	return v
}

// TestGoldenJSON: every command's --json output has the documented shape
// (README.md): snake_case keys, hex IDs, RFC 3339 times, seconds as
// numbers, [] for empty lists. The golden files hold it with what
// varies between runs replaced; go test -run TestGoldenJSON -update
// rewrites them after a deliberate change.
func TestGoldenJSON(t *testing.T) {
	f := newFixture(t, []int{6, 4}, 0) // a snapshot at LSN 6, then LSN 7-10
	var c ctlCmd
	out := t.TempDir()
	newKeys := t.TempDir()
	tmp := []string{f.dir, out, newKeys}
	initDir := t.TempDir()
	tmp = append(tmp, initDir)
	runs := []struct {
		name string
		args []string
		code int
	}{
		{"window", f.args("window"), 0},
		{"snapshots", f.args("snapshots"), 0},
		{"verify", f.args("verify", "--read-data"), 0},
		{"restore", f.args("restore", "--lsn", "8", "--out", filepath.Join(out, "state")), 0},
		{"drill", f.args("drill", "--lsn", "9"), 0},
		{"stats", f.args("stats"), 0},
		{"forget", f.args("forget", "--keep-window", "35d", "--keep-daily", "7", "--dry-run"), 0},
		{"prune", f.args("prune", "--dry-run"), 0},
		{"repair-index", f.args("repair", "index"), 0},
		{"repair-snapshots", f.args("repair", "snapshots", "--dry-run"), 0},
		{"keys-add", f.args("keys", "add", "--new-key-file", filepath.Join(newKeys, "k")), 0},
		{"keys-rotate-master", f.args("keys", "rotate-master", "--drop-others"), 0},
		{"keys-reencrypt", f.args("keys", "reencrypt"), 0},
		{"unlock", f.args("unlock"), 0},
		{"audit", f.args("audit"), 0},
		{"copy", f.args("copy", "--to", "file://"+filepath.Join(initDir, "copy")), 0},
		{"init", []string{"--archive", "file://" + filepath.Join(initDir, "a"), "--key-file", filepath.Join(initDir, "a.key"), "init"}, 0},
		{"version", []string{"version"}, 0},
		{"error-outside-window", f.args("restore", "--lsn", "99", "--out", filepath.Join(out, "x")), exitNotFound},
		{"error-usage", f.args("restore"), exitUsage},
		{"keys-destroy", f.args("keys", "destroy", "--confirm", archiveID(t, f)), 0}, // last: no key opens f after it
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			res := c.run(t, append(r.args, "--json")...)
			if res.code != r.code {
				t.Fatalf("want exit %d: %s", r.code, res)
			}
			body := res.out
			if r.code != 0 {
				body = res.err
			}
			var v any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, res)
			}
			checkSchema(t, v, "")
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			enc.Encode(normalize(v, "", tmp))
			got := buf.Bytes()
			path := filepath.Join("testdata", "golden", r.name+".json")
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestGoldenJSON -update writes it)", err)
			}
			if string(got) != string(want) {
				os.WriteFile(path+".got", got, 0o644) // for diff; .gitignore'd
				t.Fatalf("%s differs from the golden file (go test -run TestGoldenJSON -update after a deliberate change):\n%s", path, got)
			}
		})
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkSchema checks the rules every command's JSON keeps: snake_case
// keys, no null lists, times as RFC 3339 strings in keys that hold times.
func checkSchema(t *testing.T, v any, path string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if !snakeCase.MatchString(k) {
				t.Errorf("%s.%s: key is not snake_case", path, k)
			}
			if e == nil && !timeKey(k) {
				t.Errorf("%s.%s: null (lists are [], strings \"\")", path, k)
			}
			if s, ok := e.(string); ok && timeKey(k) && !rfc3339.MatchString(s) {
				t.Errorf("%s.%s: %q is not an RFC 3339 time", path, k, s)
			}
			checkSchema(t, e, path+"."+k)
		}
	case []any:
		for i, e := range x {
			checkSchema(t, e, path+"["+string(rune('0'+i%10))+"]")
		}
	}
}

// timeKey reports whether a key holds a time (null when unknown).
func timeKey(k string) bool {
	switch k {
	case "time", "earliest", "latest", "from", "to", "created", "target", "target_time", "window_start", "head_written", "retire_after":
		return true
	}
	return false
}
