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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	for i := 0; ; i++ {
		if _, _, err := l.Append(ctx, fmt.Appendf(nil, "event %d from pid %d", i, os.Getpid())); err != nil {
			die(err)
		}
		if i == 0 {
			// Ready once a record is durable: a first append can wait
			// long for its segment's zero-fill on a busy machine, and a
			// child killed before it leaves nothing to check.
			fmt.Println("ready")
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
	require.NoError(t, err)
	defer b.Close()
	repo, err := snapshot.Init(ctx, b, childKey, snapshot.Format{}, snapshot.Options{})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestArchiveKilledProcess$")
		cmd.Env = append(os.Environ(), archiveChildEnv+"="+dir+" "+bucketDir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		buf := make([]byte, 6)
		if _, err = io.ReadFull(out, buf); err != nil || string(buf) != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
		}
		require.NoError(t, err, "child did not start: %q", buf)
		require.Equal(t, "ready\n", string(buf), "child did not start")
		// The scenario: the child appends, ships and compacts for a
		// random while, and is killed wherever it happens to be. The
		// sleep is that while; the checks below hold whatever its length.
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}

	// Restart once more in this process, ship the rest, restore.
	l, err := wal.Open(dir, wal.Options{})
	require.NoError(t, err)
	defer l.Close()
	a, err := NewArchiver(l, repo, Options{NoCompaction: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	defer a.Close()
	flush(t, a)
	var want testsm.Chain
	r := l.NewReader(1)
	for wantLSN, _, _ := want.State(); wantLSN < l.Last(); wantLSN, _, _ = want.State() {
		rec, err := r.Next(ctx)
		require.NoError(t, err)
		require.NoError(t, want.Apply(rec))
	}
	r.Close()
	var got testsm.Chain
	res, err := RestoreTo(ctx, repo, Target{}, &got, RestoreOptions{})
	require.NoError(t, err)
	gotLSN, gotCount, gotSum := got.State()
	wantLSN, _, wantSum := want.State()
	assert.Equal(t, wantLSN, gotLSN, "restored LSN %d (%d records), the log has %d", gotLSN, gotCount, wantLSN)
	assert.Equal(t, int64(wantLSN), gotCount, "restored LSN %d (%d records), the log has %d", gotLSN, gotCount, wantLSN)
	assert.Equal(t, wantSum, gotSum, "restored LSN %d (%d records): a state other than the log's", gotLSN, gotCount)
	rep, err := Verify(ctx, repo, VerifyValid)
	require.NoError(t, err, "Verify")
	assert.True(t, rep.OK(), "Verify: %+v", rep)
	t.Logf("%d records, %d archive objects after 5 kills; restore read %d objects", gotLSN, rep.Objects, res.Objects)
}
