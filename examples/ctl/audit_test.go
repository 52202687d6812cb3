package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAudit: the commands that change the archive leave audit records,
// ctl audit lists them (from a time on), and a planted record makes it
// exit 3 naming it.
func TestAudit(t *testing.T) {
	f := newFixture(t, []int{6, 4}, 0)
	var c ctlCmd
	res := c.run(t, f.args("audit")...)
	require.Equal(t, 0, res.code, "%s", res)
	assert.Contains(t, res.out, "no audit records")

	require.Equal(t, 0, c.run(t, f.args("prune")...).code)
	require.Equal(t, 0, c.run(t, f.args("keys", "add", "--new-key-file", filepath.Join(t.TempDir(), "k2"))...).code)
	res = c.run(t, f.args("audit", "--json")...)
	require.Equal(t, 0, res.code, "%s", res)
	var v auditJSON
	require.NoError(t, json.Unmarshal([]byte(res.out), &v))
	require.Len(t, v.Records, 2, "%s", res.out)
	assert.Equal(t, "prune", v.Records[0].Action)
	assert.Equal(t, "keys.add", v.Records[1].Action)
	assert.Contains(t, v.Records[0].Actor, "ctl@")
	res = c.run(t, f.args("audit", "--since", "2099-01-01T00:00:00Z")...)
	require.Equal(t, 0, res.code, "%s", res)
	assert.Contains(t, res.out, "no audit records")
	res = c.run(t, f.args("audit", "--since", "yesterday")...)
	assert.Equal(t, exitUsage, res.code, "%s", res)

	// A bucket writer plants a record.
	planted := filepath.Join(f.archiveDir, "audit", "0000000000000001-promote-00000000")
	require.NoError(t, os.WriteFile(planted, []byte(`{"action":"promote","actor":"n9"}`), 0o600))
	res = c.run(t, f.args("audit")...)
	assert.Equal(t, exitIntegrity, res.code, "%s", res)
	assert.Contains(t, res.err, "0000000000000001-promote-00000000")
	assert.NotContains(t, res.out, "n9", "the planted record is not listed")
}
