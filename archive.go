package continuity

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/audit"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
	"github.com/continuity-go/continuity/tenant"
	"github.com/continuity-go/continuity/wal"
)

// startArchiver starts shipping the log to the archive, with base
// snapshots on the configured schedule.
func (n *Node) startArchiver() error {
	snapEvery, snapBytes := n.cfg.SnapshotEvery, n.cfg.SnapshotEveryBytes
	if snapEvery < 0 {
		snapEvery = 0
	}
	if snapBytes < 0 {
		snapBytes = 0
	}
	copies, err := n.archiveCopies(context.Background())
	if err != nil {
		return err
	}
	a, err := archive.NewArchiver(n.log, n.repo, archive.Options{
		ShipInterval: n.cfg.ShipInterval, IdleShipInterval: n.cfg.IdleShipInterval, Capture: n.apply.capture, SnapshotEvery: snapEvery, SnapshotEveryBytes: snapBytes, Logger: n.cfg.Logger,
		Copies: copies, SyncCopies: n.cfg.ArchiveSyncCopies, SealedPrefix: SealedPrefixLen,
		Opaque: tenant.Ciphertext,
	})
	if err != nil {
		return err
	}
	n.archMu.Lock()
	n.arch = a
	n.archMu.Unlock()
	if len(copies) > 0 && n.tenants != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.tenants.purgeCopies(n.ctx, a)
		}()
	}
	return nil
}

// stopArchiver stops shipping (a primary that became a standby).
func (n *Node) stopArchiver() {
	n.archMu.Lock()
	a := n.arch
	n.arch = nil
	n.archMu.Unlock()
	if a != nil {
		a.Close()
	}
}

func (n *Node) archiver() *archive.Archiver {
	n.archMu.Lock()
	defer n.archMu.Unlock()
	return n.arch
}

// openArchive opens (or initializes) the repository. The default archive
// and file:// URLs are local directories through localblob, which fsyncs
// every object before its write returns, so the archive survives a power
// loss as the WAL does.
// repoOptions are the snapshot repository's options from the Config.
func (n *Node) repoOptions() snapshot.Options {
	return snapshot.Options{Logger: n.cfg.Logger, UploadLimit: n.cfg.UploadLimit, ReadLimit: n.cfg.ReadLimit,
		ObjectLock: n.cfg.ObjectLock.Policy(n.cfg.SnapshotEvery)}
}

func (n *Node) openArchive(ctx context.Context) error {
	u := n.cfg.Archive
	var b *blob.Bucket
	var err error
	if u == "" {
		dir := filepath.Join(n.cfg.Dir, "archive")
		u = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
		b, err = localblob.OpenBucket(dir, &localblob.Options{Logger: n.cfg.Logger})
	} else {
		b, err = localblob.Open(ctx, u)
	}
	if err != nil {
		return fmt.Errorf("continuity: open archive %s: %w", u, err)
	}
	n.bkt = b
	keys := n.cfg.Keys
	keyPath := filepath.Join(n.cfg.Dir, "archive.key")
	if keys == nil {
		if keys, err = n.localKey(ctx, b, u, keyPath); err != nil {
			return err
		}
	}
	n.keys = keys
	n.repo, err = snapshot.Open(ctx, b, keys, n.repoOptions())
	if errors.Is(err, snapshot.ErrNoRepository) {
		n.repo, err = snapshot.Init(ctx, b, keys, snapshot.Format{}, n.repoOptions())
		if errors.Is(err, snapshot.ErrExists) {
			// Another node of the cluster made it meanwhile.
			n.repo, err = snapshot.Open(ctx, b, keys, n.repoOptions())
		}
	}
	if errors.Is(err, snapshot.ErrWrongKey) {
		in, ierr := snapshot.Inspect(ctx, b)
		if ierr == nil {
			err = fmt.Errorf("%w; the archive opens with: %s", err, in)
		}
	}
	if err != nil {
		return fmt.Errorf("continuity: open archive %s: %w", u, err)
	}
	return nil
}

// localKey reads the node's key file, and makes one only for an archive
// that holds no repository yet: a new key beside an existing archive
// could never open it.
func (n *Node) localKey(ctx context.Context, b *blob.Bucket, u, path string) (snapshot.KeyProvider, error) {
	k, err := readKey(path)
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	in, err := snapshot.Inspect(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("continuity: open archive %s: %w", u, err)
	}
	if in.Exists || len(in.Slots) > 0 {
		return nil, fmt.Errorf("continuity: the archive %s already holds a repository and the key file %s does not exist: "+
			"this node will not make a new key that cannot open it. Give it the archive's key (Config.Keys, or the key file it was made with at %s); "+
			"the archive opens with: %s", u, path, path, in)
	}
	return makeKey(path)
}

// readKey reads a 32-byte raw key file.
func readKey(path string) (snapshot.KeyProvider, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("continuity: key file %s holds %d bytes, want 32", path, len(b))
	}
	return snapshot.RawKey([32]byte(b)), nil
}

// makeKey writes a new random key file (mode 0600, synced) and returns it.
func makeKey(path string) (snapshot.KeyProvider, error) {
	var k [32]byte
	rand.Read(k[:])
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(k[:]); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return snapshot.RawKey(k), nil
}

// Events returns the records from LSN from on, following the tail until
// ctx is done: for projections and read models. Records the local WAL no
// longer holds come from the archive. Stop early by breaking the loop.
// Records are as stored: a tenant's events (Kind tenant.KindSealed) and
// the tenant records beside them come sealed; a projection reads the
// host's events (Kind wal.KindEvent) and skips the others.
func (n *Node) Events(ctx context.Context, from wal.LSN) iter.Seq2[wal.Record, error] {
	return func(yield func(wal.Record, error) bool) {
		if from == 0 {
			from = 1
		}
		if first := n.log.First(); from < first {
			// Older records: from the archive, then the local log.
			stopped := false
			err := archive.Read(ctx, n.repo, from, first-1, func(rec wal.Record) error {
				if !yield(rec, nil) {
					stopped = true
					return errStopped
				}
				return nil
			})
			if stopped {
				return
			}
			if err != nil {
				yield(wal.Record{}, fmt.Errorf("continuity: events before LSN %d come from the archive: %w", first, err))
				return
			}
			from = first
		}
		r := n.log.NewReader(from)
		defer r.Close()
		for {
			rec, err := r.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					yield(wal.Record{}, err)
				}
				return
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

var errStopped = errors.New("continuity: the caller stopped")

// Snapshot takes a base snapshot now.
func (n *Node) Snapshot(ctx context.Context) (snapshot.Manifest, error) {
	a := n.archiver()
	if a == nil {
		return snapshot.Manifest{}, errors.New("continuity: base snapshots are taken by the primary, which archives the log; this node is a standby")
	}
	return a.SnapshotNow(ctx)
}

// Repo is the node's snapshot and WAL archive.
func (n *Node) Repo() *snapshot.Repo { return n.repo }

// Window returns what the archive can restore (it lists the bucket).
func (n *Node) Window(ctx context.Context) (Window, error) {
	w, err := archive.Restorable(ctx, n.repo)
	if err == nil {
		n.statusMu.Lock()
		n.window, n.windowAt = w, time.Now()
		n.statusMu.Unlock()
	}
	return w, err
}

// windowLoop keeps Status().Window fresh.
func (n *Node) windowLoop() {
	defer n.wg.Done()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		n.Window(ctx)
		cancel()
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
	}
}

// verifyLoop runs Verify every Config.VerifyEvery while this node ships
// the archive, and logs what it found.
func (n *Node) verifyLoop() {
	defer n.wg.Done()
	if n.cfg.VerifyEvery < 0 {
		return
	}
	t := time.NewTicker(n.cfg.VerifyEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
		if n.archiver() == nil {
			continue // a standby: the primary verifies
		}
		res, err := n.Verify(n.ctx, n.cfg.VerifyReadData)
		switch {
		case err != nil && n.ctx.Err() != nil:
			return
		case err != nil:
			n.lg.Warn("scheduled verify could not run; it runs again at the next period", "err", err, "every", n.cfg.VerifyEvery)
		case !res.OK():
			n.lg.Error("scheduled verify found damage in the archive: Node.Verify lists every damaged object; restore them from another copy, and take a new base snapshot (Node.Snapshot) so restores stop depending on them",
				"snapshot_problems", len(res.Snapshot.Problems), "archive_problems", len(res.Archive.Problems)+len(res.Archive.Unreachable), "first", firstProblem(res))
		default:
			n.lg.Info("scheduled verify passed", "snapshots", res.Snapshot.Snapshots, "read_data", n.cfg.VerifyReadData)
		}
		for _, c := range n.cfg.Copies {
			ck, err := n.VerifyCopy(n.ctx, c.Name, n.cfg.VerifyReadData)
			switch {
			case n.ctx.Err() != nil:
				return
			case err != nil:
				n.lg.Warn("scheduled verify of a copy could not run; it runs again at the next period", "copy", c.Name, "err", err)
			case !ck.Verify.OK():
				n.lg.Error("scheduled verify found damage in a copy of the archive: Node.VerifyCopy lists it; copy the damaged objects again from the archive (ctl copy)",
					"copy", c.Name, "first", firstProblem(ck.Verify))
			default:
				n.lg.Info("scheduled verify of a copy passed", "copy", c.Name, "latest", ck.Window.Latest)
			}
		}
	}
}

// firstProblem describes the first problem of a failed Verify, for the
// log.
func firstProblem(r VerifyResult) string {
	switch {
	case len(r.Snapshot.Problems) > 0:
		return r.Snapshot.Problems[0].String()
	case len(r.Archive.Problems) > 0:
		return r.Archive.Problems[0].Error()
	case len(r.Archive.Unreachable) > 0:
		return fmt.Sprintf("the newest record cannot be reached from base snapshot %s", r.Archive.Unreachable[0].Short())
	}
	return ""
}

// RestoreTo rebuilds into sm (a fresh state machine) the state as of
// target, from the node's archive.
func (n *Node) RestoreTo(ctx context.Context, target Target, sm StateMachine) (Restored, error) {
	state, err := n.newHostState(ctx, sm, false)
	if err != nil {
		return Restored{}, err
	}
	return archive.RestoreTo(ctx, n.repo, target, state, archive.RestoreOptions{})
}

// VerifyResult is what Node.Verify found.
type VerifyResult struct {
	At       time.Time       // when it ran
	Snapshot snapshot.Report // the snapshots' packs, indexes and trees
	Archive  archive.Report  // the WAL archive at the PITR level
}

// OK reports whether both checks found nothing wrong.
func (r VerifyResult) OK() bool { return r.Snapshot.OK() && r.Archive.OK() }

// Verify checks the archive: every snapshot (readData: every stored byte
// too) and the WAL archive (consistent, valid, and reachable from every
// base snapshot). The result is kept for Status and the metrics.
func (n *Node) Verify(ctx context.Context, readData bool) (VerifyResult, error) {
	res := VerifyResult{At: time.Now()}
	var err error
	if res.Snapshot, err = n.repo.Verify(ctx, snapshot.VerifyOptions{ReadData: readData}); err != nil {
		return res, err
	}
	// The record of how far the archive reached (this node's archiver,
	// and in a cluster the primaries' reports in the Raft state) anchors
	// the tail: deleting the newest objects and heads together shows.
	var opts archive.VerifyOptions
	if a := n.archiver(); a != nil {
		opts.Expect = a.Status().HeadLSN
	}
	if co := n.Coordinator(); co != nil {
		opts.Expect = max(opts.Expect, co.State().Archived)
	}
	if res.Archive, err = archive.VerifyWith(ctx, n.repo, archive.VerifyPITR, opts); err != nil {
		return res, err
	}
	n.statusMu.Lock()
	n.lastVerify = &res
	n.statusMu.Unlock()
	return res, nil
}

// LastVerify returns the last Verify's result (ok false if none ran).
func (n *Node) LastVerify() (VerifyResult, bool) {
	n.statusMu.Lock()
	defer n.statusMu.Unlock()
	if n.lastVerify == nil {
		return VerifyResult{}, false
	}
	return *n.lastVerify, true
}

// SealedPrefixLen says how long the clear prefix of each sealed object a
// node keeps in its archive is, for snapshot.ReencryptOptions
// .SealedPrefix: the WAL archive's (archive.SealedPrefixLen), tenant key
// slots and audit records (none). A master-key rotation must reseal them
// all before older key epochs are retired: a tenant's slot left under a
// retired epoch loses the tenant.
func SealedPrefixLen(name string) (int, bool) {
	if n, ok := archive.SealedPrefixLen(name); ok {
		return n, true
	}
	if strings.HasPrefix(name, tenant.SlotPrefix) || strings.HasPrefix(name, audit.Prefix) {
		return 0, true
	}
	return 0, false
}
