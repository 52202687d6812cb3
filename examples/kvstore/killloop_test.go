package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/internal/testkit"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

// TestKillLoop SIGKILLs the primary of three kvstore processes three
// times while a client writes unique keys, restarting each victim with
// its original command. No acknowledged write may be lost, no refused
// one may appear, a write of unknown outcome must be present on all
// nodes or on none, and the state restored from the shared archive must
// be the state the nodes serve. It runs on a shared directory and, under
// .ci/run (which starts a loopback S3 server), on S3.
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	t.Run("file", func(t *testing.T) { killLoop(t, "") })
	t.Run("s3", func(t *testing.T) {
		u := os.Getenv(testkit.S3URLEnv)
		if u == "" {
			t.Skipf("$%s is not set: run under .ci/run (or .ci/run with-s3 go test ...)", testkit.S3URLEnv)
		}
		// A prefix of its own in the shared test bucket.
		killLoop(t, u+"&prefix="+url.QueryEscape("kvstore-killloop-"+rand.Text()+"/"))
	})
}

func killLoop(t *testing.T, archiveURL string) {
	start := time.Now()
	c := newCluster(t, archiveURL)
	w := startKeyWriter(c)
	defer w.stop()
	var took []time.Duration
	for i := 1; i <= 3; i++ {
		var victim *member
		n := w.count(acked)
		testkit.Eventually(t, func() bool {
			p, ok := c.healthy()
			victim = p
			return ok && w.count(acked) >= n+200
		}, "200 more writes acknowledged by a healthy cluster before kill %d", i)
		d := c.failover(victim, w.ackedAfter, w.highestAcked)
		took = append(took, d)
		p, _ := c.healthy()
		t.Logf("kill %d: SIGKILLed primary %s; first write acknowledged by the new primary %s after %v; %s restarted, ready and caught up",
			i, victim.id, p.id, d.Round(time.Millisecond), victim.id)
	}
	writes := w.stop()
	n := counts(writes)
	t.Logf("fail-over times (kill to first acknowledged write): %v", took)
	t.Logf("%d keys written: %d acknowledged, %d unknown, %d refused", len(writes), n[acked], n[unknown], n[refused])
	for _, kw := range writes {
		if kw.outcome != acked {
			t.Logf("%s: %s: %s", kw.key, kw.outcome, kw.detail)
		}
	}

	state, last := checkServed(t, c, writes)
	checkArchive(t, c, state, last)
	t.Logf("took %v", time.Since(start).Round(time.Second))
}

// keyWrite is one key the writer wrote, with its value and outcome.
type keyWrite struct {
	key, value string
	outcome    outcome
	lsn        uint64    // acked: the LSN
	at         time.Time // acked: when the 200 arrived
	detail     string    // the last attempt's error, if any
}

// keyWriter PUTs keys k000000, k000001, ... (value v<same number>) one
// after another, each through the nodes in turn, retrying a refused
// write (after its Retry-After) for up to 4 s before recording it as
// refused; an unknown outcome is recorded at once, never retried.
type keyWriter struct {
	c      *cluster
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	writes []keyWrite
}

func startKeyWriter(c *cluster) *keyWriter {
	ctx, cancel := context.WithCancel(context.Background())
	w := &keyWriter{c: c, cancel: cancel}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			kw := w.put(ctx, i)
			w.mu.Lock()
			w.writes = append(w.writes, kw)
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *keyWriter) put(ctx context.Context, i int) keyWrite {
	kw := keyWrite{key: fmt.Sprintf("k%06d", i), value: fmt.Sprintf("v%06d", i)}
	giveUp := time.Now().Add(4 * time.Second)
	for attempt := 0; ; attempt++ {
		m := w.c.members[(i+attempt)%len(w.c.members)]
		r := w.c.write(m.http, kw.key, kw.value)
		kw.outcome, kw.lsn, kw.detail = r.outcome, r.lsn, r.detail
		if r.outcome == acked {
			kw.at = time.Now()
		}
		if r.outcome != refused || time.Now().After(giveUp) {
			return kw
		}
		backoff := max(r.retryAfter, 100*time.Millisecond)
		select {
		case <-ctx.Done():
			return kw
		case <-time.After(backoff):
		}
	}
}

// stop stops the writer (safe to call again) and returns its writes.
func (w *keyWriter) stop() []keyWrite {
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

func (w *keyWriter) count(o outcome) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, kw := range w.writes {
		if kw.outcome == o {
			n++
		}
	}
	return n
}

// ackedAfter is the time of the first acknowledgement that arrived
// after t.
func (w *keyWriter) ackedAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, kw := range w.writes {
		if kw.outcome == acked && kw.at.After(t) {
			return kw.at, true
		}
	}
	return time.Time{}, false
}

func (w *keyWriter) highestAcked() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var h uint64
	for _, kw := range w.writes {
		h = max(h, kw.lsn)
	}
	return h
}

// checkServed waits until every node has applied everything, then
// checks what each serves against the writes: acknowledged keys with
// their values, refused keys absent, unknown keys alike on every node.
// It returns the state the nodes serve (over the keys ever written) and
// the cluster's last LSN.
func checkServed(t *testing.T, c *cluster, writes []keyWrite) (map[string]string, uint64) {
	t.Helper()
	var highest uint64
	byLSN := map[uint64]string{}
	for _, kw := range writes {
		if kw.outcome != acked {
			continue
		}
		if other, dup := byLSN[kw.lsn]; dup {
			t.Errorf("%s and %s were both acknowledged at LSN %d: one of them is lost", other, kw.key, kw.lsn)
		}
		byLSN[kw.lsn] = kw.key
		highest = max(highest, kw.lsn)
	}
	var last uint64
	testkit.Eventually(t, func() bool {
		p, ok := c.healthy()
		if !ok {
			return false
		}
		ps, err := c.status(p)
		if err != nil || ps.Last < highest {
			return false
		}
		last = ps.Last
		for _, m := range c.members {
			s, err := c.status(m)
			if err != nil || s.Applied != last || s.Last != last {
				return false
			}
		}
		return true
	}, "every node ready, agreeing on the primary and caught up to the highest acknowledged LSN %d", highest)
	for _, m := range c.members {
		s, _ := c.status(m)
		t.Logf("%s: %+v", m.id, s)
	}

	keys := []string{"_probe"}
	for _, kw := range writes {
		keys = append(keys, kw.key)
	}
	served := make([]map[string]readResult, len(c.members))
	var wg sync.WaitGroup
	for i, m := range c.members {
		served[i] = map[string]readResult{}
		wg.Go(func() {
			for _, k := range keys {
				served[i][k] = c.read(m.http, k, highest)
			}
		})
	}
	wg.Wait()

	state := map[string]string{}
	for i, m := range c.members {
		if r := served[i]["_probe"]; !r.ok || r.value != "x" {
			t.Errorf("%s: _probe: %+v", m.id, r)
		}
	}
	state["_probe"] = "x"
	for _, kw := range writes {
		var present []string
		answered := 0
		for i, m := range c.members {
			r := served[i][kw.key]
			if r.ok {
				answered++
			}
			switch {
			case !r.ok:
				t.Errorf("%s: GET %s?min_lsn=%d failed: %s", m.id, kw.key, highest, r.detail)
				continue
			case r.found && r.value != kw.value:
				t.Errorf("%s: %s = %q, want %q (%s write)", m.id, kw.key, r.value, kw.value, kw.outcome)
			case kw.outcome == acked && !r.found:
				t.Errorf("%s: %s, acknowledged at LSN %d, is lost", m.id, kw.key, kw.lsn)
			case kw.outcome == refused && r.found:
				t.Errorf("%s: %s was refused (%s) but is there", m.id, kw.key, kw.detail)
			}
			if r.found {
				present = append(present, m.id)
				state[kw.key] = r.value
			}
		}
		if kw.outcome == unknown && answered == len(c.members) && len(present) != 0 && len(present) != len(c.members) {
			t.Errorf("%s (unknown outcome: %s) is on %v only", kw.key, kw.detail, present)
		}
	}
	unknownPresent := 0
	for _, kw := range writes {
		if _, ok := state[kw.key]; ok && kw.outcome == unknown {
			unknownPresent++
		}
	}
	t.Logf("of the %d writes of unknown outcome, %d took effect", counts(writes)[unknown], unknownPresent)
	return state, last
}

// counts counts the writes by outcome.
func counts(writes []keyWrite) map[outcome]int {
	n := map[outcome]int{}
	for _, kw := range writes {
		n[kw.outcome]++
	}
	return n
}

// checkArchive waits until the primary has archived through last, stops
// every process with SIGTERM, restores the state as of last from the
// shared archive and compares it with the state the nodes served.
func checkArchive(t *testing.T, c *cluster, state map[string]string, last uint64) {
	t.Helper()
	testkit.Eventually(t, func() bool {
		p, ok := c.healthy()
		if !ok {
			return false
		}
		s, err := c.status(p)
		return err == nil && s.Archived >= last
	}, "the primary to archive through LSN %d", last)
	for id, err := range c.stopAll() {
		t.Errorf("%s exited on SIGTERM with %v", id, err)
	}

	ctx := t.Context()
	b, err := localblob.Open(ctx, c.archiveURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	key, err := os.ReadFile(c.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := snapshot.Open(ctx, b, snapshot.RawKey([32]byte(key)), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	sm := &foldedKV{m: map[string]string{}}
	res, err := archive.RestoreTo(ctx, repo, archive.AtLSN(wal.LSN(last)), sm, archive.RestoreOptions{})
	if err != nil {
		t.Fatalf("restore LSN %d from the archive: %v", last, err)
	}
	t.Logf("restored LSN %d from the archive: base snapshot %s (LSN %d), %d records replayed, in %v",
		res.LSN, res.Snapshot.Short(), res.SnapshotLSN, res.Records, res.Duration.Round(time.Millisecond))
	if uint64(res.LSN) != last {
		t.Errorf("restored through LSN %d, want %d", res.LSN, last)
	}
	if !maps.Equal(sm.m, state) {
		for k, v := range sm.m {
			if sv, ok := state[k]; !ok || sv != v {
				t.Errorf("restored %s = %q; the nodes serve %q (present: %v)", k, v, sv, ok)
			}
		}
		for k, v := range state {
			if _, ok := sm.m[k]; !ok {
				t.Errorf("restored state lacks %s; the nodes serve %q", k, v)
			}
		}
	}
}

// foldedKV is a state machine folding kvstore's events, written apart
// from main.go's store so that the archive is checked against the
// event format rather than against the same code.
type foldedKV struct {
	m map[string]string
}

func (f *foldedKV) Apply(rec wal.Record) error {
	var e struct {
		Op    string `json:"op"`
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal(rec.Data, &e); err != nil {
		return fmt.Errorf("LSN %d: %w", rec.LSN, err)
	}
	switch e.Op {
	case "put":
		f.m[e.Key] = e.Value
	case "delete":
		delete(f.m, e.Key)
	default:
		return fmt.Errorf("LSN %d: unknown op %q", rec.LSN, e.Op)
	}
	return nil
}

// Snapshot and Restore use kvstore's snapshot format: the map as JSON.
func (f *foldedKV) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(f.m) }

func (f *foldedKV) Restore(r io.Reader) error {
	m := map[string]string{}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return err
	}
	f.m = m
	return nil
}

var _ archive.StateMachine = (*foldedKV)(nil)
