package archive

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/internal/testsm"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// archiveChildEnv makes the test binary run archiveChild instead of the
// test: a process that appends and archives until it is killed.
const archiveChildEnv = "CONTINUITY_ARCHIVE_CHILD"

var childKey = snapshot.RawKey([32]byte{11})

// archiveChild appends events to the log in dir and archives them to the
// file:// bucket at bucketDir, compacting every 50 ms, until SIGKILL.
func archiveChild(dir, bucketDir string) {
	ctx := context.Background()
	die := func(err error) { fmt.Fprintln(os.Stderr, "child:", err); os.Exit(2) }
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		die(err)
	}
	b, err := blob.OpenBucket(ctx, (&url.URL{Scheme: "file", Path: filepath.ToSlash(bucketDir)}).String())
	if err != nil {
		die(err)
	}
	repo, err := snapshot.Open(ctx, b, childKey, snapshot.Options{})
	if err != nil {
		die(err)
	}
	_, err = NewArchiver(l, repo, Options{
		ShipInterval: 10 * time.Millisecond, MaxObjectBytes: 2 << 10, Uploads: 3,
		Compaction: []time.Duration{50 * time.Millisecond, 200 * time.Millisecond},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		die(err)
	}
	fmt.Println("ready")
	for i := 0; ; i++ {
		if _, _, err := l.Append(ctx, fmt.Appendf(nil, "event %d from pid %d", i, os.Getpid())); err != nil {
			die(err)
		}
		if i%8 == 0 {
			// Paces the appends (some 8 a millisecond), so that the
			// archiver's cycles run among them and a round's log stays
			// small; nothing waits on it.
			time.Sleep(time.Millisecond)
		}
	}
}

// TestArchiveKilledProcess SIGKILLs a process that appends, ships and
// compacts, five times at random moments, restarting it each time on the
// same log and bucket; then restore must give exactly the log's records,
// each once.
func TestArchiveKilledProcess(t *testing.T) {
	if dirs := os.Getenv(archiveChildEnv); dirs != "" {
		var dir, bucketDir string
		fmt.Sscanf(dirs, "%s %s", &dir, &bucketDir)
		archiveChild(dir, bucketDir)
		return
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	dir, bucketDir := t.TempDir(), t.TempDir()
	b, err := blob.OpenBucket(ctx, (&url.URL{Scheme: "file", Path: filepath.ToSlash(bucketDir)}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	repo, err := snapshot.Init(ctx, b, childKey, snapshot.Format{}, snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestArchiveKilledProcess$")
		cmd.Env = append(os.Environ(), archiveChildEnv+"="+dir+" "+bucketDir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not start: %q, %v", buf, err)
		}
		// The scenario: the child appends, ships and compacts for a
		// random while, and is killed wherever it happens to be. The
		// sleep is that while; the checks below hold whatever its length.
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}

	// Restart once more in this process, ship the rest, restore.
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	a, err := NewArchiver(l, repo, Options{NoCompaction: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	flush(t, a)
	var want testsm.Chain
	r := l.NewReader(1)
	for wantLSN, _, _ := want.State(); wantLSN < l.Last(); wantLSN, _, _ = want.State() {
		rec, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := want.Apply(rec); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	var got testsm.Chain
	res, err := RestoreTo(ctx, repo, Target{}, &got, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gotLSN, gotCount, gotSum := got.State()
	wantLSN, _, wantSum := want.State()
	if gotLSN != wantLSN || gotSum != wantSum || gotCount != int64(wantLSN) {
		t.Fatalf("restored LSN %d (%d records), the log has %d", gotLSN, gotCount, wantLSN)
	}
	rep, err := Verify(ctx, repo, VerifyValid)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
	t.Logf("%d records, %d archive objects after 5 kills; restore read %d objects", gotLSN, rep.Objects, res.Objects)
}
