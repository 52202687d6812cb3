// Package chunkers gives every content-defined chunker the benchmarks
// compare one small interface, so that the snapbench command and the Go
// benchmarks in cdc_test.go drive them with the same code: continuity's
// internal/cdc, github.com/restic/chunker, github.com/jotfs/fastcdc-go and
// github.com/PlakarKorp/go-cdc-chunkers (fastcdc and jc).
//
// Every chunker splits a stream read from an io.Reader, at about 64 KiB
// average. The peers run with the FastCDC paper's ratios (Min Avg/4, Max
// 4*Avg), which are also their defaults; continuity runs with its
// DefaultParams (Min Avg/2), and Ours gives other Params for a
// like-for-like row.
//
//	for _, impl := range chunkers.Compared() {
//		n, err := chunkers.Stream(impl, data, func(chunk []byte) { ... })
//	}
package chunkers

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"

	plakar "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers "fastcdc"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/jc"      // registers "jc"
	fastcdc "github.com/jotfs/fastcdc-go"
	"github.com/restic/chunker"

	"github.com/continuity-go/continuity/internal/cdc"
	"github.com/continuity-go/continuity/internal/gen"
)

// The peers' chunk sizes in bytes: the FastCDC paper's ratios around a
// 64 KiB average.
const (
	Min = 16 << 10
	Avg = 64 << 10
	Max = 256 << 10
)

// Next returns the next chunk of a stream, or an error (io.EOF at the
// end). The chunk is valid until the next call.
type Next func() ([]byte, error)

// Impl is one chunker.
type Impl struct {
	// Name labels the chunker in reports and sub-benchmark names.
	Name string
	// FastCDC says whether the chunker is an implementation of FastCDC
	// (a gear hash with normalized chunking).
	FastCDC bool
	// Open starts chunking r.
	Open func(r io.Reader) (Next, error)
}

// resticPol is the irreducible polynomial restic/chunker's own tests use; a
// restic repository draws a random one.
const resticPol = chunker.Pol(0x3DA3358B4DC173)

// Ours is continuity's chunker with p and a fixed gear table, through
// cdc.Reader as Save uses it.
func Ours(name string, p cdc.Params) Impl {
	c, err := cdc.New(p, cdc.NewTable([32]byte{1}))
	if err != nil {
		panic(err) // only for invalid Params
	}
	return Impl{Name: name, FastCDC: true, Open: func(r io.Reader) (Next, error) {
		return cdc.NewReader(r, c).Next, nil
	}}
}

// Restic is restic/chunker (a Rabin fingerprint) with the peers' sizes:
// 2^16 average instead of restic's 1 MiB.
func Restic() Impl {
	return Impl{Name: "restic", Open: func(r io.Reader) (Next, error) {
		c := chunker.NewWithBoundaries(r, resticPol, Min, Max)
		c.SetAverageBits(16)
		buf := make([]byte, Max)
		return func() ([]byte, error) {
			ch, err := c.Next(buf)
			return ch.Data, err
		}, nil
	}}
}

// JotFS is jotfs/fastcdc-go.
func JotFS() Impl {
	return Impl{Name: "jotfs", FastCDC: true, Open: func(r io.Reader) (Next, error) {
		c, err := fastcdc.NewChunker(r, fastcdc.Options{MinSize: Min, AverageSize: Avg, MaxSize: Max})
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			ch, err := c.Next()
			return ch.Data, err
		}, nil
	}}
}

// Plakar is PlakarKorp/go-cdc-chunkers' algorithm, "fastcdc" or "jc".
func Plakar(algorithm string) Impl {
	return Impl{Name: "plakar-" + algorithm, FastCDC: algorithm == "fastcdc", Open: func(r io.Reader) (Next, error) {
		c, err := plakar.NewChunker(algorithm, r, &plakar.ChunkerOpts{MinSize: Min, NormalSize: Avg, MaxSize: Max})
		if err != nil {
			return nil, err
		}
		return c.Next, nil
	}}
}

// OursName is the name of continuity's chunker with DefaultParams in
// Compared.
const OursName = "continuity"

// Compared returns the chunkers compared with each other, ours first:
// continuity with DefaultParams, restic, jotfs, plakar-fastcdc and
// plakar-jc.
func Compared() []Impl {
	return []Impl{Ours(OursName, cdc.DefaultParams()), Restic(), JotFS(), Plakar("fastcdc"), Plakar("jc")}
}

// Stream chunks data with impl and runs fn on each chunk; it returns the
// number of chunks. A chunker that loses or invents bytes is an error.
func Stream(impl Impl, data []byte, fn func(chunk []byte)) (int, error) {
	next, err := impl.Open(bytes.NewReader(data))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", impl.Name, err)
	}
	var chunks, total int
	for {
		ch, err := next()
		if len(ch) > 0 {
			chunks++
			total += len(ch)
			fn(ch)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return chunks, fmt.Errorf("%s: %w", impl.Name, err)
		}
	}
	if total != len(data) {
		return chunks, fmt.Errorf("%s: chunks hold %d of %d bytes", impl.Name, total, len(data))
	}
	return chunks, nil
}

// Reuse returns the share of the bytes of edited that a deduplicating
// store already holds after storing old: the bytes of edited's chunks
// that are also chunks of old.
func Reuse(impl Impl, old, edited []byte) (float64, error) {
	have := make(map[[32]byte]bool)
	if _, err := Stream(impl, old, func(ch []byte) { have[sha256.Sum256(ch)] = true }); err != nil {
		return 0, err
	}
	var n int
	if _, err := Stream(impl, edited, func(ch []byte) {
		if have[sha256.Sum256(ch)] {
			n += len(ch)
		}
	}); err != nil {
		return 0, err
	}
	return float64(n) / float64(len(edited)), nil
}

// ShiftBytes is the state size of the shift-resistance requirement.
const ShiftBytes = 64 << 20

// ShiftCase is one workload of the shift-resistance requirement (as in
// internal/cdc's TestShiftResistance): 100 changes to a ShiftBytes state,
// of which a 64 KiB-average chunker must keep AtLeast of the bytes.
type ShiftCase struct {
	Name    string // as in sub-benchmark names
	Kind    string // "random" or "events"
	Change  string // what Edit does, for reports
	Edit    func(state []byte) []byte
	AtLeast float64
}

// ShiftCases are single-byte insertions into random data and small edits
// (insert, delete or overwrite 1 to 64 bytes) of event JSON.
var ShiftCases = []ShiftCase{
	{"random/insert=100x1B", "random", "100 single-byte insertions (gen.InsertBytes, seed 2)",
		func(d []byte) []byte { return gen.InsertBytes(2, d, 100) }, 0.87},
	{"events/edit=100x64B", "events", "100 edits of 1 to 64 bytes (gen.Edit, seed 2)",
		func(d []byte) []byte { return gen.Edit(2, d, 100, 64) }, 0.85},
}

// ShiftCaseOf returns the shift case for kind of data.
func ShiftCaseOf(kind string) (ShiftCase, bool) {
	for _, c := range ShiftCases {
		if c.Kind == kind {
			return c, true
		}
	}
	return ShiftCase{}, false
}
