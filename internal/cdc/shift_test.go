package cdc

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/continuity-go/continuity/internal/gen"
	"github.com/stretchr/testify/assert"
)

// reuse chunks old and new with c and returns the fraction of new's bytes
// that lie in chunks whose content old also has: what a deduplicating
// store would not write again.
func reuse(c *Chunker, old, new []byte) float64 {
	have := make(map[[32]byte]bool)
	for d := old; len(d) > 0; {
		n := c.Cut(d)
		have[sha256.Sum256(d[:n])] = true
		d = d[n:]
	}
	var reused int
	for d := new; len(d) > 0; {
		n := c.Cut(d)
		if have[sha256.Sum256(d[:n])] {
			reused += n
		}
		d = d[n:]
	}
	return float64(reused) / float64(len(new))
}

// meanChunk returns the mean chunk size of data in bytes.
func meanChunk(c *Chunker, data []byte) float64 {
	var chunks int
	for d := data; len(d) > 0; chunks++ {
		d = d[c.Cut(d):]
	}
	return float64(len(data)) / float64(chunks)
}

// shiftCases are the two workloads of the shift-resistance requirement on
// a 64 MiB state: single-byte insertions into random data, and small edits
// (insert, delete or overwrite 1 to 64 bytes) of event JSON.
var shiftCases = []struct {
	name    string
	kind    string
	edit    func(data []byte) []byte
	atLeast float64 // the requirement at Avg 64 KiB
}{
	{"random/insert=100x1B", "random", func(d []byte) []byte { return gen.InsertBytes(2, d, 100) }, 0.87},
	{"events/edit=100x64B", "events", func(d []byte) []byte { return gen.Edit(2, d, 100, 64) }, 0.85},
}

// TestShiftResistance checks that after 100 small changes to 64 MiB of
// state, chunking with the default parameters reuses at least 87% (random
// data, 1-byte insertions) and 85% (event data, small edits) of the bytes,
// and that the mean chunk size stays within 10% of Avg.
func TestShiftResistance(t *testing.T) {
	p := DefaultParams()
	c := mustNew(t, p, 7)
	for _, tc := range shiftCases {
		t.Run(tc.name, func(t *testing.T) {
			old := benchData()[tc.kind]
			r := reuse(c, old, tc.edit(old))
			mean := meanChunk(c, old)
			t.Logf("reuse %.1f%%, mean chunk %.0f B (Avg %d)", 100*r, mean, p.Avg)
			assert.GreaterOrEqual(t, r, tc.atLeast)
			assert.InEpsilon(t, p.Avg, mean, 0.10)
		})
	}
}

// BenchmarkReuse measures the dedup side of the DefaultParams choice: the
// fraction of bytes reused after the changes of shiftCases, and the mean
// chunk size, for several averages. Run it once:
//
//	go test -run '^$' -bench Reuse -benchtime 1x ./internal/cdc/
func BenchmarkReuse(b *testing.B) {
	for _, avg := range benchAvgs {
		c := mustNew(b, benchParams(avg), 7)
		for _, tc := range shiftCases {
			b.Run(fmt.Sprintf("avg=%dKiB/%s", avg>>10, tc.name), func(b *testing.B) {
				old := benchData()[tc.kind]
				new := tc.edit(old)
				var r float64
				for b.Loop() {
					r = reuse(c, old, new)
				}
				b.ReportMetric(100*r, "%reused")
				b.ReportMetric(meanChunk(c, old), "B/chunk")
			})
		}
	}
}
