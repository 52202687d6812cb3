package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/continuity-go/continuity/internal/testkit"
)

// TestCertsFileModes: 'kvstore certs' leaves no file or directory open to
// the group or others, also when it rewrites the files of an earlier run
// made with looser modes.
func TestCertsFileModes(t *testing.T) {
	out := filepath.Join(t.TempDir(), "certs")
	if err := certsCmd([]string{"-out", out, "-nodes", "n1,n2"}); err != nil {
		t.Fatal(err)
	}
	// certs, ca.pem, nodes, archive.key, and a certificate and key per node.
	if n := testkit.AssertPrivate(t, out); n != 8 {
		t.Fatalf("checked %d entries, want 8", n)
	}
	for _, name := range []string{"ca.pem", "n1.pem", "nodes"} {
		if err := os.Chmod(filepath.Join(out, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := certsCmd([]string{"-out", out, "-nodes", "n1,n2"}); err != nil {
		t.Fatal(err)
	}
	testkit.AssertPrivate(t, out)
}
