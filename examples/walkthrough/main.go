// Command walkthrough shows the write-ahead log surviving crashes.
//
//	go run ./examples/walkthrough [-keep | -dir DIR]   # -keep keeps its temporary directory; DIR is never deleted
//
// It appends events from concurrent writers (group commit), starts a child
// process that appends until it kills itself with SIGKILL in the middle of
// its writes, reopens the log and checks that every record the child saw
// acknowledged is there, tears the last record on disk the way a power
// cut mid-write would and shows recovery cutting it off, and finishes with
// a point-in-time lookup and a reader following the tail. Then it saves a
// state twice into an encrypted, deduplicated snapshot repository in a
// file:// bucket (the second save stores only what changed), restores the
// first version and verifies every stored byte.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/wal"
)

const childEnv = "CONTINUITY_WALKTHROUGH_CHILD"

func main() {
	dir := flag.String("dir", "", "directory to write into, kept afterwards (default: a new temporary directory)")
	keep := flag.Bool("keep", false, "keep the temporary directory afterwards")
	flag.Parse()
	if d := os.Getenv(childEnv); d != "" {
		child(d)
		return
	}
	if err := run(*dir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "walkthrough:", err)
		os.Exit(1)
	}
}

func run(dir string, keep bool) error {
	if dir != "" {
		keep = true // a directory the user named is never deleted
	} else {
		d, err := os.MkdirTemp("", "continuity-walkthrough-")
		if err != nil {
			return err
		}
		dir = d
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()
	// Recovery reports what it cut at Warn level.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := wal.Options{SegmentBytes: 1 << 20, Logger: logger}

	step("1. append 2,000 events from 16 writers; every Append returns once its record is on disk")
	l, err := wal.Open(dir, opts)
	if err != nil {
		return err
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := range 16 {
		wg.Go(func() {
			for i := range 125 {
				ev := fmt.Sprintf(`{"writer":%d,"order":%d,"event":"order placed"}`, w, i)
				if _, _, err := l.Append(ctx, []byte(ev)); err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	elapsed := time.Since(start)
	midway := time.Now()
	st := l.Stats()
	fmt.Printf("   %d records in %v; %d group commits (%.1f records per fdatasync)\n",
		st.Records, elapsed.Round(time.Millisecond), st.Batches, float64(st.Records)/float64(st.Batches))
	if err := l.Close(); err != nil {
		return err
	}
	time.Sleep(10 * time.Millisecond) // let the clock move so step 5 has a boundary to find

	step("2. a child process appends and kills itself with SIGKILL mid-write")
	acked, err := runChild(dir)
	if err != nil {
		return err
	}
	var maxAcked wal.LSN
	for lsn := range acked {
		maxAcked = max(maxAcked, lsn)
	}
	fmt.Printf("   the child printed %d acknowledgements, the highest LSN %d, then died\n", len(acked), maxAcked)

	step("3. reopen: recovery keeps every acknowledged record")
	l, err = wal.Open(dir, opts)
	if err != nil {
		return err
	}
	missing, err := verify(ctx, l, acked)
	if err != nil {
		return err
	}
	fmt.Printf("   log holds LSN %d..%d; acknowledged records missing: %d\n", l.First(), l.Last(), missing)
	if missing > 0 {
		return fmt.Errorf("%d acknowledged records lost", missing)
	}
	before := l.Last()
	if err := l.Close(); err != nil {
		return err
	}

	step("4. tear the last record on disk, as a power cut in the middle of a write would, and reopen")
	seg, off, err := tearLastRecord(dir)
	if err != nil {
		return err
	}
	fmt.Printf("   zeroed 8 bytes at offset %d of %s\n", off, filepath.Base(seg))
	l, err = wal.Open(dir, opts)
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Printf("   last LSN before: %d, after recovery: %d: the torn record was cut, everything before it kept\n", before, l.Last())
	first, last, err := l.Append(ctx, []byte(`{"event":"appends continue"}`))
	if err != nil {
		return err
	}
	fmt.Printf("   appended LSN %d..%d after recovery\n", first, last)

	step("5. point in time: the last record at or before the end of step 1")
	lsn, err := l.LSNAt(midway)
	if err != nil {
		return err
	}
	r := l.NewReader(lsn)
	rec, err := r.Next(ctx)
	r.Close()
	if err != nil {
		return err
	}
	fmt.Printf("   LSNAt(%s) = %d: %s\n", midway.Format(time.RFC3339Nano), lsn, rec.Data)

	step("6. a reader follows the tail while events arrive")
	tail := l.NewReader(l.Last() + 1)
	defer tail.Close()
	got := make(chan string)
	go func() {
		defer close(got)
		for range 3 {
			rec, err := tail.Next(ctx)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- fmt.Sprintf("LSN %d at %s: %s", rec.LSN, rec.Time.Format("15:04:05.000000"), rec.Data)
		}
	}()
	for i := range 3 {
		if _, _, err := l.Append(ctx, fmt.Appendf(nil, `{"event":"live %d"}`, i)); err != nil {
			return err
		}
	}
	for line := range got {
		fmt.Println("   reader got", line)
	}
	if err := snapshots(ctx, dir, l); err != nil {
		return err
	}
	if keep {
		fmt.Println("\ndone; the files are in", dir)
	} else {
		fmt.Println("\ndone; the temporary directory is removed (-keep keeps it)")
	}
	return nil
}

// snapshots folds events into a key-value state, stores it twice in an
// encrypted, deduplicated repository in a file:// bucket, restores the
// first version and verifies everything that was stored.
func snapshots(ctx context.Context, dir string, l *wal.Log) error {
	step("7. snapshot a 100,000-account state to an encrypted file:// bucket, apply 10 events, snapshot again (only changed chunks are stored)")
	backups := filepath.Join(dir, "backups")
	bucket, err := localblob.OpenBucket(backups, nil) // a local directory, fsynced like the WAL
	if err != nil {
		return err
	}
	defer bucket.Close()
	repo, err := snapshot.Init(ctx, bucket, snapshot.Passphrase("correct horse battery staple"), snapshot.Format{}, snapshot.Options{})
	if err != nil {
		return err
	}
	defer repo.Close()

	balances := make([]int, 100_000)
	for i := range balances {
		balances[i] = 1000 + i%977
	}
	state := func() []byte {
		var b bytes.Buffer
		for i, v := range balances {
			fmt.Fprintf(&b, "{\"account\":\"acct-%06d\",\"balance_cents\":%d}\n", i, v)
		}
		return b.Bytes()
	}
	v1 := state()
	m1, st1, err := repo.Save(ctx, bytes.NewReader(v1), snapshot.Meta{LSN: uint64(l.Last()), Epoch: l.Epoch()})
	if err != nil {
		return err
	}
	for i := range 10 {
		acct := (i * 7919) % len(balances)
		ev := fmt.Appendf(nil, `{"event":"deposit","account":"acct-%06d","cents":%d}`, acct, 100+i)
		if _, _, err := l.Append(ctx, ev); err != nil {
			return err
		}
		balances[acct] += 100 + i
	}
	v2 := state()
	m2, st2, err := repo.Save(ctx, bytes.NewReader(v2), snapshot.Meta{LSN: uint64(l.Last()), Epoch: l.Epoch(), Parent: m1.ID})
	if err != nil {
		return err
	}
	fmt.Printf("   %-8s %-9s %12s %12s %14s %10s\n", "snapshot", "WAL LSN", "state bytes", "new bytes", "stored bytes", "chunks")
	for _, r := range []struct {
		m  snapshot.Manifest
		st snapshot.Stats
	}{{m1, st1}, {m2, st2}} {
		fmt.Printf("   %-8s %-9d %12d %12d %14d %4d reused of %d\n", r.m.ID.Short(), r.m.LSN, r.st.BytesIn, r.st.NewBytes, r.st.StoredBytes, r.st.ChunksReused, r.st.Chunks)
	}

	step("8. restore the first snapshot, and verify every stored byte")
	var out bytes.Buffer
	if err := repo.Restore(ctx, m1.ID, &out); err != nil {
		return err
	}
	if !bytes.Equal(out.Bytes(), v1) {
		return errors.New("restored state differs from what was saved")
	}
	fmt.Printf("   restored %s: %d bytes, identical to the state at LSN %d\n", m1.ID.Short(), out.Len(), m1.LSN)
	rep, err := repo.Verify(ctx, snapshot.VerifyOptions{ReadData: true})
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("verify: %v", rep.Problems)
	}
	fmt.Printf("   verify: %d snapshots, %d packs, %d chunks decrypted and re-hashed, no problems\n", rep.Snapshots, rep.Packs, rep.BlobsRead)
	return archiveLedger(ctx, dir, repo)
}

func step(s string) { fmt.Printf("\n%s\n", s) }

// runChild starts this program as a child that appends until it kills
// itself, and returns the acknowledgements it printed.
func runChild(dir string) (map[wal.LSN]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	acked := map[wal.LSN]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var lsn wal.LSN
		var ev string
		if n, _ := fmt.Sscanf(sc.Text(), "ack %d %s", &lsn, &ev); n == 2 {
			acked[lsn] = ev
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return nil, fmt.Errorf("child did not die by SIGKILL: %v: %s", err, stderr.String())
	}
	return acked, nil
}

// child appends from 8 goroutines, printing "ack <lsn> <event>" after each
// Append returns, and kills itself after 3,000 acknowledgements while the
// other writers are in the middle of theirs.
func child(dir string) {
	l, err := wal.Open(dir, wal.Options{SegmentBytes: 1 << 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	n := 0
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				ev := fmt.Sprintf(`{"writer":%d,"payment":%d}`, w, i)
				lsn, _, err := l.Append(context.Background(), []byte(ev))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Printf("ack %d %s\n", lsn, ev)
				if n++; n == 3000 {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
				mu.Unlock()
			}
		}()
	}
	select {}
}

// verify reads the whole log and counts acknowledged records that are
// missing or different.
func verify(ctx context.Context, l *wal.Log, acked map[wal.LSN]string) (int, error) {
	r := l.NewReader(l.First())
	defer r.Close()
	seen := 0
	for lsn := l.First(); lsn <= l.Last(); lsn++ {
		rec, err := r.Next(ctx)
		if err != nil {
			return 0, err
		}
		if ev, ok := acked[rec.LSN]; ok && ev == string(rec.Data) {
			seen++
		}
	}
	return len(acked) - seen, nil
}

// tearLastRecord zeroes the last 8 bytes the log wrote: the end of its
// newest record. Segments are preallocated with zeros, so the written
// data ends at the last non-zero byte of the newest segment.
func tearLastRecord(dir string) (string, int64, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(names) == 0 {
		return "", 0, fmt.Errorf("no segments in %s: %v", dir, err)
	}
	sort.Strings(names)
	seg := names[len(names)-1]
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return "", 0, err
	}
	end := len(bytes.TrimRight(data, "\x00"))
	if end <= 64+8 { // the segment header is 64 bytes
		return "", 0, fmt.Errorf("%s holds no record", seg)
	}
	off := int64(end - 8)
	if _, err := f.WriteAt(make([]byte, 8), off); err != nil {
		return "", 0, err
	}
	return seg, off, f.Sync()
}
