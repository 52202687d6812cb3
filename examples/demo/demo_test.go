package main

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestDemo runs the demo with fewer events and checks what it claims.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out, options{events: 300}), out.String())
	for _, want := range []string{"nothing lost", "identical to the ledger then", "acknowledged events lost           0", "epoch 1 → after"} {
		assert.Contains(t, out.String(), want)
	}
	assert.NotContains(t, out.String(), "examples/ctl", "the archive went with the directory: no command opens it")
}

// TestDemoCtlOpensArchive: with -keep and a new -key-file, the demo makes
// the key and prints a ctl command that opens the archive it leaves, which
// verify finds whole.
func TestDemoCtlOpensArchive(t *testing.T) {
	ctl := buildCtl(t)
	keyFile := filepath.Join(t.TempDir(), "demo.key")
	out := runKept(t, options{events: 300, keep: true, keyFile: keyFile})
	assert.Contains(t, out, "key: made "+keyFile)
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	assert.Equal(t, int64(32), fi.Size())
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	args := ctlArgs(t, out)
	assert.Contains(t, strings.Join(args, " "), "-key-file "+keyFile)
	window, code := runCtl(t, ctl, args)
	require.Equal(t, 0, code, window)
	assert.Contains(t, window, "restorable from")
	assert.Contains(t, window, "epoch 1 → after", "ctl sees the fail-over the demo made")

	verify, code := runCtl(t, ctl, append(args[:len(args)-1:len(args)-1], "verify"))
	require.Equal(t, 0, code, verify)
	assert.Contains(t, verify, "no problems")
}

// TestDemoPassphrase: with -passphrase-env, the printed ctl command names
// the same variable, and opens the archive only with the same passphrase.
func TestDemoPassphrase(t *testing.T) {
	ctl := buildCtl(t)
	t.Setenv("DEMO_TEST_PASSPHRASE", "correct horse battery staple")
	out := runKept(t, options{events: 100, keep: true, passEnv: "DEMO_TEST_PASSPHRASE"})
	assert.Contains(t, out, "key: the passphrase in $DEMO_TEST_PASSPHRASE")

	args := ctlArgs(t, out)
	assert.Contains(t, strings.Join(args, " "), "--passphrase-env DEMO_TEST_PASSPHRASE")
	assert.NotContains(t, args, "--key-file")
	window, code := runCtl(t, ctl, args)
	require.Equal(t, 0, code, window)
	assert.Contains(t, window, "restorable from")

	t.Setenv("DEMO_TEST_PASSPHRASE", "wrong")
	msg, code := runCtl(t, ctl, args)
	assert.Equal(t, 5, code, "a wrong passphrase exits 5 (ctl's wrong-key status): %s", msg)
}

// TestDemoUsage runs the command with wrong flags and keys: each fails
// before starting a node, with its exit status and one line saying what
// to do, and leaves nothing behind.
func TestDemoUsage(t *testing.T) {
	tmp := t.TempDir()
	keyDir := t.TempDir()
	short := filepath.Join(keyDir, "short.key")
	require.NoError(t, os.WriteFile(short, []byte("12345"), 0o600))
	full := t.TempDir() // a non-empty archive
	require.NoError(t, os.WriteFile(filepath.Join(full, "config"), []byte("x"), 0o644))
	fullURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(full)}).String()
	newKey := filepath.Join(keyDir, "new.key")
	t.Setenv("DEMO_TEST_EMPTY", "")
	t.Setenv("TMPDIR", tmp) // where the demo would make its directory

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"both key flags", []string{"-key-file", short, "-passphrase-env", "DEMO_TEST_EMPTY"}, 2, "give -key-file or -passphrase-env, not both"},
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined: -nope (-h lists the flags)"},
		{"archive without scheme", []string{"-archive", "/srv/archive"}, 2, `-archive "/srv/archive" is not a bucket URL: give file:///absolute/dir`},
		{"argument", []string{"now"}, 2, `unexpected argument "now"`},
		{"no events", []string{"-events", "0"}, 2, "-events 0: give at least 1"},
		{"key file of 5 bytes", []string{"-keep", "-key-file", short}, 1, "-key-file " + short + " holds 5 bytes, want 32 raw bytes"},
		{"empty passphrase", []string{"-keep", "-passphrase-env", "DEMO_TEST_EMPTY"}, 1, "-passphrase-env DEMO_TEST_EMPTY: the variable is empty or unset"},
		{"archive not empty", []string{"-archive", fullURL, "-key-file", newKey}, 1, "archive " + fullURL + " is not empty (it holds config)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := demo(tc.args, &out, &errOut)
			assert.Equal(t, tc.code, code, errOut.String())
			assert.Empty(t, out.String())
			msg := errOut.String()
			assert.True(t, strings.HasPrefix(msg, "demo: ") && strings.Count(msg, "\n") == 1, "want one line: %q", msg)
			assert.Contains(t, msg, tc.want)
		})
	}
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "left in the temporary directory")
	b, err := os.ReadFile(short)
	require.NoError(t, err)
	assert.Equal(t, "12345", string(b), "the short key file is not touched")
	_, err = os.Stat(newKey)
	assert.True(t, errors.Is(err, os.ErrNotExist), "no key made for an archive the demo refused: %v", err)

	var out, errOut bytes.Buffer
	assert.Equal(t, 0, demo([]string{"-h"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "-passphrase-env")
}

// TestShellQuote: what shellQuote writes, shellWords reads back.
func TestShellQuote(t *testing.T) {
	for _, s := range []string{"/tmp/continuity-demo-1/archive", "s3://b?region=eu-west-1&prefix=demo/", "it's here", ""} {
		assert.Equal(t, []string{"x", s}, shellWords("x "+shellQuote(s)), "%q quoted %s", s, shellQuote(s))
	}
	assert.Equal(t, "file:///tmp/a", shellQuote("file:///tmp/a"), "safe words stay as they are")
}

// runKept runs the demo with o (o.keep set), in a temporary directory of
// the test's own, and returns its output; the kept directory is removed
// when the test ends.
func runKept(t *testing.T, o options) string {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // a failed run leaves nothing either
	var out bytes.Buffer
	require.NoError(t, run(&out, o), out.String())
	var kept string
	for line := range strings.Lines(out.String()) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "kept "); ok {
			kept, _, _ = strings.Cut(rest, " (")
		}
	}
	require.NotEmpty(t, kept, "no kept directory in:\n%s", out.String())
	t.Cleanup(func() { os.RemoveAll(kept) })
	assert.Equal(t, tmp, filepath.Dir(kept))
	for _, name := range []string{"n1", "n2", "n3", "archive"} {
		assert.DirExists(t, filepath.Join(kept, name))
	}
	testkit.AssertPrivate(t, kept) // nodes and archive: no group or other bits
	return out.String()
}

// buildCtl builds examples/ctl and returns the binary's path.
func buildCtl(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds examples/ctl")
	}
	bin := filepath.Join(t.TempDir(), "ctl")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "ctl")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./examples/ctl:\n%s", out)
	return bin
}

// ctlArgs finds the ctl command in the demo's output and returns its
// arguments after "go run ./examples/ctl".
func ctlArgs(t *testing.T, out string) []string {
	t.Helper()
	for line := range strings.Lines(out) {
		if w := shellWords(line); len(w) > 3 && w[0] == "go" && w[1] == "run" && w[2] == "./examples/ctl" {
			return w[3:]
		}
	}
	t.Fatalf("no ctl command in:\n%s", out)
	return nil
}

// runCtl runs the ctl binary with args and returns its output and exit
// status.
func runCtl(t *testing.T, bin string, args []string) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

// shellWords splits a line as a POSIX shell splits what shellQuote
// writes: on blanks, with single quotes and backslashes quoting.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, r := range s {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case quoted && r == '\'':
			quoted = false
		case quoted:
			w.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == '\\':
			escaped, inWord = true, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}
