package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/continuity-go/continuity"
	"github.com/continuity-go/continuity/internal/testsm"
)

// TestRestoreTenant: restore --tenant writes one tenant's state and its
// events, decrypted, and nothing of the others; a forgotten tenant exits
// 4 at any time, an unknown one too.
func TestRestoreTenant(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := &fixture{dir: dir, archiveDir: filepath.Join(dir, "archive"), key: filepath.Join(dir, "archive.key")}
	f.url = (&url.URL{Scheme: "file", Path: filepath.ToSlash(f.archiveDir)}).String()
	n, err := continuity.Open(ctx, continuity.Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)}, testsm.NewTenants())
	require.NoError(t, err)
	for _, w := range [][2]string{{"acme", "a1"}, {"globex", "g1"}, {"acme", "a2"}} {
		_, l, err := n.AppendTenant(ctx, w[0], []byte(w[1]))
		require.NoError(t, err)
		require.NoError(t, n.WaitFor(ctx, l)) // in the snapshot below
	}
	_, err = n.Snapshot(ctx)
	require.NoError(t, err)
	_, last, err := n.AppendTenant(ctx, "acme", []byte("a3-after-the-snapshot"))
	require.NoError(t, err)
	_, _, err = n.AppendTenant(ctx, "initech", []byte("i1"))
	require.NoError(t, err)
	_, err = n.ForgetTenant(ctx, "initech", "closed")
	require.NoError(t, err)
	require.NoError(t, n.Close())

	var c ctlCmd
	out := filepath.Join(t.TempDir(), "acme")
	res := c.run(t, f.args("restore", "--tenant", "acme", "--lsn", itoa(uint64(last)), "--out", out, "--json")...)
	require.Equal(t, 0, res.code, "%s", res)
	var v restoreTenantJSON
	require.NoError(t, json.Unmarshal([]byte(res.out), &v))
	assert.True(t, v.FromSnapshot)
	assert.Equal(t, int64(1), v.Events)
	state, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(state), `"a1"`)
	assert.Contains(t, string(state), `"a2"`)
	assert.NotContains(t, string(state), "g1", "another tenant's state")
	events, err := os.ReadFile(out + ".events.jsonl")
	require.NoError(t, err)
	var ev eventJSON
	require.NoError(t, json.Unmarshal(events, &ev))
	assert.Equal(t, "a3-after-the-snapshot", string(ev.Data), "the event, decrypted")
	assert.Equal(t, 1, strings.Count(string(events), "\n"))

	c.expect(t, exitNotFound, "destroyed", f.args("restore", "--tenant", "initech", "--out", filepath.Join(t.TempDir(), "i"))...)
	c.expect(t, exitNotFound, "no such tenant", f.args("restore", "--tenant", "nobody", "--out", filepath.Join(t.TempDir(), "n"))...)
	c.expect(t, exitUsage, "tenant", f.args("restore", "--tenant", strings.Repeat("x", 300), "--out", filepath.Join(t.TempDir(), "x"))...)
	c.expect(t, exitUsage, "snapshot", f.args("restore", "--tenant", "acme", "--snapshot", "ab", "--out", filepath.Join(t.TempDir(), "y"))...)
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
