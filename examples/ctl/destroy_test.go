package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// archiveID is the fixture archive's ID, as ctl stats prints it.
func archiveID(t *testing.T, f *fixture) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	if err := jsonUnmarshal(ctlCmd{}.must(t, f.args("stats", "--json")...), &v); err != nil || len(v.ID) != 32 {
		t.Fatalf("ctl stats --json: id %q: %v", v.ID, err)
	}
	return v.ID
}

func keyObjects(t *testing.T, f *fixture) []string {
	t.Helper()
	entries, err := os.ReadDir(f.path("keys"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestKeysDestroy: keys destroy refuses without the archive's ID and
// deletes nothing; with it, it deletes every key slot and the config,
// says what it cannot reach, and no command opens the archive again.
func TestKeysDestroy(t *testing.T) {
	f := newFixture(t, []int{3}, 0)
	var c ctlCmd
	id := archiveID(t, f)
	slots := keyObjects(t, f)
	if len(slots) == 0 {
		t.Fatal("the fixture has no key slot")
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no-confirm", f.args("keys", "destroy")},
		{"wrong-confirm", f.args("keys", "destroy", "--confirm", strings.Repeat("0", 32))},
		{"prefix-confirm", f.args("keys", "destroy", "--confirm", id[:8])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.expect(t, exitUsage, "--confirm "+id, tc.args...)
			if !strings.Contains(r.err, "nothing deleted") {
				t.Errorf("the refusal should say nothing was deleted: %s", r)
			}
			if got := keyObjects(t, f); strings.Join(got, ",") != strings.Join(slots, ",") {
				t.Fatalf("keys/ changed: %v, was %v", got, slots)
			}
		})
	}

	out := c.must(t, f.args("keys", "destroy", "--confirm", id)...)
	for _, want := range []string{"destroyed the keys of archive " + id, "and the config", "object lock: unknown", "archive.key"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := keyObjects(t, f); len(got) != 0 {
		t.Errorf("keys/ still holds %v", got)
	}
	if _, err := os.Stat(filepath.Join(f.archiveDir, "config")); !os.IsNotExist(err) {
		t.Errorf("config not deleted: %v", err)
	}
	t.Logf("destroy:\n%s", out)
	r := c.run(t, f.args("window")...)
	t.Logf("window: %s", r)
	if r.code != exitNotFound || !strings.Contains(r.err, "keys were destroyed") {
		t.Fatalf("ctl window after destroy: want a failure saying the keys were destroyed; got %s", r)
	}
	c.expect(t, r.code, "keys were destroyed", f.args("keys", "destroy", "--confirm", id)...)
}
