package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpAndUsage: help exits 0, lists the commands and opens nothing;
// wrong commands, flags and arguments exit 2 and say what to do; flags
// work before and after the command.
func TestHelpAndUsage(t *testing.T) {
	var c ctlCmd
	for _, args := range [][]string{{"--help"}, {"-h"}, {}, {"help"}, {"help", "restore"}} {
		r := c.run(t, args...)
		if r.code != 0 || !strings.Contains(r.out, "Usage:") {
			t.Fatalf("ctl %v: %s", args, r)
		}
	}
	help := c.must(t, "--help")
	for _, cmd := range []string{"init", "snapshots", "window", "restore", "verify", "drill", "forget", "prune", "repair", "keys", "unlock", "stats", "version", "completion"} {
		if !strings.Contains(help, "\n  "+cmd+" ") {
			t.Errorf("--help does not list %s", cmd)
		}
	}
	// A command's help opens nothing: no archive, no key, an archive URL
	// that cannot be opened.
	for _, cmd := range []string{"window", "restore", "verify", "forget", "keys", "repair"} {
		r := c.run(t, "--archive", "s3://no-such-bucket-anywhere?endpoint=http://127.0.0.1:1", cmd, "-h")
		if r.code != 0 || !strings.Contains(r.out, "Usage:") {
			t.Fatalf("%s -h: %s", cmd, r)
		}
	}
	if out := c.must(t, "version"); !strings.HasPrefix(out, "ctl ") {
		t.Fatalf("version: %q", out)
	}
	if out := c.must(t, "completion", "bash"); !strings.Contains(out, "bash completion") {
		t.Fatalf("completion bash: %.200s", out)
	}
	f := newFixture(t, []int{3}, -1)
	for _, cc := range []struct {
		args []string
		want string
	}{
		{f.args("frobnicate"), "unknown command"},
		{f.args("window", "--no-such-flag"), "unknown flag"},
		{f.args("window", "extra"), "unknown command"},
		{[]string{"--archive", f.url, "window"}, "no key"},
		{[]string{"--key-file", f.key, "window"}, "no archive"},
		{f.args("verify", "--level", "deep"), "want consistent, valid or pitr"},
		{f.args("verify", "--read-data", "--read-data-subset", "10%"), "none of the others"},
		{f.args("verify", "--read-data-subset", "200%"), "give a percentage"},
		{f.args("restore", "--lsn", "3"), "--out FILE is required"},
		{f.args("restore", "--out", "x", "--time", "yesterday"), "RFC 3339"},
		{f.args("restore", "--out", "x", "--time", "2026-12-04T21:30:00Z", "--lsn", "3"), "none of the others"},
		{f.args("restore", "--out", "-"), "give --events FILE"},
		{f.args("keys", "remove"), "accepts 1 arg"},
		{f.args("keys", "add"), "at least one of the flags"},
		{append(f.args("window"), "--password-file", "/x"), "give one key"},
		{f.args("repair", "snapshots"), ""}, // no damaged manifests: exit 0 below
	} {
		r := c.run(t, cc.args...)
		if cc.want == "" {
			if r.code != 0 {
				t.Errorf("ctl %v: %s", cc.args, r)
			}
			continue
		}
		if r.code != exitUsage || !strings.Contains(r.err, cc.want) {
			t.Errorf("ctl %v: want exit 2 and %q; got %s", cc.args, cc.want, r)
		}
	}
	// A raw key file of the wrong length is a usage error naming the
	// passphrase options; a missing one fails (exit 1).
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("hunter2\n"), 0o600)
	c.expect(t, exitUsage, "--password-file", "--archive", f.url, "--key-file", short, "window")
	c.expect(t, exitFailed, "no such file", "--archive", f.url, "--key-file", short+".missing", "window")
	// --json errors are JSON on stderr, with the exit status and kind.
	r := c.run(t, "--archive", f.url, "--key-file", f.key, "--json", "restore", "--lsn", "99", "--out", filepath.Join(t.TempDir(), "s"))
	var e errorJSON
	if err := json.Unmarshal([]byte(r.err), &e); err != nil || r.code != exitNotFound || e.Error.Kind != "not_found" || e.Error.ExitCode != exitNotFound {
		t.Fatalf("--json error: %+v %v\n%s", e, err, r)
	}
}

// TestEnvironment: the archive and the key come from the environment, as
// restic's do; a flag on the command line wins.
func TestEnvironment(t *testing.T) {
	f := newFixture(t, []int{3}, -1)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("correct horse\n"), 0o600)
	c := ctlCmd{env: []string{"CONTINUITY_ARCHIVE=" + f.url, "CONTINUITY_KEY_FILE=" + f.key}}
	if out := c.must(t, "window"); !strings.Contains(out, "(LSN 3)") {
		t.Fatalf("window from the environment: %s", out)
	}
	c.must(t, "keys", "add", "--new-password-file", pwFile, "--label", "ops")
	for _, env := range [][]string{
		{"CONTINUITY_ARCHIVE=" + f.url, "CONTINUITY_PASSWORD_FILE=" + pwFile},
		{"CONTINUITY_ARCHIVE=" + f.url, "CONTINUITY_PASSWORD_COMMAND=cat " + pwFile},
		{"CONTINUITY_ARCHIVE=" + f.url, "CONTINUITY_PASSWORD=correct horse"},
		{"CONTINUITY_ARCHIVE=" + f.url, "CONTINUITY_PASSWORD=wrong", "CONTINUITY_KEY_FILE=/nonexistent"}, // overridden below
	} {
		args := []string{"keys", "list"}
		if strings.HasSuffix(env[len(env)-1], "/nonexistent") {
			args = append(args, "--password-file", pwFile) // the flag wins over both
		}
		out := ctlCmd{env: env}.must(t, args...)
		if !strings.Contains(out, "* ") || !strings.Contains(out, "ops") {
			t.Fatalf("keys list with %v: %s", env, out)
		}
	}
	ctlCmd{env: []string{"CONTINUITY_ARCHIVE=" + f.url, "CONTINUITY_PASSWORD_COMMAND=false"}}.expect(t, exitFailed, "--password-command", "window")
	ctlCmd{env: []string{"CONTINUITY_ARCHIVE=" + f.url, "CONTINUITY_PASSWORD=wrong"}}.expect(t, exitWrongKey, "passphrase key (slot", "window")
}

// TestWrongKeySaysWhatOpens: a wrong key exits 5 naming the slots that
// open the archive; an archive without readable key slots says so
// instead of "check the passphrase"; a damaged config says it may be
// the cause.
func TestWrongKeySaysWhatOpens(t *testing.T) {
	f := newFixture(t, []int{1}, -1)
	var c ctlCmd
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	os.WriteFile(wrong, bytes.Repeat([]byte{7}, 32), 0o600)
	c.expect(t, exitWrongKey, "the archive opens with: raw key (slot ", "--archive", f.url, "--key-file", wrong, "window")
	// A byte of the config's repository ID flipped: every slot's
	// authentication covers it.
	cfg := f.path("config")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(b)
	b[50] ^= 1 // headerSize 48, then the ID
	os.WriteFile(cfg, b, 0o600)
	c.expect(t, exitWrongKey, "config object may be damaged", f.args("window")...)
	// Its sealed body: the slot opens, the config does not.
	copy(b, orig)
	b[len(b)-1] ^= 1
	os.WriteFile(cfg, b, 0o600)
	c.expect(t, exitIntegrity, "config object does not authenticate", f.args("window")...)
	os.WriteFile(cfg, orig, 0o600)
	if err := os.Rename(filepath.Join(f.archiveDir, "keys"), filepath.Join(f.dir, "keys.moved")); err != nil {
		t.Fatal(err)
	}
	r := c.expect(t, exitWrongKey, "no readable key slot", f.args("window")...)
	if strings.Contains(r.err, "passphrase") {
		t.Fatalf("no key slots blamed on the passphrase: %s", r)
	}
	os.RemoveAll(f.archiveDir)
	c.expect(t, exitNotFound, "ctl init", f.args("window")...)
}
