package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/continuity-go/continuity/internal/testkit"
)

// docCommands returns the shell commands of the package documentation's
// code blocks, continuation lines joined, in order.
func docCommands(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	cont := false
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "package ") {
			break
		}
		code, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			cont = false
			continue
		}
		code = strings.TrimSpace(code)
		joined := strings.TrimSuffix(code, "\\")
		if cont {
			cmds[len(cmds)-1] += " " + strings.TrimSpace(joined)
		} else {
			cmds = append(cmds, strings.TrimSpace(joined))
		}
		cont = strings.HasSuffix(code, "\\")
	}
	return cmds
}

// TestDocCommands runs the package documentation's commands as written,
// from the repository root, with /tmp/kv replaced by a temporary
// directory: certificates and key, the build, three nodes on the
// documented ports, the curl calls; then it SIGKILLs the primary, writes
// through another node, restarts the killed node with its documented
// command (-bootstrap and all), and opens the archive with the
// documented ctl command. It is skipped if a documented port is taken.
func TestDocCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the documented commands use curl")
	}
	cmds := docCommands(t)
	all := strings.Join(cmds, "\n")
	for _, port := range regexp.MustCompile(`127\.0\.0\.1:(\d+)`).FindAllStringSubmatch(all, -1) {
		l, err := net.Listen("tcp", "127.0.0.1:"+port[1])
		if err != nil {
			t.Skipf("documented port %s is taken: %v", port[1], err)
		}
		l.Close()
	}
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	sub := func(c string) string { return strings.ReplaceAll(c, "/tmp/kv", dir) }
	// vars are the shell variables the documented commands set (lsn=$(…)),
	// for the commands after them: each runs in a shell of its own.
	vars := os.Environ()
	run := func(c string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", sub(c))
		cmd.Dir = root
		cmd.Env = vars
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", c, err, out, stderr.Bytes())
		}
		return string(out)
	}
	nodes := map[string]string{} // node ID → its documented command
	logs := map[string]*testkit.SyncBuffer{}
	procs := map[string]*exec.Cmd{}
	start := func(id string) {
		t.Helper()
		cmd := exec.Command("sh", "-c", "exec "+sub(nodes[id]))
		cmd.Dir = root
		if logs[id] == nil {
			logs[id] = &testkit.SyncBuffer{}
		}
		cmd.Stdout, cmd.Stderr = logs[id], logs[id]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[id] = cmd
	}
	defer func() {
		for id, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			p.Wait()
			if t.Failed() {
				t.Logf("--- %s log (tail)\n%s", id, tail(logs[id].String(), 3000))
			}
		}
	}()
	node := regexp.MustCompile(`/kvstore -node (n\d)`)
	assign := regexp.MustCompile(`^(\w+)=\$\((curl [^)]*)\)(\s+#.*)?$`)
	shellVar := regexp.MustCompile(`\$(\w+)`)
	set := map[string]bool{}
	var curls []string
	var ctl string
	for _, c := range cmds {
		switch {
		case node.MatchString(c):
			nodes[node.FindStringSubmatch(c)[1]] = c
		case strings.HasPrefix(c, "curl "), assign.MatchString(c):
			curls = append(curls, c)
		case strings.HasPrefix(c, "go run ./examples/ctl"):
			ctl = c
		case strings.HasPrefix(c, "go ") || strings.HasPrefix(c, "mkdir "):
			run(c)
		}
	}
	if len(nodes) != 3 || len(curls) == 0 || ctl == "" {
		t.Fatalf("the documentation lists nodes %v, %d curl commands, ctl %q", nodes, len(curls), ctl)
	}
	statusOf := func(id string) string { // "" while the node does not answer
		out, _ := exec.Command("curl", "-s", fmt.Sprintf("http://127.0.0.1:808%s/status", id[1:])).Output()
		return string(out)
	}
	start("n1")
	testkit.Eventually(t, func() bool { return strings.Contains(statusOf("n1"), `"role":"primary"`) }, "n1 to be primary")
	// One at a time until each serves (localblob's open race: see
	// TestThreeProcesses).
	start("n2")
	testkit.Eventually(t, func() bool { return statusOf("n2") != "" }, "n2 to serve HTTP")
	start("n3")
	for _, id := range []string{"n2", "n3"} {
		testkit.Eventually(t, func() bool { return strings.Contains(statusOf(id), `"ready":true`) }, "%s to be a ready standby", id)
	}
	for _, c := range curls {
		if m := assign.FindStringSubmatch(c); m != nil {
			out := strings.TrimSpace(run(m[2]))
			if _, err := strconv.ParseUint(out, 10, 64); err != nil { // the docs keep only LSNs
				t.Fatalf("%s: %q, want the LSN the write took", c, out)
			}
			vars = append(vars, m[1]+"="+out)
			set[m[1]] = true
			continue
		}
		for _, v := range shellVar.FindAllStringSubmatch(c, -1) {
			if !set[v[1]] {
				t.Fatalf("%s: $%s is set by no command before it", c, v[1])
			}
		}
		out := run(c)
		tenant := strings.Contains(c, "X-Tenant: acme")
		switch {
		case strings.Contains(c, "kv/color?min_lsn") && !tenant && out != "blue":
			t.Fatalf("%s: %q, want blue", c, out)
		case strings.Contains(c, "kv/color?min_lsn") && tenant && out != "red":
			t.Fatalf("%s: %q, want red", c, out)
		case strings.Contains(c, "/tenants/acme/restore") && !strings.Contains(out, `"color":"red"`):
			t.Fatalf("%s: %q, want acme's keys", c, out)
		case strings.Contains(c, "-X DELETE") && strings.Contains(c, "/tenants/acme") && !strings.Contains(out, `"keys_destroyed"`):
			t.Fatalf("%s: %q, want the deletion receipt", c, out)
		}
	}

	// The primary is killed; the cluster goes on; the documented
	// command brings it back.
	procs["n1"].Process.Kill()
	procs["n1"].Wait()
	var green string // the LSN the write took
	testkit.Eventually(t, func() bool {
		out, err := exec.Command("curl", "-s", "-f", "-L", "-X", "PUT", "-d", "green", "http://127.0.0.1:8082/kv/color").Output()
		green = strings.TrimSpace(string(out))
		return err == nil && green != ""
	}, "a write acknowledged after the primary was killed")
	start("n1")
	testkit.Eventually(t, func() bool {
		s := statusOf("n1")
		return strings.Contains(s, `"ready":true`) && strings.Contains(s, `"role":"standby"`)
	}, "the restarted n1 to be a ready standby")
	if out := run("curl -s http://127.0.0.1:8081/kv/color?min_lsn=" + green); out != "green" {
		t.Fatalf("the restarted n1 reads %q, want green", out)
	}
	if strings.Contains(logs["n1"].String(), "level=ERROR") {
		t.Errorf("n1 logged an error:\n%s", tail(logs["n1"].String(), 3000))
	}
	if out := run(ctl); !strings.Contains(out, "restorable from") {
		t.Fatalf("%s:\n%s", ctl, out)
	}
}
