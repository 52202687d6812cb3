package localblob

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/continuity-go/continuity/internal/vfs"
)

// ack is an operation whose call returned nil: after it, key holds data,
// or nothing if gone.
type ack struct {
	key  string
	data []byte
	gone bool
}

// crashPoint is a power loss taken during the workload: fs is what
// survived, and the first acked entries of the log had returned before it.
type crashPoint struct {
	fs    *vfs.MemFS
	acked int
	torn  bool
}

// TestPowerLoss runs writers against a bucket on MemFS (plain writes,
// IfNotExist writes, overwrites, deletes, and IfNotExist races for shared
// keys) and takes power losses (CrashClone, and CrashCloneTorn keeping a
// random part of the unsynced writes) at random moments between their
// operations. Reopened on each crashed file system, the bucket holds every
// object whose write had returned, byte for byte, lacks every object whose
// delete had returned, shows no other object than one in flight at the
// crash (and that one whole), lists no temporary file, and leaves only its
// own lock in the temporary area.
func TestPowerLoss(t *testing.T) {
	for range crashRounds {
		seed := uint64(time.Now().UnixNano())
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			powerLoss(t, seed)
		})
	}
}

func powerLoss(t *testing.T, seed uint64) {
	const (
		writers = 4
		ops     = 120
		dir     = "/bucket"
	)
	ctx := t.Context()
	m := vfs.NewMem()
	b := openFS(t, m, dir)

	var mu sync.Mutex // guards log, points and the race tallies
	var log []ack
	var points []crashPoint
	wins := map[string]int{}
	record := func(rng *rand.Rand, a ack) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, a)
		// A power loss now: every write acknowledged so far returned
		// before it, while the other writers are somewhere in theirs.
		switch rng.IntN(40) {
		case 0:
			points = append(points, crashPoint{fs: m.CrashClone(), acked: len(log)})
		case 1:
			keep := rng.IntN(3) // 0: none, 1: half, 2: all of the unsynced writes
			clone := m.CrashCloneTorn(func(string, int64, int) bool { return keep == 2 || keep == 1 && rng.IntN(2) == 0 })
			points = append(points, crashPoint{fs: clone, acked: len(log), torn: true})
		}
	}

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var mine []string // this writer's keys that exist
			races := 0
			for i := range ops {
				data := make([]byte, rng.IntN(3000))
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
				switch r := rng.IntN(100); {
				case r < 45 || len(mine) == 0:
					key := fmt.Sprintf("w%d/%02x/%04d", w, i%4, i)
					opts := &blob.WriterOptions{IfNotExist: rng.IntN(2) == 0}
					if err := b.WriteAll(ctx, key, data, opts); !assertNoError(t, err, "write %s", key) {
						return
					}
					mine = append(mine, key)
					record(rng, ack{key: key, data: data})
				case r < 60:
					key := mine[rng.IntN(len(mine))]
					if err := b.WriteAll(ctx, key, data, nil); !assertNoError(t, err, "overwrite %s", key) {
						return
					}
					record(rng, ack{key: key, data: data})
				case r < 75:
					j := rng.IntN(len(mine))
					key := mine[j]
					if err := b.Delete(ctx, key); !assertNoError(t, err, "delete %s", key) {
						return
					}
					mine = append(mine[:j], mine[j+1:]...)
					record(rng, ack{key: key, gone: true})
				default:
					// Every writer races for race/0, race/1, … in turn.
					key := fmt.Sprintf("race/%04d", races)
					races++
					err := b.WriteAll(ctx, key, data, &blob.WriterOptions{IfNotExist: true})
					if gcerrors.Code(err) == gcerrors.FailedPrecondition {
						continue
					}
					if !assertNoError(t, err, "race %s", key) {
						return
					}
					mu.Lock()
					wins[key]++
					mu.Unlock()
					record(rng, ack{key: key, data: data})
				}
			}
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	for key, n := range wins {
		require.Equal(t, 1, n, "%s: IfNotExist writers that succeeded", key)
	}
	points = append(points, crashPoint{fs: m.CrashClone(), acked: len(log)})
	t.Logf("%d acknowledged operations, %d power losses", len(log), len(points))
	for i, p := range points {
		checkCrash(t, fmt.Sprintf("power loss %d (after %d acks, torn %v)", i, p.acked, p.torn), p, log, dir)
	}
}

// assertNoError reports err as a test failure from a writer goroutine.
func assertNoError(t *testing.T, err error, format string, args ...any) bool {
	if err != nil {
		t.Errorf("%s: %v", fmt.Sprintf(format, args...), err)
		return false
	}
	return true
}

// checkCrash reopens the bucket on p's file system and compares it with
// the log: a key's state must be the one its last acknowledged operation
// before the crash left, or the one its next operation (in flight at the
// crash) would leave.
func checkCrash(t *testing.T, name string, p crashPoint, log []ack, dir string) {
	ctx := t.Context()
	type states struct {
		acked, next *ack // next: the first operation on the key after the crash
	}
	keys := map[string]*states{}
	for i, a := range log {
		s := keys[a.key]
		if s == nil {
			s = &states{}
			keys[a.key] = s
		}
		switch {
		case i < p.acked:
			s.acked = &log[i]
		case s.next == nil:
			s.next = &log[i]
		}
	}
	matches := func(a *ack, data []byte, present bool) bool {
		if a == nil || a.gone {
			return !present
		}
		return present && bytes.Equal(a.data, data)
	}

	before, err := p.fs.List(path.Join(dir, tmpDirName))
	require.NoError(t, err, name)
	d, err := openBucket(dir, &Options{fs: p.fs})
	require.NoError(t, err, name)
	b := blob.NewBucket(d)
	defer b.Close()

	listed, err := listAll(ctx, b, "")
	require.NoError(t, err, name)
	present := map[string]bool{}
	for _, key := range listed {
		_, ok := keys[key]
		require.True(t, ok, "%s: lists %q, which no operation wrote", name, key)
		present[key] = true
	}
	for key, s := range keys {
		data, err := b.ReadAll(ctx, key)
		if gcerrors.Code(err) == gcerrors.NotFound {
			err = nil
		} else {
			require.True(t, present[key], "%s: %s can be read but is not listed", name, key)
		}
		require.NoError(t, err, "%s: read %s", name, key)
		ok := matches(s.acked, data, present[key]) || s.next != nil && matches(s.next, data, present[key])
		require.True(t, ok, "%s: %s is present=%v with %d bytes; acknowledged: %+v, in flight: %+v",
			name, key, present[key], len(data), describe(s.acked), describe(s.next))
	}
	after, err := p.fs.List(path.Join(dir, tmpDirName))
	require.NoError(t, err, name)
	require.Equal(t, []string{d.id + lockExt}, after, "%s: temporary area after open (before: %q)", name, before)
}

// describe shows an ack without its bytes.
func describe(a *ack) string {
	switch {
	case a == nil:
		return "none"
	case a.gone:
		return "deleted"
	}
	return fmt.Sprintf("%d bytes", len(a.data))
}
