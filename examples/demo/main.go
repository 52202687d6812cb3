// Command demo runs a three-node continuity cluster on loopback, with
// mutual TLS and an encrypted archive in a temporary directory, and shows
// what the library promises: events acknowledged on the primary reach the
// standbys; when the primary stops, a standby takes over in about a
// second with every acknowledged event; and the archive restores the
// state as it was seconds earlier.
//
//	go run ./examples/demo            # about 15 seconds
//	go run ./examples/demo -keep      # keep the directory to look at
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/peer"
	"github.com/continuity-go/continuity/snapshot"
)

func main() {
	keep := flag.Bool("keep", false, "keep the data directory")
	events := flag.Int("events", 3000, "events to append before the fail-over")
	flag.Parse()
	if err := run(os.Stdout, *events, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// ledger is the state machine: balances folded from deposits.
type ledger struct {
	mu  sync.Mutex
	bal map[string]int
}

type deposit struct {
	Account string `json:"account"`
	Cents   int    `json:"cents"`
}

func (l *ledger) Apply(rec continuity.Record) error {
	var d deposit
	if err := json.Unmarshal(rec.Data, &d); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bal == nil {
		l.bal = map[string]int{}
	}
	l.bal[d.Account] += d.Cents
	return nil
}

func (l *ledger) Snapshot(w io.Writer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return json.NewEncoder(w).Encode(l.bal)
}

func (l *ledger) Restore(r io.Reader) error {
	m := map[string]int{}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return err
	}
	l.mu.Lock()
	l.bal = m
	l.mu.Unlock()
	return nil
}

func (l *ledger) copy() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.bal)
}

// accounts is how many accounts the ledger opens with: a state of about
// 1.5 MB, so that a second snapshot shows deduplication.
const accounts = 50_000

// opening is the ledger every node starts from (the state before LSN 1).
func opening() map[string]int {
	m := make(map[string]int, accounts)
	for i := 0; i < accounts; i++ {
		m[fmt.Sprintf("acct-%05d", i)] = 1000 + i%977
	}
	return m
}

type member struct {
	id         string
	raft, repl string
	sm         *ledger
	n          *continuity.Node
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func run(out io.Writer, events int, keep bool) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "continuity-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	say("1. three nodes on loopback: mutual TLS (a CA made now), one encrypted archive in %s", filepath.Join(dir, "archive"))
	ca, err := peer.NewCA("demo CA", 24*time.Hour)
	if err != nil {
		return err
	}
	var key [32]byte
	rand.Read(key[:])
	archiveURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "archive"))}).String()
	if err := os.MkdirAll(filepath.Join(dir, "archive"), 0o755); err != nil {
		return err
	}
	ids := []string{"n1", "n2", "n3"}
	var ms []*member
	for i, id := range ids {
		m := &member{id: id, sm: &ledger{bal: opening()}}
		if m.raft, err = freeAddr(); err != nil {
			return err
		}
		if m.repl, err = freeAddr(); err != nil {
			return err
		}
		t, err := ca.TLS("demo", id, ids)
		if err != nil {
			return err
		}
		m.n, err = continuity.Open(continuity.Config{
			Dir: filepath.Join(dir, id), Archive: archiveURL, Keys: snapshot.RawKey(key), Logger: quiet,
			Cluster: &continuity.ClusterConfig{Node: id, RaftBind: m.raft, ReplBind: m.repl, TLS: t, Bootstrap: i == 0, Sync: 1},
		}, m.sm)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	defer func() {
		for _, m := range ms {
			if m.n != nil {
				m.n.Close()
			}
		}
	}()
	for _, m := range ms[1:] {
		if err := ms[0].n.Join(ctx, m.id, m.raft, m.repl, true); err != nil {
			return err
		}
	}
	primary := func(not *member) (*member, error) {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, m := range ms {
				if m != not && m.n != nil {
					if _, ok := m.n.Coordinator().CanWrite(); ok {
						return m, nil
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil, errors.New("no primary")
	}
	p, err := primary(nil)
	if err != nil {
		return err
	}
	say("   %s is primary (epoch %d); every write waits for one standby's disk (sync mode)", p.id, p.n.Status().Epoch)

	say("\n2. append %d deposits on the primary", events)
	model := opening()
	var mark time.Time
	var markModel map[string]int
	var last continuity.LSN
	appendOne := func(p *member, i int) error {
		d := deposit{Account: fmt.Sprintf("acct-%05d", i*7919%500), Cents: 100 + i%7} // busy accounts: the first 500
		b, _ := json.Marshal(d)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		lsn, err := p.n.Append(wctx, b)
		if err != nil {
			return err
		}
		model[d.Account] += d.Cents
		last = lsn
		return nil
	}
	t0 := time.Now()
	for i := 0; i < events; i++ {
		if i == events/2 {
			if _, err := p.n.Snapshot(ctx); err != nil {
				return err
			}
		}
		if i == events*3/4 {
			time.Sleep(20 * time.Millisecond)
			mark, markModel = time.Now(), maps.Clone(model)
			time.Sleep(20 * time.Millisecond)
		}
		if err := appendOne(p, i); err != nil {
			return err
		}
	}
	took := time.Since(t0)
	say("   %d acknowledged in %v (%.0f/s), base snapshot half-way", events, took.Round(time.Millisecond), float64(events)/took.Seconds())
	for _, m := range ms {
		st := m.n.Status()
		say("   %s  %-7s  last LSN %5d  applied %5d  (lag %d)", m.id, st.Role, st.Last, st.Applied, last-st.Applied)
	}

	say("\n3. the primary %s stops; a standby takes over", p.id)
	stopped := time.Now()
	p.n.Close()
	p.n = nil
	np, err := primary(p)
	if err != nil {
		return err
	}
	var failover time.Duration
	for {
		if err := appendOne(np, events); err == nil {
			failover = time.Since(stopped)
			break
		}
		if time.Since(stopped) > 20*time.Second {
			return errors.New("no write acknowledged after the fail-over")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := np.n.WaitFor(ctx, last); err != nil {
		return err
	}
	got := np.sm.copy()
	if !maps.Equal(got, model) {
		return fmt.Errorf("the new primary's state differs from the %d acknowledged deposits", events+1)
	}
	say("   %s is primary of epoch %d; first write acknowledged %v after the stop", np.id, np.n.Status().Epoch, failover.Round(time.Millisecond))
	say("   its state holds all %d acknowledged deposits: nothing lost", events+1)

	say("\n4. restore the ledger as it was at %s (between two deposits), from the archive", mark.Format("15:04:05.000"))
	var then ledger
	res, err := np.n.RestoreTo(ctx, continuity.AtTime(mark), &then)
	if err != nil {
		return err
	}
	if !maps.Equal(then.copy(), markModel) {
		return errors.New("the restored ledger differs from the ledger at that instant")
	}
	say("   base snapshot %s + %d events replayed → LSN %d, identical to the ledger then (%v)", res.Snapshot.Short(), res.Records, res.LSN, res.Duration.Round(time.Millisecond))

	// A second base snapshot, on the new primary: only what changed is new.
	if err := np.n.WaitFor(ctx, np.n.Log().Last()); err != nil {
		return err
	}
	if _, err := np.n.Snapshot(ctx); err != nil {
		return err
	}
	ss := np.n.Status().Archive.SnapshotStats
	var stored int64
	filepath.WalkDir(filepath.Join(dir, "archive"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				stored += fi.Size()
			}
		}
		return nil
	})
	w, err := np.n.Window(ctx)
	if err != nil {
		return err
	}
	say("\n   summary")
	say("   %-34s %v", "fail-over (stop → first write)", failover.Round(time.Millisecond))
	say("   %-34s %d", "events acknowledged", events+1)
	say("   %-34s 0", "acknowledged events lost")
	say("   %-34s %d bytes (encrypted, compressed)", "archive size", stored)
	say("   %-34s %d of %d chunks reused, %d new bytes for a %d-byte state", "second snapshot (deduplicated)", ss.ChunksReused, ss.Chunks, ss.NewBytes, ss.BytesIn)
	say("   %-34s %s to %s (%s)", "restorable window", w.Earliest.Format("15:04:05.000"), w.Latest.Format("15:04:05.000"), w.Timeline)
	say("   %-34s %v", "demo time", time.Since(start).Round(time.Millisecond))
	return nil
}
