package localblob

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/internal/vfs"
)

const (
	killChildEnv = "CONTINUITY_LOCALBLOB_KILL_CHILD_DIR"
	killRoundEnv = "CONTINUITY_LOCALBLOB_KILL_ROUND"
	killWriters  = 4
)

// killSize is the size of writer w's seq-th object: up to 20 KB, so that
// some are written in several pieces and most are longer than a sniff.
func killSize(w, seq int) int { return (seq*131+w*7717)%20_000 + 1 }

// raceContent is what writer w writes to a key all writers race for.
func raceContent(key string, w int) []byte {
	return content(key+"#"+strconv.Itoa(w), killSize(w, len(key)))
}

// killChild runs in a child process until it is killed: killWriters
// writers write objects to the bucket at dir, a third of them with
// IfNotExist, delete every fifth after writing it, and all race with
// IfNotExist for one shared key in sixteen. Each prints a line only after
// the operation returned nil: "ack KEY" (the key holds content(KEY)),
// "win KEY W" (the race key holds raceContent(KEY, W)), "del KEY".
func killChild(dir string) {
	ctx := context.Background()
	round := os.Getenv(killRoundEnv)
	b, err := OpenBucket(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush() // the line leaves the process only after the operation returned
		mu.Unlock()
	}
	fail := func(what string, err error) {
		fmt.Fprintln(os.Stderr, what+":", err)
		os.Exit(3)
	}
	var wg sync.WaitGroup
	for w := range killWriters {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				if seq%16 == 0 {
					key := fmt.Sprintf("r%s/race/%06d", round, seq/16)
					err := b.WriteAll(ctx, key, raceContent(key, w), &blob.WriterOptions{IfNotExist: true})
					switch {
					case err == nil:
						say("win %s %d", key, w)
					case gcerrors.Code(err) != gcerrors.FailedPrecondition:
						fail("race", err)
					}
				}
				key := fmt.Sprintf("r%s/w%d/%06d", round, w, seq)
				opts := &blob.WriterOptions{IfNotExist: seq%3 == 0}
				if err := b.WriteAll(ctx, key, content(key, killSize(w, seq)), opts); err != nil {
					fail("write", err)
				}
				say("ack %s", key)
				if seq%5 == 4 {
					if err := b.Delete(ctx, key); err != nil {
						fail("delete", err)
					}
					say("del %s", key)
				}
			}
		})
	}
	wg.Wait()
}

// TestKilledProcess writes objects from a child process, SIGKILLs it after
// a random number of acknowledgements, reopens the bucket and checks that
// every acknowledged object is there and whole, every acknowledged delete
// stuck, no object is torn, and the temporary area holds only the new
// bucket's lock.
func TestKilledProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	objects := map[string][]byte{} // every key acknowledged in any round and not deleted
	pending := map[string]bool{}   // acknowledged, then deleted without saying so, perhaps
	leftovers := 0
	for round := range killRounds {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir, killRoundEnv+"="+strconv.Itoa(round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())

		lines := make(chan string, 1<<16)
		go func() {
			defer close(lines)
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return // EOF; a line without its newline was cut by the kill
				}
				lines <- strings.TrimSuffix(line, "\n")
			}
		}()
		// Kill once the child has acknowledged a random number of writes:
		// it is then somewhere in the middle of its next ones.
		want := 1 + rng.IntN(60)
		var got []string
		acks := 0
	wait:
		for acks < want {
			select {
			case line, ok := <-lines:
				if !ok {
					break wait
				}
				got = append(got, line)
				if strings.HasPrefix(line, "ack ") {
					acks++
				}
			case <-time.After(time.Minute): // bounds a hang; not a timing assertion
				break wait
			}
		}
		require.NoError(t, cmd.Process.Kill())
		for line := range lines {
			got = append(got, line)
		}
		_ = cmd.Wait()
		require.GreaterOrEqual(t, acks, want, "round %d: the child stopped early; stderr: %s", round, stderr.String())

		for _, line := range got {
			f := strings.Fields(line)
			switch {
			case f[0] == "ack" && len(f) == 2:
				objects[f[1]] = content(f[1], sizeOf(f[1]))
				if seqOf(f[1])%5 == 4 {
					// The child deletes it next: the kill may land after
					// the delete and before its line.
					pending[f[1]] = true
				}
			case f[0] == "win" && len(f) == 3:
				w, err := strconv.Atoi(f[2])
				require.NoError(t, err)
				objects[f[1]] = raceContent(f[1], w)
			case f[0] == "del" && len(f) == 2:
				delete(objects, f[1])
				delete(pending, f[1])
			default:
				require.Failf(t, "bad line", "round %d: %q", round, line)
			}
		}

		left, err := vfs.Default().List(filepath.Join(dir, tmpDirName))
		require.NoError(t, err)
		for _, name := range left {
			if strings.HasSuffix(name, tmpExt) {
				leftovers++
			}
		}

		d, err := openBucket(dir, nil)
		require.NoError(t, err, "round %d", round)
		b := blob.NewBucket(d)
		ctx := t.Context()
		for key, want := range objects {
			got, err := b.ReadAll(ctx, key)
			if pending[key] && gcerrors.Code(err) == gcerrors.NotFound {
				delete(objects, key)
				delete(pending, key)
				continue
			}
			require.NoError(t, err, "round %d: acknowledged %s", round, key)
			require.True(t, bytes.Equal(want, got), "round %d: %s holds %d bytes, not what was acknowledged", round, key, len(got))
		}
		keys, err := listAll(ctx, b, "")
		require.NoError(t, err)
		for _, key := range keys {
			got, err := b.ReadAll(ctx, key)
			require.NoError(t, err)
			require.True(t, killWhole(key, got), "round %d: %s is torn (%d bytes)", round, key, len(got))
		}
		tmp, err := vfs.Default().List(filepath.Join(dir, tmpDirName))
		require.NoError(t, err)
		require.Equal(t, []string{d.id + lockExt}, tmp, "round %d: the temporary area after open", round)
		require.NoError(t, b.Close())
	}
	t.Logf("%d kills; %d objects acknowledged and kept; %d temporary files left by the kills, all removed on open",
		killRounds, len(objects), leftovers)
}

// parsePlain returns the writer and sequence number of killChild's plain
// key "r<round>/w<w>/<seq>".
func parsePlain(key string) (w, seq int, ok bool) {
	var round int
	_, err := fmt.Sscanf(key, "r%d/w%d/%d", &round, &w, &seq)
	return w, seq, err == nil
}

// sizeOf returns the size killChild gives a plain key, -1 for another.
func sizeOf(key string) int {
	w, seq, ok := parsePlain(key)
	if !ok {
		return -1
	}
	return killSize(w, seq)
}

// seqOf returns the sequence number of a plain key, -1 for another.
func seqOf(key string) int {
	_, seq, ok := parsePlain(key)
	if !ok {
		return -1
	}
	return seq
}

// killWhole reports whether got is a whole object killChild writes to key.
func killWhole(key string, got []byte) bool {
	if strings.Contains(key, "/race/") {
		for w := range killWriters {
			if bytes.Equal(got, raceContent(key, w)) {
				return true
			}
		}
		return false
	}
	n := sizeOf(key)
	return n >= 0 && bytes.Equal(got, content(key, n))
}
