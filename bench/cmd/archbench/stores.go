package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/continuity-go/continuity/localblob"
)

// s3URLEnv names the variable that points the S3 store at a bucket (the
// one internal/testkit and `.ci/run with-s3` use).
const s3URLEnv = "CONTINUITY_TEST_S3_URL"

// store is a kind of bucket the runs use.
type store struct {
	kind  string // storeFile or storeS3
	label string // the row label in the report
	desc  string // what it is, for the report's header
	// cacheDir holds the store's files on this machine ("" if elsewhere):
	// evictTree drops them from the page cache before a cold restore.
	cacheDir string
	// open returns a new, empty bucket and a function that deletes what
	// it holds and closes it.
	open func(ctx context.Context) (*blob.Bucket, func(), error)
}

// openStores prepares the stores of -stores: file:// always, S3 from
// $CONTINUITY_TEST_S3_URL or a versitygw started here, or skipped with
// the reason noted in b.skipped.
func (b *bencher) openStores(ctx context.Context) ([]*store, error) {
	var out []*store
	for _, kind := range b.stores {
		switch kind {
		case storeFile:
			out = append(out, b.fileStore())
		case storeS3:
			st, why, err := b.s3Store(ctx)
			if err != nil {
				return nil, err
			}
			if st == nil {
				b.skipped = append(b.skipped, "S3: skipped: "+why)
				fmt.Fprintf(b.progress, "archbench: S3 skipped: %s\n", why)
				continue
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// closeStores stops the S3 server if this program started one.
func (b *bencher) closeStores() {
	if b.vgw != nil {
		b.vgw.stop()
		b.vgw = nil
	}
}

// fileStore is a local directory through localblob, as a Node archives
// to file:// (gocloud's fileblob, which never fsyncs, would measure
// something no Node does).
func (b *bencher) fileStore() *store {
	base := filepath.Join(b.root, "buckets")
	n := 0
	return &store{
		kind:     storeFile,
		label:    "file://",
		cacheDir: base,
		desc:     "file:// through localblob, the Node's default for a local archive (localblob.OpenBucket: each object written to .localblob-tmp/, fdatasynced, linked or renamed into place and its directory fsynced before the write returns) in the work directory, on the file system above",
		open: func(ctx context.Context) (*blob.Bucket, func(), error) {
			n++
			dir := filepath.Join(base, strconv.Itoa(n))
			bk, err := localblob.OpenBucket(dir, nil) // creates dir
			if err != nil {
				return nil, nil, fmt.Errorf("open %s: %w", dir, err)
			}
			return bk, func() {
				bk.Close()
				os.RemoveAll(dir)
			}, nil
		},
	}
}

// s3Store returns the S3 store, or nil and why there is none.
func (b *bencher) s3Store(ctx context.Context) (*store, string, error) {
	s3URL, desc, cacheDir := os.Getenv(s3URLEnv), "", ""
	if s3URL != "" {
		desc = "$" + s3URLEnv + ": " + describeS3(s3URL)
	} else {
		bin := findVersitygw()
		if bin == "" {
			return nil, "$" + s3URLEnv + " is not set and no .bin/versitygw was found above the working directory (`.ci/run with-s3 CMD` builds one and sets the variable)", nil
		}
		v, err := startVersitygw(ctx, bin, b.root)
		if err != nil {
			return nil, "", fmt.Errorf("start %s: %w", bin, err)
		}
		b.vgw = v
		s3URL, cacheDir = v.url, v.data
		desc = fmt.Sprintf("versitygw %s started by archbench on %s (posix backend over a directory in the work directory, on the file system above)", v.version, v.addr)
		fmt.Fprintf(b.progress, "archbench: %s\n", desc)
	}
	return &store{
		kind:     storeS3,
		label:    "S3",
		cacheDir: cacheDir,
		desc:     desc + "; gocloud.dev s3blob, a random key prefix per run (blob.PrefixedBucket)",
		open: func(ctx context.Context) (*blob.Bucket, func(), error) {
			base, err := blob.OpenBucket(ctx, s3URL)
			if err != nil {
				return nil, nil, fmt.Errorf("open %s: %w", describeS3(s3URL), err)
			}
			bk := blob.PrefixedBucket(base, "archbench/"+rand.Text()+"/") // closes base when closed
			return bk, func() {
				if err := deleteAll(context.Background(), bk); err != nil {
					fmt.Fprintf(b.progress, "archbench: clean up the S3 prefix: %v\n", err)
				}
				bk.Close()
			}, nil
		},
	}, "", nil
}

// describeS3 names the bucket and endpoint of an S3 URL, without the rest
// of its query.
func describeS3(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "an S3 URL that does not parse"
	}
	d := "s3://" + u.Host
	if ep := u.Query().Get("endpoint"); ep != "" {
		d += " at " + ep
	}
	return d
}

// deleteAll deletes every object in bk, listing first.
func deleteAll(ctx context.Context, bk *blob.Bucket) error {
	var keys []string
	it := bk.List(nil)
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		keys = append(keys, o.Key)
	}
	var errs []error
	for _, k := range keys {
		if err := bk.Delete(ctx, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// findVersitygw looks for .bin/versitygw in the working directory and its
// parents (the repository root holds it, built by .ci/run).
func findVersitygw() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, ".bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

// versitygw is an S3 server this program started.
type versitygw struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	addr    string
	data    string // the posix backend's directory
	url     string
	version string
}

// startVersitygw starts versitygw as .ci/run's start_s3 does: the posix
// backend over a directory holding the bucket "testbucket", root
// credentials from the environment, on a free loopback port; it waits
// until the server answers and sets the AWS credentials s3blob reads.
func startVersitygw(ctx context.Context, bin, root string) (*versitygw, error) {
	const key, secret = "archbench", "archbench-secret"
	data := filepath.Join(root, "s3")
	if err := os.MkdirAll(filepath.Join(data, "testbucket"), 0o755); err != nil {
		return nil, err
	}
	version := "(version unknown)"
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "versitygw.version")); err == nil {
		version = strings.TrimSpace(string(b))
	}
	logName := filepath.Join(root, "versitygw.log")
	var lastErr error
	for attempt := 1; attempt <= 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		logf, err := os.Create(logName)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "--quiet", "--port", addr, "posix", data)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+key, "ROOT_SECRET_KEY="+secret)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, err
		}
		v := &versitygw{cmd: cmd, exited: make(chan struct{}), addr: addr, data: data, version: version,
			url: "s3://testbucket?endpoint=http://" + addr + "&use_path_style=true&region=us-east-1"}
		go func() {
			cmd.Wait()
			logf.Close()
			close(v.exited)
		}()
		if lastErr = v.waitReady(ctx, 30*time.Second); lastErr == nil {
			os.Setenv("AWS_ACCESS_KEY_ID", key)
			os.Setenv("AWS_SECRET_ACCESS_KEY", secret)
			os.Unsetenv("AWS_SESSION_TOKEN")
			return v, nil
		}
		v.stop()
		if log, err := os.ReadFile(logName); err == nil && len(log) > 0 {
			lastErr = fmt.Errorf("%w; its output: %s", lastErr, strings.TrimSpace(string(log)))
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, lastErr
}

// waitReady waits until the server answers as versitygw, it exits, or
// the timeout passes.
func (v *versitygw) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-v.exited:
			return fmt.Errorf("versitygw exited on %s", v.addr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := client.Get("http://" + v.addr + "/"); err == nil {
			resp.Body.Close()
			if strings.Contains(strings.ToLower(resp.Header.Get("Server")), "versitygw") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw did not answer on %s within %v", v.addr, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the server: SIGINT, then SIGKILL after 5 s.
func (v *versitygw) stop() {
	v.cmd.Process.Signal(os.Interrupt)
	select {
	case <-v.exited:
		return
	case <-time.After(5 * time.Second):
	}
	v.cmd.Process.Kill()
	<-v.exited
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// localblobTmp is the directory inside a localblob bucket that holds its
// temporary files and its lock (localblob's doc, "Temporary files"): not
// objects, so evictTree leaves it alone.
const localblobTmp = ".localblob-tmp"
