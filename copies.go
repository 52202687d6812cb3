package continuity

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/archive"
	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
)

// CopyConfig is a further destination of the archive (Config.Copies):
// off-site, another region, another provider. The node that archives
// (the primary) copies each object it archives into it as soon as it
// landed, read back from the archive and authenticated, and the whole
// archive (base snapshots, key slots, audit records) at start, after
// each base snapshot and every Every (archive.Copy). A copy never needs
// the archive's write credentials, and the log is not held for it: the
// archive holds the records. The copy opens with the archive's keys;
// give it slots of its own there, and its own retention (ctl --archive
// URL forget, prune). In a cluster, give every node the same copies:
// whichever is primary keeps them up.
type CopyConfig struct {
	Name  string        // names the copy in Status and the metrics
	URL   string        // its bucket URL (s3://, file://, ...)
	Every time.Duration // how often the whole archive is copied; default 10 min
	// ObjectLock, if set, writes the copy under S3 Object Lock with its
	// own dates (its bucket must have Object Lock enabled): an off-site
	// copy nobody can erase early, whatever the archive's own policy.
	ObjectLock *ObjectLockConfig
}

// CopyStatus is a copy's state (Status.Copies).
type CopyStatus = archive.CopyStatus

// archiveCopies are Config.Copies for the archiver. Each URL is opened
// once here, so that a URL no driver opens fails the node's start.
func (n *Node) archiveCopies(ctx context.Context) ([]archive.Copy, error) {
	var cs []archive.Copy
	for _, c := range n.cfg.Copies {
		b, err := localblob.Open(ctx, c.URL)
		if err != nil {
			return nil, fmt.Errorf("continuity: open copy %q (%s): %w", c.Name, c.URL, err)
		}
		b.Close()
		cs = append(cs, archive.Copy{Name: c.Name, Every: c.Every, Lock: c.ObjectLock.Policy(n.cfg.SnapshotEvery), Open: func(ctx context.Context) (*blob.Bucket, error) {
			return localblob.Open(ctx, c.URL)
		}})
	}
	return cs, nil
}

// validateCopies checks Config.Copies.
func validateCopies(cs []CopyConfig) []error {
	var errs []error
	names := map[string]bool{}
	for i, c := range cs {
		switch {
		case c.Name == "":
			errs = append(errs, fmt.Errorf("Config.Copies[%d].Name is empty", i))
		case names[c.Name]:
			errs = append(errs, fmt.Errorf("Config.Copies[%d].Name %q is given twice", i, c.Name))
		}
		names[c.Name] = true
		if c.URL == "" {
			errs = append(errs, fmt.Errorf("Config.Copies[%d].URL is empty", i))
		}
		if c.Every < 0 {
			errs = append(errs, fmt.Errorf("Config.Copies[%d].Every %v is negative", i, c.Every))
		}
		errs = append(errs, c.ObjectLock.validate(fmt.Sprintf("Config.Copies[%d].ObjectLock", i))...)
	}
	return errs
}

// CopyCheck is the last check of a copy (Status.CopyChecks, and the
// scheduled Verify): what it restores, and what Verify found there.
type CopyCheck struct {
	Name   string
	Window Window       // what the copy alone restores
	Verify VerifyResult // At says when the check ran
	Err    error        // the check could not run (the copy unreachable, the key refused)
}

// VerifyCopy checks the copy name of Config.Copies as Verify checks the
// archive: it opens the copy read-only with the archive's keys, verifies
// every snapshot (readData: every stored byte) and its WAL at the PITR
// level, and says what the copy alone restores. The result is kept for
// Status.CopyChecks and the metrics, a failure to run too.
func (n *Node) VerifyCopy(ctx context.Context, name string, readData bool) (CopyCheck, error) {
	ck := CopyCheck{Name: name, Verify: VerifyResult{At: time.Now()}}
	i := slices.IndexFunc(n.cfg.Copies, func(c CopyConfig) bool { return c.Name == name })
	if i < 0 {
		return ck, fmt.Errorf("continuity: no copy %q in Config.Copies", name)
	}
	ck.Err = n.verifyCopy(ctx, n.cfg.Copies[i], readData, &ck)
	if ctx.Err() == nil {
		n.statusMu.Lock()
		if n.copyChecks == nil {
			n.copyChecks = map[string]CopyCheck{}
		}
		n.copyChecks[name] = ck
		n.statusMu.Unlock()
	}
	return ck, ck.Err
}

func (n *Node) verifyCopy(ctx context.Context, c CopyConfig, readData bool, ck *CopyCheck) error {
	b, err := localblob.Open(ctx, c.URL)
	if err != nil {
		return fmt.Errorf("continuity: open copy %q (%s): %w", c.Name, c.URL, err)
	}
	defer b.Close()
	repo, err := snapshot.Open(ctx, b, n.keys, snapshot.Options{ReadOnly: true, Logger: n.cfg.Logger, ReadLimit: n.cfg.ReadLimit})
	if err != nil {
		return fmt.Errorf("continuity: open copy %q (%s): %w", c.Name, c.URL, err)
	}
	defer repo.Close()
	if ck.Verify.Snapshot, err = repo.Verify(ctx, snapshot.VerifyOptions{ReadData: readData}); err != nil {
		return fmt.Errorf("continuity: verify copy %q: %w", c.Name, err)
	}
	// What the archiver copied there anchors the copy's tail.
	var opts archive.VerifyOptions
	if a := n.archiver(); a != nil {
		for _, s := range a.Status().Copies {
			if s.Name == c.Name {
				opts.Expect = s.Archived
			}
		}
	}
	if ck.Verify.Archive, err = archive.VerifyWith(ctx, repo, archive.VerifyPITR, opts); err != nil {
		return fmt.Errorf("continuity: verify copy %q: %w", c.Name, err)
	}
	ck.Window = ck.Verify.Archive.Window
	return nil
}
