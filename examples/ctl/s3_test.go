package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/internal/testkit"
)

// The read-only credentials of the S3 test bucket: .ci/run makes a
// versitygw user that may only get and list its objects.
const (
	s3ROKeyEnv    = "CONTINUITY_TEST_S3_RO_ACCESS_KEY_ID"
	s3ROSecretEnv = "CONTINUITY_TEST_S3_RO_SECRET_ACCESS_KEY"
)

// TestReadOnlyS3 is TestReadOnlyArchive on S3: with credentials that may
// only read the bucket (s3:GetObject, s3:ListBucket), every read command
// works, a dry run too, and a write fails saying access is denied,
// leaving the archive's objects as they were.
func TestReadOnlyS3(t *testing.T) {
	s3URL := os.Getenv(testkit.S3URLEnv)
	roKey, roSecret := os.Getenv(s3ROKeyEnv), os.Getenv(s3ROSecretEnv)
	if s3URL == "" || roKey == "" || roSecret == "" {
		t.Skipf("%s, %s and %s are not all set; .ci/run starts versitygw with a read-only user and sets them:\n\t./.ci/run with-s3 go test ./examples/ctl -run TestReadOnlyS3",
			testkit.S3URLEnv, s3ROKeyEnv, s3ROSecretEnv)
	}
	ctx := context.Background()

	// A Node writes the archive under a prefix of its own with the
	// root credentials of this process's environment.
	dir := t.TempDir()
	prefix := "ctl-readonly-" + rand.Text() + "/"
	archive := s3URL + "&prefix=" + url.QueryEscape(prefix)
	root, err := blob.OpenBucket(ctx, archive)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer root.Close()
		if t.Failed() {
			t.Logf("keeping the objects under %q in %s", prefix, s3URL)
			return
		}
		for _, o := range objects(t, root) {
			key, _, _ := strings.Cut(o, " ")
			if err := root.Delete(context.Background(), key); err != nil {
				t.Errorf("delete %s%s: %v", prefix, key, err)
			}
		}
	})
	i := 0
	for s, events := range []int{8, 4} {
		n, err := continuity.Open(ctx, continuity.Config{Dir: dir, Archive: archive, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &kv{})
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < events; k++ {
			if _, _, err := n.Append(ctx, fmt.Appendf(nil, "k%d=v%d", i%4, i)); err != nil {
				t.Fatal(err)
			}
			i++
		}
		if s == 0 {
			if err := n.WaitFor(ctx, continuity.LSN(i)); err != nil {
				t.Fatal(err)
			}
			if _, err := n.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	before := objects(t, root)
	if len(before) == 0 {
		t.Fatalf("the Node wrote nothing under %q", prefix)
	}

	// ctl gets only the read-only credentials.
	c := ctlCmd{env: []string{"AWS_ACCESS_KEY_ID=" + roKey, "AWS_SECRET_ACCESS_KEY=" + roSecret, "AWS_EC2_METADATA_DISABLED=true"}}
	args := func(args ...string) []string {
		return append([]string{"--archive", archive, "--key-file", filepath.Join(dir, "archive.key")}, args...)
	}
	out := t.TempDir()
	for _, a := range [][]string{
		{"window"}, {"snapshots"}, {"stats"}, {"keys", "list"},
		{"verify", "--read-data"}, {"drill"},
		{"restore", "--lsn", "10", "--out", filepath.Join(out, "state")},
		{"forget", "--keep-window", "1ns", "--keep-last", "1", "--dry-run"},
		{"prune", "--dry-run"},
		{"repair", "snapshots", "--dry-run"},
	} {
		if r := c.run(t, args(a...)...); r.code != 0 {
			t.Errorf("ctl %v with read-only S3 credentials: %s", a, r)
		}
	}
	r := c.run(t, args("prune")...)
	if msg := strings.ToLower(r.err); r.code == 0 || !strings.Contains(msg, "accessdenied") && !strings.Contains(msg, "access denied") && !strings.Contains(msg, "read-only") {
		t.Errorf("prune with read-only S3 credentials: want a failure saying access is denied; got %s", r)
	}
	t.Logf("prune with read-only S3 credentials: exit %d: %s", r.code, strings.TrimSpace(r.err))
	if after := objects(t, root); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("the archive changed under read-only credentials:\n%s\nbecame\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// objects lists a bucket's objects with their sizes, MD5s and times.
func objects(t *testing.T, b *blob.Bucket) []string {
	t.Helper()
	var objs []string
	it := b.List(nil)
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, fmt.Sprintf("%s %d %x %s", o.Key, o.Size, o.MD5, o.ModTime.Format(time.RFC3339Nano)))
	}
}
