// Command demo runs a three-node continuity cluster on loopback, with
// mutual TLS and one encrypted archive, and shows what the library
// promises: events acknowledged on the primary reach the standbys; when
// the primary stops, a standby takes over in about a second with every
// acknowledged event; and the archive restores the state as it was
// seconds earlier. It takes its archive and key as a deployment does, and
// leaves an archive the ctl tool opens. From the repository root:
//
//	go run ./examples/demo                  # 5-25 seconds, in a temporary directory
//	go run ./examples/demo -keep            # keep the directory; print the ctl command
//	go run ./examples/demo -archive file:///srv/demo-archive -key-file /srv/demo.key
//	export DEMO_PASS='a long passphrase'; go run ./examples/demo -keep -passphrase-env DEMO_PASS
//
// -archive is a gocloud.dev/blob URL of an empty archive: file:///abs/dir
// (an existing directory) or s3://bucket?region=...&prefix=demo/. Default:
// the directory archive in the demo's temporary directory. The key, as
// for ctl: -key-file F, 32 raw bytes (made, mode 0600, if F does not
// exist), or -passphrase-env VAR; default: a new key in archive.key in the
// temporary directory. When the archive and its key outlive the demo (with
// -keep, or both given), it ends with the command that opens the archive:
//
//	go run ./examples/ctl --archive file:///tmp/continuity-demo-123/archive --key-file /tmp/continuity-demo-123/archive.key window
//
// Exit status: 0 done, 1 the demo failed, 2 a wrong flag.
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
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/peer"
	"github.com/continuity-go/continuity/snapshot"
)

func main() {
	os.Exit(demo(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses (see the package documentation).
const (
	exitFailed = 1
	exitUsage  = 2
)

// usageError is a wrong flag: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error; the message says what to do.
func usagef(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// demo runs the command with args and returns its exit status. Errors
// go to errOut on one line.
func demo(args []string, out, errOut io.Writer) int {
	o, err := parseArgs(args, errOut)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = run(out, o)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintln(errOut, "demo:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

// options is what the command line sets.
type options struct {
	events  int    // deposits before the fail-over
	keep    bool   // keep the temporary directory
	archive string // bucket URL; "" means the directory archive in the temporary directory
	keyFile string // file of the 32-byte raw key, made if missing
	passEnv string // environment variable holding the passphrase
}

// parseArgs reads the flags. -h prints them to help and returns
// flag.ErrHelp; a wrong flag is a usage error.
func parseArgs(args []string, help io.Writer) (options, error) {
	var o options
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	flags.SetOutput(io.Discard) // errors are printed on one line by demo
	flags.IntVar(&o.events, "events", 3000, "events to append before the fail-over")
	flags.BoolVar(&o.keep, "keep", false, "keep the temporary directory (nodes, default archive and key) and print the ctl command that opens the archive")
	flags.StringVar(&o.archive, "archive", "", "bucket URL of an empty archive (file:///abs/dir, s3://bucket?region=...) (default: a directory in the temporary directory)")
	flags.StringVar(&o.keyFile, "key-file", "", "file holding the 32-byte raw key; made if it does not exist (default: archive.key in the temporary directory)")
	flags.StringVar(&o.passEnv, "passphrase-env", "", "environment variable holding the passphrase (instead of -key-file)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(help, "usage: go run ./examples/demo [-events N] [-keep] [-archive URL] [-key-file F | -passphrase-env VAR]")
			flags.SetOutput(help)
			flags.PrintDefaults()
			return o, err
		}
		return o, usagef("%v (-h lists the flags)", err)
	}
	if flags.NArg() > 0 {
		return o, usagef("unexpected argument %q: the demo takes only flags (-h lists them)", flags.Arg(0))
	}
	return o, nil
}

// validate returns a usage error for options that cannot go together.
func (o options) validate() error {
	if o.events < 1 {
		return usagef("-events %d: give at least 1", o.events)
	}
	if o.keyFile != "" && o.passEnv != "" {
		return usagef("give -key-file or -passphrase-env, not both")
	}
	if o.archive != "" {
		if u, err := url.Parse(o.archive); err != nil || u.Scheme == "" {
			return usagef("-archive %q is not a bucket URL: give file:///absolute/dir or s3://bucket?region=...", o.archive)
		}
	}
	return nil
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
// 0.9 MB, so that a second snapshot shows deduplication.
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

// run runs the demo with o, telling out what happens.
func run(out io.Writer, o options) error {
	if err := o.validate(); err != nil {
		return err
	}
	start := time.Now()
	ctx := context.Background()
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The key before anything is made: a wrong key file or an empty
	// variable leaves nothing behind.
	var keys snapshot.KeyProvider
	keyFile := o.keyFile
	switch {
	case o.passEnv != "":
		p := os.Getenv(o.passEnv)
		if p == "" {
			return fmt.Errorf("-passphrase-env %s: the variable is empty or unset: export %s=<passphrase> first", o.passEnv, o.passEnv)
		}
		keys = snapshot.Passphrase(p)
	case keyFile != "":
		abs, err := filepath.Abs(keyFile) // the printed ctl command works from anywhere
		if err != nil {
			return err
		}
		keyFile = abs
		k, ok, err := readKey(keyFile)
		if err != nil {
			return err
		}
		if ok {
			keys = snapshot.RawKey(k)
		}
	}

	dir, err := os.MkdirTemp("", "continuity-demo-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	archiveURL := o.archive
	if archiveURL == "" {
		a := filepath.Join(dir, "archive")
		if err := os.MkdirAll(a, 0o700); err != nil { // the archive holds the ledger: the owner's alone
			return err
		}
		archiveURL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(a)}).String()
	}
	bkt, err := localblob.Open(ctx, archiveURL)
	if err != nil {
		return fmt.Errorf("open archive: %w", err)
	}
	defer bkt.Close()
	if err := mustBeEmpty(ctx, bkt, archiveURL); err != nil {
		return err
	}

	say("1. three nodes on loopback: mutual TLS (a CA made now), one encrypted archive at %s", archiveURL)
	switch {
	case o.passEnv != "":
		say("   key: the passphrase in $%s", o.passEnv)
	case keys != nil:
		say("   key: %s", keyFile)
	default:
		if keyFile == "" {
			keyFile = filepath.Join(dir, "archive.key")
		}
		k, err := makeKey(keyFile)
		if err != nil {
			return err
		}
		keys = snapshot.RawKey(k)
		say("   key: made %s (32 random bytes, mode 0600); the archive cannot be read without it", keyFile)
	}
	ca, err := peer.NewCA("demo CA", 24*time.Hour)
	if err != nil {
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
		m.n, err = continuity.Open(ctx, continuity.Config{
			Dir: filepath.Join(dir, id), Archive: archiveURL, Keys: keys, Logger: quiet,
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

	events := o.events
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
		_, lsn, err := p.n.Append(wctx, b)
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
		// Append returns once the write is acknowledged; each state
		// applies it right after (WaitFor is read-your-writes).
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		werr := m.n.WaitFor(wctx, last)
		cancel()
		st := m.n.Status()
		if werr != nil {
			say("   %s  %-7s  last LSN %5d  applied %5d  (%d behind after 2 s)", m.id, st.Role, st.Last, st.Applied, last-st.Applied)
			continue
		}
		say("   %s  %-7s  last LSN %5d  applied %5d  (caught up)", m.id, st.Role, st.Last, st.Applied)
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
	stored, err := size(ctx, bkt)
	if err != nil {
		return err
	}
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

	if o.keep {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		say("\n   kept %s (%s)", dir, strings.Join(names, ", "))
	}
	archiveStays := o.keep || o.archive != ""
	keyStays := o.keep || o.keyFile != "" || o.passEnv != ""
	switch {
	case archiveStays && keyStays:
		say("\n   open the archive with ctl, from the repository root:\n   %s", ctlCommand(archiveURL, keyFile, o.passEnv))
	case archiveStays:
		say("\n   the archive stays at %s, but its key %s went with the directory: give -keep or -key-file to read it later", archiveURL, keyFile)
	}
	return nil
}

// readKey reads the 32-byte raw key in path; ok is false if path does
// not exist.
func readKey(path string) (k [32]byte, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, false, nil
	}
	if err != nil {
		return k, false, fmt.Errorf("-key-file: %w", err)
	}
	if len(b) != len(k) {
		return k, false, fmt.Errorf("-key-file %s holds %d bytes, want 32 raw bytes: name that archive's key, or a new path for the demo to make one", path, len(b))
	}
	return [32]byte(b), true, nil
}

// makeKey writes a new random key to path (mode 0600), which must not
// exist, and syncs it: the archive is unreadable without it.
func makeKey(path string) ([32]byte, error) {
	var k [32]byte
	rand.Read(k[:])
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return k, fmt.Errorf("make key file: %w", err)
	}
	if _, err := f.Write(k[:]); err != nil {
		f.Close()
		return k, fmt.Errorf("make key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return k, fmt.Errorf("make key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return k, fmt.Errorf("make key file: %w", err)
	}
	return k, nil
}

// mustBeEmpty fails if the bucket holds an object: the demo starts a new
// cluster at LSN 1, whose history another cluster's archive is not.
func mustBeEmpty(ctx context.Context, b *blob.Bucket, archiveURL string) error {
	obj, err := b.List(nil).Next(ctx)
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list archive: %w", err)
	}
	return fmt.Errorf("archive %s is not empty (it holds %s): the demo starts a new cluster; give an empty directory or bucket prefix", archiveURL, obj.Key)
}

// size is the bytes the bucket's objects hold.
func size(ctx context.Context, b *blob.Bucket) (int64, error) {
	var n int64
	it := b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("archive size: %w", err)
		}
		n += obj.Size
	}
}

// ctlCommand is the command, run from the repository root, that shows
// the archive's restorable window with ctl.
func ctlCommand(archiveURL, keyFile, passEnv string) string {
	args := []string{"go", "run", "./examples/ctl", "--archive", archiveURL}
	if passEnv != "" {
		args = append(args, "--passphrase-env", passEnv)
	} else {
		args = append(args, "--key-file", keyFile)
	}
	args = append(args, "window")
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// shellQuote returns s as one word for a POSIX shell: as it is if every
// byte is safe, else in single quotes.
func shellQuote(s string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
