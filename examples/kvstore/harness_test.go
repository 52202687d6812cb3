package main

// The harness of the fault tests (TestKillLoop, TestLinearizable): a
// three-process kvstore cluster started as the package doc says, killed
// and restarted with its original commands, and an HTTP client that
// classifies what each request did.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/continuity-go/continuity/internal/testkit"
)

// member is one node of a cluster: its process (proc) and the flags
// beyond proc.start's that make its original command (-bootstrap for
// n1, -join for the others), so that a restart runs exactly that.
type member struct {
	*proc
	extra []string
	past  []string // the output of its earlier runs, all exited
}

// cluster is three kvstore processes sharing one archive. Its methods
// must be called from the test's goroutine, except write, read and
// status, which are safe concurrently.
type cluster struct {
	t                 *testing.T
	bin, certs, peers string
	archiveURL        string
	keyFile           string
	members           []*member
	client            *http.Client
}

// newCluster builds kvstore, makes the certificates and the archive
// key, starts n1 with -bootstrap and, once it serves, n2 and n3 with
// -join, on the archive archiveURL ("": a new directory), and waits until
// n1 is a ready primary with two ready standbys. At the end of the test
// it kills what still runs and, if the test failed, logs every node's
// output (all its runs) and writes it to the test's artifact directory.
func newCluster(t *testing.T, archiveURL string) *cluster {
	t.Helper()
	tmp := t.TempDir()
	c := &cluster{
		t:       t,
		bin:     filepath.Join(tmp, "kvstore"),
		certs:   filepath.Join(tmp, "certs"),
		keyFile: filepath.Join(tmp, "certs", "archive.key"),
		// Keep keep-alives off: a request that fails to dial was never
		// sent, which a reused connection to a killed node would blur.
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	if out, err := exec.Command("go", "build", "-o", c.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if out, err := exec.Command(c.bin, "certs", "-out", c.certs, "-nodes", "n1,n2,n3").CombinedOutput(); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	c.archiveURL = archiveURL
	if archiveURL == "" {
		archiveDir := filepath.Join(tmp, "archive")
		if err := os.MkdirAll(archiveDir, 0o755); err != nil {
			t.Fatal(err)
		}
		c.archiveURL = "file://" + filepath.ToSlash(archiveDir)
	}
	var peers []string
	for i := 1; i <= 3; i++ {
		p := &proc{id: fmt.Sprintf("n%d", i), http: free(t), raft: free(t), repl: free(t), dir: filepath.Join(tmp, fmt.Sprintf("n%d", i)), archive: c.archiveURL}
		c.members = append(c.members, &member{proc: p})
		peers = append(peers, p.id+"=http://"+p.http)
	}
	c.peers = strings.Join(peers, ",")
	c.members[0].extra = []string{"-bootstrap"}
	for _, m := range c.members[1:] {
		m.extra = []string{"-join", c.members[0].raft}
	}
	t.Cleanup(c.cleanup)
	// One at a time, each until it serves: localblob's open has a window
	// in which another process opening the directory can take its fresh
	// lock file (a known race, see TestThreeProcesses).
	c.restart(c.members[0])
	testkit.Eventually(t, func() bool {
		_, err := c.status(c.members[0])
		return err == nil
	}, "n1 to serve HTTP")
	for _, m := range c.members[1:] {
		c.restart(m)
		testkit.Eventually(t, func() bool {
			_, err := c.status(m)
			return err == nil
		}, "%s to serve HTTP", m.id)
	}
	testkit.Eventually(t, func() bool {
		if _, ok := c.healthy(); !ok {
			return false
		}
		r := c.write(c.members[0].http, "_probe", "x")
		return r.outcome == acked
	}, "n1 to be primary with two ready standbys")
	return c
}

// cleanup kills the processes still running and, if the test failed,
// shows their output.
func (c *cluster) cleanup() {
	for _, m := range c.members {
		c.kill(m)
	}
	if !c.t.Failed() {
		return
	}
	dir := c.t.ArtifactDir()
	for _, m := range c.members {
		all := strings.Join(m.past, "\n--- restarted\n")
		path := filepath.Join(dir, m.id+".log")
		if err := os.WriteFile(path, []byte(all), 0o644); err != nil {
			c.t.Logf("write %s: %v", path, err)
		}
		c.t.Logf("--- %s: %d runs; whole output in %s (kept with go test -artifacts -outputdir DIR); warnings and errors:\n%s", m.id, len(m.past), path, notable(all))
		if len(m.past) > 0 {
			c.t.Logf("--- %s: the last 40 lines of its last run\n%s", m.id, lastLines(m.past[len(m.past)-1], 40))
		}
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// notable is the log lines at level WARN or ERROR, and the lines of
// processes that exited with a message (kvstore: ...).
func notable(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.HasPrefix(l, "kvstore:") || strings.HasPrefix(l, "panic") {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return "(none)"
	}
	return strings.Join(out, "\n")
}

// restart starts m with its original command.
func (c *cluster) restart(m *member) {
	c.t.Helper()
	m.start(c.t, c.bin, c.certs, c.peers, m.extra...)
}

// kill SIGKILLs m (if it runs) and keeps its output.
func (c *cluster) kill(m *member) {
	if m.cmd == nil {
		return
	}
	m.proc.kill()
	m.past = append(m.past, m.log.String()) // the process has exited: no more writes to log
}

// stopAll sends SIGTERM to every running member at once and waits for
// them to exit; it returns the members that exited with an error.
func (c *cluster) stopAll() map[string]error {
	var running []*member
	for _, m := range c.members {
		if m.cmd != nil {
			if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				c.t.Fatalf("SIGTERM %s: %v", m.id, err)
			}
			running = append(running, m)
		}
	}
	failed := map[string]error{}
	for _, m := range running {
		if err := m.cmd.Wait(); err != nil {
			failed[m.id] = err
		}
		m.cmd = nil
		m.past = append(m.past, m.log.String())
	}
	return failed
}

// nodeStatus is kvstore's GET /status.
type nodeStatus struct {
	Role     string `json:"role"`
	Epoch    uint64 `json:"epoch"`
	Primary  string `json:"primary"`
	Last     uint64 `json:"last"`
	Applied  uint64 `json:"applied"`
	Ready    bool   `json:"ready"`
	NotReady string `json:"not_ready"`
	Archived uint64 `json:"archived"`
}

func (c *cluster) status(m *member) (nodeStatus, error) {
	var s nodeStatus
	resp, err := c.client.Get("http://" + m.http + "/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("status: %s", resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// healthy reports the primary if every running member is ready and
// they agree on the epoch and on the primary, which says it is one.
func (c *cluster) healthy() (*member, bool) {
	var primary *member
	var want nodeStatus
	first := true
	for _, m := range c.members {
		if m.cmd == nil {
			continue
		}
		s, err := c.status(m)
		if err != nil || !s.Ready || s.Primary == "" {
			return nil, false
		}
		if first {
			want, first = s, false
		} else if s.Epoch != want.Epoch || s.Primary != want.Primary {
			return nil, false
		}
		if s.Role == "primary" {
			primary = m
		}
	}
	if primary == nil || primary.id != want.Primary {
		return nil, false
	}
	return primary, true
}

// outcome is what a write did, as far as the client can know.
type outcome int

const (
	// refused: the write was not done (503, a 4xx, or the request could
	// not be sent).
	refused outcome = iota
	// acked: 200 with the write's LSN; it must never be lost.
	acked
	// unknown: it may or may not have been done (a timeout, a
	// connection closed mid-request, a 500 or 504: the server may have
	// logged and replicated the record before it failed).
	unknown
)

func (o outcome) String() string {
	return [...]string{"refused", "acked", "unknown"}[o]
}

// writeResult is one PUT's result.
type writeResult struct {
	outcome    outcome
	lsn        uint64        // the acknowledged LSN (acked)
	retryAfter time.Duration // Retry-After of a 503
	detail     string        // what the server or the client said
}

// write PUTs value under key through the node at addr, following its
// redirect to the primary, and classifies the result.
func (c *cluster) write(addr, key, value string) writeResult {
	req, err := http.NewRequest(http.MethodPut, "http://"+addr+"/kv/"+key, strings.NewReader(value))
	if err != nil {
		return writeResult{outcome: refused, detail: err.Error()}
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if notSent(err) {
			return writeResult{outcome: refused, detail: err.Error()}
		}
		return writeResult{outcome: unknown, detail: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return writeResult{outcome: unknown, detail: fmt.Sprintf("%s: reading the body: %v", resp.Status, err)}
	}
	body := strings.TrimSpace(string(b))
	switch {
	case resp.StatusCode == http.StatusOK:
		lsn, err := strconv.ParseUint(body, 10, 64)
		if err != nil || resp.Header.Get("X-LSN") != body {
			return writeResult{outcome: unknown, detail: fmt.Sprintf("200 with body %q and X-LSN %q", body, resp.Header.Get("X-LSN"))}
		}
		return writeResult{outcome: acked, lsn: lsn}
	case resp.StatusCode == http.StatusServiceUnavailable:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return writeResult{outcome: refused, retryAfter: time.Duration(secs) * time.Second, detail: resp.Status + ": " + body}
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return writeResult{outcome: refused, detail: resp.Status + ": " + body}
	}
	return writeResult{outcome: unknown, detail: resp.Status + ": " + body}
}

// notSent reports whether err says that the request never reached a
// server: the connection could not be made.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// readResult is one GET's result.
type readResult struct {
	ok     bool // 200 or 404: the node answered from its state
	found  bool // 200
	value  string
	detail string // why not ok
}

// read GETs key from the node at addr, with min_lsn if minLSN > 0.
func (c *cluster) read(addr, key string, minLSN uint64) readResult {
	u := "http://" + addr + "/kv/" + key
	if minLSN > 0 {
		u += "?min_lsn=" + strconv.FormatUint(minLSN, 10)
	}
	resp, err := c.client.Get(u)
	if err != nil {
		return readResult{detail: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return readResult{detail: fmt.Sprintf("%s: reading the body: %v", resp.Status, err)}
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return readResult{ok: true, found: true, value: string(b)}
	case http.StatusNotFound:
		return readResult{ok: true}
	}
	return readResult{detail: resp.Status + ": " + strings.TrimSpace(string(b))}
}

// failover SIGKILLs the primary victim and waits until ackedAfter,
// called with the instant the kill completed, reports the first write
// acknowledged after it (necessarily by another node); then it restarts
// the victim with its original command and waits until the cluster is
// healthy again with the victim caught up to caughtUp(). It returns the
// time from the kill to that acknowledgement.
func (c *cluster) failover(victim *member, ackedAfter func(time.Time) (time.Time, bool), caughtUp func() uint64) time.Duration {
	c.t.Helper()
	killed := time.Now()
	c.kill(victim)
	dead := time.Now()
	var took time.Duration
	testkit.Eventually(c.t, func() bool {
		at, ok := ackedAfter(dead)
		took = at.Sub(killed)
		return ok
	}, "a write acknowledged by a new primary after %s was killed", victim.id)
	c.restart(victim)
	var target uint64
	testkit.Eventually(c.t, func() bool {
		if _, ok := c.healthy(); !ok {
			return false
		}
		if target == 0 {
			target = caughtUp()
		}
		s, err := c.status(victim)
		return err == nil && s.Applied >= target
	}, "%s, restarted, to be ready and caught up", victim.id)
	return took
}
