package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRotateMaster: rotate-master refuses to leave another key's slot
// behind (exit 2, nothing changed); with --drop-others it starts epoch
// 1, after which restores give what they gave before, reencrypt reseals
// everything, and --retire right after says it must wait (exit 0). A
// sealed object ctl does not know is left under epoch 0, and --retire
// then exits 3.
func TestRotateMaster(t *testing.T) {
	f := newFixture(t, []int{6, 4}, 0) // a snapshot at LSN 6, then LSN 7-10
	var c ctlCmd
	out := t.TempDir()
	restore := func(name string, at ...string) string {
		t.Helper()
		path := filepath.Join(out, name)
		c.must(t, f.args(append([]string{"restore", "--out", path}, at...)...)...)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := os.ReadFile(path + ".events.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n" + string(ev)
	}
	mid := f.mid.UTC().Format(time.RFC3339Nano)
	beforeMid, beforeLatest := restore("mid0", "--time", mid), restore("latest0", "--lsn", "10")
	oldWAL, err := os.ReadFile(f.path(f.walObjects(t)[0]))
	if err != nil {
		t.Fatal(err)
	}

	// Another key's slot: refused, with the way out, and nothing changed.
	second := filepath.Join(f.dir, "second.key")
	c.must(t, f.args("keys", "add", "--new-key-file", second, "--label", "ops")...)
	var keys keysJSON
	if err := jsonUnmarshal(c.must(t, f.args("keys", "list", "--json")...), &keys); err != nil || len(keys.Keys) != 2 || len(keys.Epochs) != 1 || keys.Epochs[0] != 0 {
		t.Fatalf("keys list --json before the rotation: %+v %v", keys, err)
	}
	r := c.expect(t, exitUsage, "--drop-others", f.args("keys", "rotate-master")...)
	for _, want := range []string{keys.Keys[1].ID, `"ops"`, "ctl keys add", "nothing changed"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("rotate-master with another slot: the message lacks %q: %s", want, r)
		}
	}
	if out := c.must(t, f.args("keys", "list")...); !strings.Contains(out, "key epochs held: 0 (new objects sealed under 0)") || !strings.Contains(out, "ops") {
		t.Fatalf("keys list after a refused rotate-master: %s", out)
	}
	c.must(t, "--archive", f.url, "--key-file", second, "keys", "list")

	var rot rotateMasterJSON
	if err := jsonUnmarshal(c.must(t, f.args("keys", "rotate-master", "--drop-others", "--json")...), &rot); err != nil {
		t.Fatal(err)
	}
	if rot.Epoch != 1 || len(rot.Slots) != 1 || !rot.Slots[0].Current || len(rot.Removed) != 2 || len(rot.Epochs) != 2 || len(rot.Next) != 2 {
		t.Fatalf("rotate-master --json: %+v", rot)
	}
	if out := c.must(t, f.args("keys", "list")...); !strings.Contains(out, "key epochs held: 0, 1 (new objects sealed under 1)") {
		t.Fatalf("keys list after rotate-master: %s", out)
	}
	c.expect(t, exitWrongKey, "no key slot", "--archive", f.url, "--key-file", second, "keys", "list")
	if got := restore("mid1", "--time", mid); got != beforeMid {
		t.Fatalf("restore to before the rotation after it:\n%s\nwant\n%s", got, beforeMid)
	}

	var re reencryptJSON
	if err := jsonUnmarshal(c.must(t, f.args("keys", "reencrypt", "--json")...), &re); err != nil {
		t.Fatal(err)
	}
	if re.Epoch != 1 || re.Resealed == 0 || re.Repacked == 0 || re.WrittenBytes == 0 || len(re.Left) != 0 || len(re.Retired) != 0 || !time.Time(re.RetireAfter).IsZero() {
		t.Fatalf("reencrypt --json: %+v", re)
	}
	if out := c.must(t, f.args("keys", "reencrypt")...); !strings.Contains(out, "resealed 0 in place, repacked 0 packs") || !strings.Contains(out, "every object is sealed under epoch 1") {
		t.Fatalf("reencrypt again: %s", out)
	}
	// Too early to retire: exit 0, and it says when.
	if out := c.must(t, f.args("keys", "reencrypt", "--retire")...); !strings.Contains(out, "too young to retire the older ones: run again after") {
		t.Fatalf("reencrypt --retire right after the rotation: %s", out)
	}
	re = reencryptJSON{}
	if err := jsonUnmarshal(c.must(t, f.args("keys", "reencrypt", "--retire", "--json")...), &re); err != nil || time.Time(re.RetireAfter).IsZero() || len(re.Epochs) != 2 {
		t.Fatalf("reencrypt --retire --json: %+v %v", re, err)
	}
	if got := restore("mid2", "--time", mid); got != beforeMid {
		t.Fatalf("restore to before the rotation after reencrypt:\n%s\nwant\n%s", got, beforeMid)
	}
	if got := restore("latest2", "--lsn", "10"); got != beforeLatest {
		t.Fatalf("restore of LSN 10 after reencrypt:\n%s\nwant\n%s", got, beforeLatest)
	}
	if out := c.must(t, f.args("verify", "--read-data")...); !strings.Contains(out, "no problems") {
		t.Fatalf("verify after reencrypt: %s", out)
	}

	// A sealed object of a layout ctl does not know (a copy of a WAL
	// object from before the rotation, under another name): left under
	// epoch 0, so --retire exits 3 and says so; without --retire it is
	// no failure.
	const planted = "extra/copy"
	if err := os.MkdirAll(filepath.Dir(f.path(planted)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.path(planted), oldWAL, 0o600); err != nil {
		t.Fatal(err)
	}
	r = c.expect(t, exitIntegrity, "still need the older keys", f.args("keys", "reencrypt", "--retire")...)
	if !strings.Contains(r.out, planted) {
		t.Fatalf("reencrypt --retire with an object left: it is not named: %s", r)
	}
	if out := c.must(t, f.args("keys", "reencrypt")...); !strings.Contains(out, "1 object(s) left under an older epoch") {
		t.Fatalf("reencrypt with an object left: %s", out)
	}
}

// TestRotateMasterUsage: the two commands refuse wrong flags and
// arguments as usage errors, before touching the archive.
func TestRotateMasterUsage(t *testing.T) {
	dir := t.TempDir()
	var c ctlCmd
	args := func(a ...string) []string {
		return append([]string{"--archive", "file://" + filepath.Join(dir, "a"), "--key-file", filepath.Join(dir, "k")}, a...)
	}
	c.must(t, args("init")...)
	for _, bad := range [][]string{
		{"keys", "rotate-master", "--drop"},
		{"keys", "rotate-master", "slot"},
		{"keys", "reencrypt", "--retire=maybe"},
		{"keys", "reencrypt", "now"},
	} {
		c.expect(t, exitUsage, "", args(bad...)...)
	}
	if out := c.must(t, args("keys", "rotate-master", "--help")...); !strings.Contains(out, "--drop-others") {
		t.Fatalf("rotate-master --help: %s", out)
	}
	if out := c.must(t, args("keys", "rotate", "--help")...); !strings.Contains(out, "does NOT change the master key") || !strings.Contains(out, "rotate-master") {
		t.Fatalf("rotate --help does not point to rotate-master: %s", out)
	}
	// A new archive: rotate-master alone, then nothing to reseal.
	c.must(t, args("keys", "rotate-master")...)
	if out := c.must(t, args("keys", "reencrypt")...); !strings.Contains(out, "every object is sealed under epoch 1") {
		t.Fatalf("reencrypt of a new archive: %s", out)
	}
}
