package cdc

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/continuity-go/continuity/internal/gen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenPath holds the chunk lengths for fixed tables, data and params.
// Boundaries are part of the on-disk format: a repository written with one
// version must chunk the same way with the next, or deduplication against
// its old snapshots silently stops. If this test fails, the format changed;
// regenerate with -update only for a deliberate, versioned change.
const goldenPath = "testdata/boundaries.golden"

// goldenLines computes the golden file's content, one line per case.
func goldenLines(t *testing.T) []string {
	seeds := map[string][32]byte{"zero": {}, "count": {}}
	count := seeds["count"]
	for i := range count {
		count[i] = byte(i + 1)
	}
	seeds["count"] = count

	var lines []string
	for _, name := range []string{"zero", "count"} {
		tab := NewTable(seeds[name])
		var raw [256 * 8]byte
		for i, v := range tab {
			binary.LittleEndian.PutUint64(raw[8*i:], v)
		}
		sum := sha256.Sum256(raw[:])
		lines = append(lines, fmt.Sprintf("table seed=%s sha256=%s", name, hex.EncodeToString(sum[:])))
	}

	data := []struct {
		name  string
		bytes []byte
	}{
		{"random-seed=1-1MiB", gen.Random(1, 1<<20)},
		{"events-seed=1-1MiB", gen.Events(1, 1<<20)},
		{"events-seed=2-edited", gen.Edit(3, gen.Events(2, 1<<20), 20, 64)},
		{"zeros-300KiB", make([]byte, 300<<10)},
	}
	params := []Params{
		{Min: 16, Avg: 64, Max: 256}, // Min below the window
		{Min: 1024, Avg: 4096, Max: 16384},
		{Min: 8 << 10, Avg: 16 << 10, Max: 64 << 10},
		DefaultParams(),
	}
	for _, name := range []string{"zero", "count"} {
		tab := NewTable(seeds[name])
		for _, p := range params {
			c, err := New(p, tab)
			require.NoError(t, err)
			for _, d := range data {
				input := d.bytes
				if p.Avg < 1024 {
					input = input[:16<<10]
				}
				ls := lengths(chunkAll(c, input))
				var b strings.Builder
				fmt.Fprintf(&b, "cut table=%s params=%d/%d/%d data=%s chunks=%d:", name, p.Min, p.Avg, p.Max, d.name, len(ls))
				for _, l := range ls {
					fmt.Fprintf(&b, " %d", l)
				}
				lines = append(lines, b.String())
			}
		}
	}
	return lines
}

func TestGoldenBoundaries(t *testing.T) {
	got := "# Chunk lengths for fixed gear-table seeds, params and data (package gen).\n" +
		"# Part of the on-disk format; regenerate with go test -run TestGoldenBoundaries -update\n" +
		strings.Join(goldenLines(t), "\n") + "\n"
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(goldenPath), 0o755))
		require.NoError(t, os.WriteFile(goldenPath, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(goldenPath)
	require.NoError(t, err)
	wantLines := strings.Split(string(want), "\n")
	gotLines := strings.Split(got, "\n")
	require.Equal(t, len(wantLines), len(gotLines), "number of golden lines")
	for i := range wantLines {
		// Compare line by line so a failure names the case, not a
		// megabyte of numbers.
		name, _, _ := strings.Cut(wantLines[i], ":")
		assert.Equal(t, wantLines[i], gotLines[i], "line %d: boundaries changed for %s", i+1, name)
	}
	assert.True(t, bytes.Equal(want, []byte(got)))
}
