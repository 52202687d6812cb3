package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/continuity-go/continuity/internal/testkit"
)

// proc is one kvstore process.
type proc struct {
	id, http, raft, repl string
	dir                  string
	archive              string // the archive's URL ("": a directory beside the certificates)
	cmd                  *exec.Cmd
	log                  *bytes.Buffer
}

// free is a port a restarted process can always listen on again.
func free(t *testing.T) string { return testkit.FreeAddr(t) }

// start runs the node with the cluster's certificates and archive key
// (certs/archive.key, written by 'kvstore certs') and the archive
// p.archive, or else the directory certs/../archive, shared by every
// node.
func (p *proc) start(t *testing.T, bin, certs, peers string, extra ...string) {
	archive := p.archive
	if archive == "" {
		archive = "file://" + filepath.ToSlash(filepath.Join(filepath.Dir(certs), "archive"))
	}
	args := []string{"-node", p.id, "-dir", p.dir, "-certs", certs, "-http", p.http, "-raft", p.raft, "-repl", p.repl, "-peers", peers,
		"-archive", archive, "-key-file", filepath.Join(certs, "archive.key")}
	p.cmd = exec.Command(bin, append(args, extra...)...)
	p.log = &bytes.Buffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill() // SIGKILL
		p.cmd.Wait()
	}
	p.cmd = nil
}

type status struct {
	Role    string `json:"role"`
	Epoch   uint64 `json:"epoch"`
	Primary string `json:"primary"`
	Last    uint64 `json:"last"`
	Applied uint64 `json:"applied"`
	Ready   bool   `json:"ready"`
}

func (p *proc) status() (status, error) {
	var s status
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + p.http + "/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func put(addr, key, value string) (string, error) {
	c := http.Client{Timeout: 6 * time.Second}
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/kv/"+key, strings.NewReader(value))
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return strings.TrimSpace(string(b)), nil
}

func get(addr, key, minLSN string) (string, error) {
	c := http.Client{Timeout: 6 * time.Second}
	resp, err := c.Get("http://" + addr + "/kv/" + key + "?min_lsn=" + minLSN)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), nil
}

// TestThreeProcesses runs kvstore as three processes with mutual TLS on
// loopback, writes through the primary (and through a standby, which
// redirects), SIGKILLs the primary, measures the time until a write is
// acknowledged by the new primary, checks that no acknowledged write was
// lost, and restarts the old primary to see it rejoin as a standby.
func TestThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "kvstore")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	certs := filepath.Join(tmp, "certs")
	if out, err := exec.Command(bin, "certs", "-out", certs, "-nodes", "n1,n2,n3").CombinedOutput(); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "archive"), 0o755); err != nil {
		t.Fatal(err)
	}
	var ps []*proc
	var peers []string
	for i := 1; i <= 3; i++ {
		p := &proc{id: fmt.Sprintf("n%d", i), http: free(t), raft: free(t), repl: free(t), dir: filepath.Join(tmp, fmt.Sprintf("n%d", i))}
		ps = append(ps, p)
		peers = append(peers, p.id+"=http://"+p.http)
	}
	peerFlag := strings.Join(peers, ",")
	defer func() {
		for _, p := range ps {
			p.kill()
			if t.Failed() {
				t.Logf("--- %s log (tail)\n%s", p.id, tail(p.log.String(), 3000))
			}
		}
	}()
	ps[0].start(t, bin, certs, peerFlag, "-bootstrap")
	// n1 first, until it serves: localblob's open has a window in which
	// another process opening the same directory can take its fresh lock
	// file (a known race, see the closing note of stop 25).
	// Alone, n1 cannot acknowledge a write under -sync 1: once it is the
	// primary it says so with a 503 and what to do, not a 500.
	var alone error
	testkit.Eventually(t, func() bool {
		_, alone = put(ps[0].http, "alone", "x")
		if alone == nil {
			t.Fatal("a write acknowledged by a primary without standbys under -sync 1")
		}
		return strings.Contains(alone.Error(), "503") && strings.Contains(alone.Error(), "-sync")
	}, "n1 to refuse a write for want of standbys")
	for _, p := range ps[1:] {
		p.start(t, bin, certs, peerFlag, "-join", ps[0].raft)
	}
	testkit.Eventually(t, func() bool {
		for _, p := range ps {
			s, err := p.status()
			if err != nil || s.Primary != "n1" {
				return false
			}
		}
		_, err := put(ps[0].http, "probe", "x")
		return err == nil
	}, "n1 primary with two standbys following")

	var last string
	for i := 0; i < 30; i++ {
		via := ps[i%3] // standbys redirect to the primary
		lsn, err := put(via.http, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
		if err != nil {
			t.Fatalf("put k%d via %s: %v", i, via.id, err)
		}
		last = lsn
	}

	// SIGKILL the primary; time the first acknowledged write after it.
	start := time.Now()
	ps[0].kill()
	var lsn string
	testkit.Eventually(t, func() bool {
		var err error
		lsn, err = put(ps[1].http, "after", "failover")
		return err == nil
	}, "a write acknowledged by a new primary")
	took := time.Since(start)
	s2, _ := ps[1].status()
	t.Logf("primary SIGKILLed; first write acknowledged by %s (epoch %d) after %v, at LSN %s", s2.Primary, s2.Epoch, took, lsn)
	for i := 0; i < 30; i++ {
		for _, p := range ps[1:] {
			v, err := get(p.http, fmt.Sprintf("k%d", i), last)
			if err != nil || v != fmt.Sprintf("v%d", i) {
				t.Fatalf("acknowledged write k%d on %s: %q, %v", i, p.id, v, err)
			}
		}
	}

	// The old primary comes back and rejoins as a standby.
	ps[0].start(t, bin, certs, peerFlag)
	testkit.Eventually(t, func() bool {
		s, err := ps[0].status()
		// Ready: the primary confirmed its log (until then reads get 503).
		return err == nil && s.Role == "standby" && s.Primary == s2.Primary && s.Ready
	}, "n1 to rejoin as a ready standby")
	v, err := get(ps[0].http, "after", lsn)
	if err != nil || v != "failover" {
		t.Fatalf("rejoined n1 reads %q, %v", v, err)
	}
	t.Logf("n1 rejoined as a standby and applied through LSN %s", lsn)
	resp, err := http.Get("http://" + ps[0].http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "continuity_primary 0") || !strings.Contains(string(metrics), "continuity_promotions_total 2") {
		t.Fatalf("/metrics of the rejoined node:\n%s", metrics)
	}

	// Pause the primary (SIGSTOP): another node takes over; resumed, the
	// old one finds its lease long gone and does not write.
	var paused *proc
	for _, p := range ps {
		if p.id == s2.Primary {
			paused = p
		}
	}
	if err := paused.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var other *proc
	for _, p := range ps {
		if p != paused {
			other = p
			break
		}
	}
	var lsn2 string
	testkit.Eventually(t, func() bool {
		var err error
		lsn2, err = put(other.http, "during", "pause")
		return err == nil
	}, "a write acknowledged while the primary is paused")
	if err := paused.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	noRedirect := http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPut, "http://"+paused.http+"/kv/stale", strings.NewReader("write"))
	if resp, err := noRedirect.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the resumed old primary acknowledged a write")
		}
	}
	testkit.Eventually(t, func() bool {
		v, err := get(paused.http, "during", lsn2)
		return err == nil && v == "pause"
	}, "the resumed node to follow the new primary")
	t.Logf("paused %s with SIGSTOP; the cluster went on at LSN %s; resumed, it refused writes and followed", paused.id, lsn2)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
