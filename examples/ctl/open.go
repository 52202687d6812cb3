package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob" // s3:// archives

	"github.com/continuity-go/continuity/localblob"
	"github.com/continuity-go/continuity/snapshot"
)

// session is an open archive.
type session struct {
	bucket *blob.Bucket
	repo   *snapshot.Repo
	meter  *meter
}

func (s *session) close() {
	s.meter.finish()
	if s.repo != nil {
		s.repo.Close()
	}
	s.bucket.Close()
}

// openBucket opens the archive's bucket: file:// and local:// through
// localblob, as a Node writes them (what ctl writes is fsynced too; a
// directory ctl may not write opens read-only), others with gocloud.
func (a *app) openBucket(ctx context.Context) (*blob.Bucket, error) {
	if a.archiveURL == "" {
		return nil, usage(errors.New("no archive: give --archive URL or set CONTINUITY_ARCHIVE (e.g. file:///var/lib/app/archive)"))
	}
	b, err := localblob.Open(ctx, a.archiveURL)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, withCode(exitNotFound, fmt.Errorf("no archive at %s: the directory does not exist; check --archive, or create one with 'ctl init'", a.archiveURL))
	}
	if err != nil {
		return nil, fmt.Errorf("open the archive's bucket %s: %w", a.archiveURL, err)
	}
	return b, nil
}

// creating is the archive URL with what makes a local directory be
// created (init's).
func creating(archiveURL string) string {
	u, err := url.Parse(archiveURL)
	if err != nil || u.Scheme != "file" && u.Scheme != localblob.Scheme || u.Query().Has("create_dir") {
		return archiveURL
	}
	q := u.Query()
	q.Set("create_dir", "1")
	q.Set("dir_file_mode", "0700")
	u.RawQuery = q.Encode()
	return u.String()
}

// open opens the archive with its key; readOnly for commands that only
// read (no lock object is written, so read-only credentials do).
func (a *app) open(ctx context.Context, readOnly bool) (*session, error) {
	keys, err := a.keyProvider(ctx)
	if err != nil {
		return nil, err
	}
	b, err := a.openBucket(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{bucket: b, meter: newMeter(a.errOut, a.quiet)}
	repo, err := snapshot.Open(ctx, b, keys, snapshot.Options{ReadOnly: readOnly, Progress: s.meter.snapshot, LockWait: max(a.retryLock, time.Millisecond),
		UploadLimit: a.limitUpload << 10, ReadLimit: a.limitDownload << 10})
	switch {
	case errors.Is(err, snapshot.ErrNoRepository):
		b.Close()
		return nil, fmt.Errorf("%w at %s: check --archive, or create one with 'ctl init'", err, a.archiveURL)
	case errors.Is(err, snapshot.ErrWrongKey):
		err = a.wrongKey(ctx, b, err)
		b.Close()
		return nil, err
	case err != nil:
		b.Close()
		return nil, err
	}
	s.repo = repo
	return s, nil
}

// wrongKey says what opens the archive when the key given does not: the
// key slots, readable without a key, or that there are none.
func (a *app) wrongKey(ctx context.Context, b *blob.Bucket, err error) error {
	in, ierr := snapshot.Inspect(ctx, b)
	switch {
	case ierr != nil:
		return err
	case len(in.Slots) == 0:
		return withCode(exitWrongKey, fmt.Errorf("the archive has no readable key slot (%d damaged; keys/ is empty or damaged), so no key opens it as it is: restore its keys/ objects from a copy of the archive", in.Damaged))
	}
	return fmt.Errorf("%w; the archive opens with: %s. If this is the right key, the archive's config object may be damaged (its repository ID is part of every slot's authentication): compare it with a copy", err, in)
}

// keySources names the key options given, for errors.
func (a *app) keySources() []string {
	var given []string
	for _, k := range []struct{ name, val string }{
		{"--key-file", a.keyFile}, {"--password-file", a.passwordFile},
		{"--password-command", a.passwordCommand}, {"--passphrase-env", a.passphraseEnv},
	} {
		if k.val != "" {
			given = append(given, k.name)
		}
	}
	return given
}

// keyProvider is the key the options name: a raw key file, or a
// passphrase from a file, a command or the environment.
func (a *app) keyProvider(ctx context.Context) (snapshot.KeyProvider, error) {
	given := a.keySources()
	if len(given) > 1 {
		return nil, usage(fmt.Errorf("give one key, not %s", strings.Join(given, " and ")))
	}
	switch {
	case a.keyFile != "":
		k, err := os.ReadFile(a.keyFile)
		if err != nil {
			return nil, fmt.Errorf("read the key: %w", err)
		}
		if len(k) != 32 {
			return nil, usage(fmt.Errorf("%s holds %d bytes; a raw key is 32 (the archive.key a Node writes); for a passphrase use --password-file", a.keyFile, len(k)))
		}
		return snapshot.RawKey([32]byte(k)), nil
	case a.passwordFile != "":
		b, err := os.ReadFile(a.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("read the passphrase: %w", err)
		}
		return passphrase(firstLine(b), a.passwordFile)
	case a.passwordCommand != "":
		cmd := exec.CommandContext(ctx, "sh", "-c", a.passwordCommand)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("--password-command %q failed: %w: %s", a.passwordCommand, err, strings.TrimSpace(stderr.String()))
		}
		return passphrase(firstLine(b), "--password-command's output")
	case a.passphraseEnv != "":
		return passphrase(a.getenv(a.passphraseEnv), "$"+a.passphraseEnv)
	case a.getenv("CONTINUITY_PASSWORD") != "":
		return snapshot.Passphrase(a.getenv("CONTINUITY_PASSWORD")), nil
	}
	return nil, usage(errors.New("no key: give --key-file FILE (the archive.key a Node writes) or a passphrase (--password-file, --password-command, CONTINUITY_PASSWORD)"))
}

func passphrase(p, from string) (snapshot.KeyProvider, error) {
	if p == "" {
		return nil, usage(fmt.Errorf("%s is empty: the passphrase must not be", from))
	}
	return snapshot.Passphrase(p), nil
}

// firstLine is b's first line without its line ending.
func firstLine(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	if sc.Scan() {
		return strings.TrimSuffix(sc.Text(), "\r")
	}
	return ""
}

// newKeyFile writes a new random 32-byte key to path, which must not
// exist (mode 0600, never through a symbolic link: O_CREATE|O_EXCL
// already fails on a symlink, dangling or not, and O_NOFOLLOW says so
// again where the platform has it).
func newKeyFile(path string, key [32]byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return usage(fmt.Errorf("%s exists: ctl never replaces a key file", path))
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(key[:]); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
