package continuity

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
)

// CopyConfig is a further destination of the archive (Config.Copies):
// off-site, another region, another provider. The node that archives
// (the primary) copies the archive into it every Every with
// snapshot.Repo.CopyTo, reading the main archive, so a copy never needs
// more than the records already archived, and the log is not held for
// it: the main archive holds them. The copy opens with the archive's
// keys; give it slots of its own there, and its own retention (ctl
// --archive URL forget, prune).
type CopyConfig struct {
	Name  string        // names the copy in Status and the metrics
	URL   string        // its bucket URL (s3://, file://, ...)
	Every time.Duration // how often to copy; default 1 minute
}

// CopyStatus is a copy's state (Status.Copies).
type CopyStatus struct {
	Name string
	// Copied is when the last successful copy started: the copy holds
	// everything archived before then. Lag is how long ago that was
	// (the copy's recovery point), from the node's start until the
	// first copy.
	Copied time.Time
	Lag    time.Duration
	Bytes  int64 // bytes copied since Open
	// Failures counts failed copies; LastError is the last one's.
	Failures  int64
	LastError error
	// NotCopied is how many objects of the archive the last copy left
	// out (conflicts, objects that do not authenticate): ctl copy names
	// them.
	NotCopied int
}

// copier copies the archive into one copy until stopped.
type copier struct {
	cfg    CopyConfig
	repo   *snapshot.Repo
	dst    *blob.Bucket
	lg     *slog.Logger
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	st CopyStatus
}

// startCopiers opens each copy's bucket and starts copying.
func (n *Node) startCopiers() error {
	var cs []*copier
	for _, c := range n.cfg.Copies {
		dst, err := localblob.Open(context.Background(), c.URL)
		if err != nil {
			for _, o := range cs {
				o.stop()
			}
			return fmt.Errorf("continuity: open copy %q (%s): %w", c.Name, c.URL, err)
		}
		if c.Every <= 0 {
			c.Every = time.Minute
		}
		ctx, cancel := context.WithCancel(context.Background())
		o := &copier{cfg: c, repo: n.repo, dst: dst, lg: n.lg.With("copy", c.Name), start: time.Now(), cancel: cancel, done: make(chan struct{})}
		o.st.Name = c.Name
		go o.run(ctx)
		cs = append(cs, o)
	}
	n.archMu.Lock()
	n.copiers = cs
	n.archMu.Unlock()
	return nil
}

// stopCopiers stops copying (the node stops archiving).
func (n *Node) stopCopiers() {
	n.archMu.Lock()
	cs := n.copiers
	n.copiers = nil
	n.archMu.Unlock()
	for _, o := range cs {
		o.stop()
	}
}

func (o *copier) stop() {
	o.cancel()
	<-o.done
	o.dst.Close()
}

func (o *copier) run(ctx context.Context) {
	defer close(o.done)
	t := time.NewTicker(o.cfg.Every)
	defer t.Stop()
	for {
		o.once(ctx)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// once copies what the copy lacks. After a failure it opens the copy's
// bucket again first (a directory that went away and came back, a
// client in a bad state).
func (o *copier) once(ctx context.Context) {
	began := time.Now()
	o.mu.Lock()
	failed := o.st.LastError != nil
	o.mu.Unlock()
	if failed {
		if dst, err := localblob.Open(ctx, o.cfg.URL); err == nil {
			o.dst.Close()
			o.dst = dst
		}
	}
	st, err := o.repo.CopyTo(ctx, o.dst, snapshot.CopyOptions{SealedPrefix: SealedPrefixLen})
	if ctx.Err() != nil {
		return
	}
	if err == nil && len(st.Conflicts) > 0 {
		err = fmt.Errorf("the copy holds %d object(s) under the archive's names with other sizes (e.g. %s): it is damaged, or another archive's", len(st.Conflicts), st.Conflicts[0])
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.st.Bytes += st.Bytes
	o.st.NotCopied = len(st.Conflicts) + len(st.Unauthenticated)
	if err != nil {
		o.st.Failures++
		o.st.LastError = err
		if o.st.Failures == 1 || o.st.Failures%10 == 0 {
			o.lg.Warn("copying the archive failed; it is tried again", "err", err, "failures", o.st.Failures)
		}
		return
	}
	if len(st.Unauthenticated) > 0 {
		o.lg.Warn("objects of the archive do not authenticate and were not copied; ctl verify says what they cost", "objects", st.Unauthenticated)
	}
	o.st.Copied, o.st.LastError = began, nil
}

// status returns the copy's state as of now.
func (o *copier) status(now time.Time) CopyStatus {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.st
	since := st.Copied
	if since.IsZero() {
		since = o.start
	}
	st.Lag = max(0, now.Sub(since))
	return st
}

// copyStatus is Status.Copies.
func (n *Node) copyStatus() []CopyStatus {
	n.archMu.Lock()
	cs := n.copiers
	n.archMu.Unlock()
	now := time.Now()
	var out []CopyStatus
	for _, o := range cs {
		out = append(out, o.status(now))
	}
	return out
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
	}
	return errs
}
