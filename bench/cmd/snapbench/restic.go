package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// resticPassword is the repository password of the benchmark's restic
// repositories. restic derives the key from it with scrypt on every
// command; the open step measures that fixed cost.
const resticPassword = "snapbench"

// resticVersionOf runs `restic version` and returns its output line.
func resticVersionOf(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "", fmt.Errorf("run %s version: %w", bin, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// runRestic runs steps with the restic binary bin in a new repository
// (format version 2: compressed with zstd, its default "auto" level) in
// dir/repo: `restic backup --stdin` of f.base (first) and of f.edited
// (edited, then unchanged), `restic dump latest /state` to /dev/null
// (restore), and `restic cat config` (open: process start, key derivation
// and reading the config, the cost of any command before its work). Each
// step is one process, timed from its start to its exit; the repository's
// growth is the sum of its files' sizes before and after.
func runRestic(ctx context.Context, bin, dir string, steps []step, f dataFiles) (map[step]stepResult, error) {
	repo := filepath.Join(dir, "repo")
	cache := filepath.Join(dir, "cache")
	if _, err := resticCmd(ctx, bin, cache, nil, nil, "init", "--repo", repo, "--repository-version", "2"); err != nil {
		return nil, err
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	// restic names a snapshot of stdin after --stdin-filename, at the
	// root of the snapshot's tree.
	backup := []string{"--repo", repo, "--no-cache", "backup", "--stdin", "--stdin-filename", "state", "--host", "snapbench"}
	out := map[step]stepResult{}
	for _, s := range steps {
		before, err := dirBytes(repo)
		if err != nil {
			return nil, err
		}
		var ps *os.ProcessState
		start := time.Now()
		switch s {
		case stepFirst, stepEdited, stepUnchanged:
			name := f.edited
			if s == stepFirst {
				name = f.base
			}
			ps, err = resticFile(ctx, bin, cache, name, backup...)
		case stepRestore:
			ps, err = resticCmd(ctx, bin, cache, nil, devNull, "--repo", repo, "--no-cache", "dump", "latest", "/state")
		case stepOpen:
			ps, err = resticCmd(ctx, bin, cache, nil, devNull, "--repo", repo, "--no-cache", "cat", "config")
		default:
			err = fmt.Errorf("restic has no step %q", s)
		}
		dur := time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
		after, err := dirBytes(repo)
		if err != nil {
			return nil, err
		}
		out[s] = stepResult{dur: dur, cpu: ps.UserTime() + ps.SystemTime(), stored: after - before, newBytes: -1}
	}
	return out, nil
}

// resticFile runs restic with the file name as its standard input.
func resticFile(ctx context.Context, bin, cache, name string, args ...string) (*os.ProcessState, error) {
	in, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	return resticCmd(ctx, bin, cache, in, nil, args...)
}

// resticCmd runs restic quietly with args, stdin and stdout (nil: none),
// with the benchmark's password and cache directory and no other RESTIC_
// variable of the environment (a RESTIC_COMPRESSION, say, would change
// what is measured). Its standard error is returned in the error if it
// fails.
func resticCmd(ctx context.Context, bin, cache string, stdin, stdout *os.File, args ...string) (*os.ProcessState, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--quiet"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RESTIC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "RESTIC_PASSWORD="+resticPassword, "RESTIC_CACHE_DIR="+cache)
	// *os.File, not io.Reader and io.Writer: the child reads and writes
	// the files directly, without a copying goroutine in this process.
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("restic %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return cmd.ProcessState, nil
}

// dirBytes sums the sizes of the regular files under dir, like du -sb
// without the directories' own sizes.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}
