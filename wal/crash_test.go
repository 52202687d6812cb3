package wal

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const crashChildEnv = "CONTINUITY_WAL_CRASH_CHILD_DIR"

// crashPayload is what writer w appends as its seq-th record.
func crashPayload(w, seq int) []byte {
	n := (w*7717+seq*131)%3000 + 16
	b := payload(LSN(w<<32|seq), n)
	copy(b, fmt.Sprintf("%04d/%09d", w, seq))
	return b
}

// crashChild runs in a child process: four writers append until the
// process is killed, printing "ack <lsn> <writer> <seq>" only after Append
// returned nil.
func crashChild() {
	l, err := Open(os.Getenv(crashChildEnv), Options{SegmentBytes: 256 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				lsn, _, err := l.Append(context.Background(), crashPayload(w, seq))
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d %d\n", lsn, w, seq)
				out.Flush() // the ack leaves the process only after Append returned
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrashKill9 appends from a child process, kills it with SIGKILL at a
// random moment and checks that every acknowledged record survived.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range killRounds {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		lines := make(chan string, 1<<16)
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// Kill after the first ack plus a random delay, so kills land
		// anywhere in the write/sync/roll cycle.
		select {
		case l := <-lines:
			lines <- l
		case <-time.After(30 * time.Second): // bounds a hang; not a timing assertion
			require.Failf(t, "no ack", "round %d: the child produced no ack; stderr: %s", round, stderr.String())
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond) // when to kill, not synchronization
		require.NoError(t, cmd.Process.Kill())
		<-readDone
		_ = cmd.Wait()
		close(lines)

		acked := map[LSN][2]int{}
		for line := range lines {
			var lsn LSN
			var w, seq int
			if _, err := fmt.Sscanf(line, "ack %d %d %d", &lsn, &w, &seq); err != nil || strings.Count(line, " ") != 3 {
				continue // a line cut by the kill
			}
			acked[lsn] = [2]int{w, seq}
		}
		require.NotEmpty(t, acked, "round %d", round)

		l, err := Open(dir, Options{SegmentBytes: 256 << 10})
		require.NoError(t, err, "round %d", round)
		r := l.NewReader(1)
		last := l.Last()
		for lsn := LSN(1); lsn <= last; lsn++ {
			rec, err := r.Next(t.Context())
			require.NoError(t, err, "round %d LSN %d", round, lsn)
			if ws, ok := acked[lsn]; ok {
				require.Equal(t, crashPayload(ws[0], ws[1]), rec.Data, "round %d LSN %d", round, lsn)
				delete(acked, lsn)
			}
		}
		require.Empty(t, acked, "round %d: acknowledged records missing after recovery (last %d)", round, last)
		require.NoError(t, r.Close())
		require.NoError(t, l.Close())
	}
	t.Logf("%d kills, every acknowledged record recovered", killRounds)
}
