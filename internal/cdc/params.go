package cdc

import (
	"errors"
	"fmt"
	"math/bits"
)

// Limits on Params. They keep the mask arithmetic in range and every size
// representable in an int on 32-bit platforms.
const (
	// MinAvg is the smallest allowed Params.Avg in bytes.
	MinAvg = 64
	// MaxMax is the largest allowed Params.Max in bytes (1 GiB).
	MaxMax = 1 << 30
)

// Params are the chunk-size parameters of a Chunker. They are part of a
// repository's on-disk format: chunking the same data with other Params
// gives other chunks.
type Params struct {
	// Min is the minimum chunk size in bytes; only the last chunk of a
	// stream may be shorter. The chunker does not look for a boundary
	// before Min, which is where much of its speed comes from. Min must be
	// at least 1 and less than Avg.
	Min int
	// Avg is the expected mean chunk size in bytes, on data whose 64-byte
	// windows do not repeat much; measured means are within 8% of Avg on
	// random data and on event JSON. It must be a power of two in
	// [MinAvg, Max).
	Avg int
	// Max is the maximum chunk size in bytes: a chunk is cut at Max when
	// no content-defined boundary came earlier. It must be greater than
	// Avg and at most MaxMax.
	Max int
}

// DefaultParams returns Min 32 KiB, Avg 64 KiB, Max 256 KiB, chosen by
// measurement (the table is in the package documentation): 64 KiB chunks
// keep about 90% of the bytes of a 64 MiB state after 100 scattered small
// edits, compress with lz4 within 4% of 128 KiB chunks, and need a quarter
// of the index entries of 16 KiB chunks (about 800 MiB of index per TiB of
// unique data at 50 bytes an entry). Min at Avg/2 skips half of each chunk
// unhashed, about 1.4 times the speed of FastCDC's Avg/4, with no loss of
// reuse.
func DefaultParams() Params {
	return Params{Min: 32 << 10, Avg: 64 << 10, Max: 256 << 10}
}

// Validate reports every violation of the rules on the fields of Params,
// joined with errors.Join; each wraps ErrInvalidParams and names the field.
// It returns nil if p can be used.
func (p Params) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidParams}, args...)...))
	}
	if p.Min < 1 {
		bad("Min (%d) must be at least 1", p.Min)
	}
	if p.Avg < MinAvg || bits.OnesCount(uint(p.Avg)) != 1 {
		bad("Avg (%d) must be a power of two, at least %d", p.Avg, MinAvg)
	}
	if p.Min >= p.Avg {
		bad("Min (%d) must be less than Avg (%d)", p.Min, p.Avg)
	}
	if p.Max <= p.Avg {
		bad("Max (%d) must be greater than Avg (%d)", p.Max, p.Avg)
	}
	if p.Max > MaxMax {
		bad("Max (%d) must be at most %d", p.Max, MaxMax)
	}
	return errors.Join(errs...)
}
