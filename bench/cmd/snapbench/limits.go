package main

import (
	"crypto/rand"
	"fmt"
	"github.com/continuity-go/continuity/bench/internal/benchkit"
	"time"

	"github.com/pierrec/lz4/v4"

	"github.com/continuity-go/continuity/internal/cdc"
)

// The physical limits: the per-chunk work of Save and Restore, each part
// alone, on one goroutine, over the state in memory, with no I/O, no
// copies between goroutines and no allocation. Each mirrors what the
// snapshot package does with the same libraries and default parameters:
// internal/cdc's Cut with DefaultParams (the chunker of Save's reader),
// keyed BLAKE3-256 (zeebo/blake3, snapshot/crypto.go's hasher), lz4 block
// compression into a destination one byte shorter than the chunk, keeping
// chunks that do not shrink raw (snapshot/codec.go), AES-256-GCM with a
// 12-byte counter nonce and the 49 bytes of additional data of a blob
// (snapshot/pack.go).
type limitOp struct {
	name, short string
	// target says whether a target is measured against this limit; the
	// others are context.
	target bool
}

// Limit operations, in report order.
const (
	limMemmove     = "memmove"
	limChunk       = "chunk"
	limChunkHash   = "chunk+hash"
	limCompress    = "lz4 compress"
	limOpenDecomp  = "open+decompress"
	limSaveWork    = "chunk+hash+compress+seal"
	limRestoreWork = "open+decompress+hash"
	limRatio       = "lz4 ratio" // not a speed: state bytes ÷ compressed chunk bytes
)

var limitOps = []limitOp{
	{limMemmove, "memmove", false},
	{limChunk, "chunk", true},
	{limChunkHash, "chunk+hash", true},
	{limCompress, "lz4", true},
	{limOpenDecomp, "open+unlz4", true},
	{limSaveWork, "save work", false},
	{limRestoreWork, "restore work", false},
}

// limitDescriptions explain each operation in the report.
var limitDescriptions = map[string]string{
	limMemmove:     "copy of the whole state into another buffer (memory bandwidth)",
	limChunk:       "chunking alone: Cut over the state, DefaultParams",
	limChunkHash:   "chunking + identity hash: Cut, then keyed BLAKE3 of each chunk",
	limCompress:    "lz4 compress alone, chunk by chunk",
	limOpenDecomp:  "AES-GCM open + lz4 decompress of each stored chunk (stored as Save stores it: lz4, or raw if lz4 does not shrink it)",
	limSaveWork:    "all per-chunk work of Save of new data, one after the other: chunk, hash, compress, seal",
	limRestoreWork: "all per-chunk work of Restore: open, decompress, hash (Restore checks every chunk's ID)",
}

// opJob collects measurements of one kind of data by operation, one map
// per run: for the limits, MB/s by operation and the lz4 ratio.
type opJob struct {
	data string
	runs []map[string]float64
}

func (l *opJob) stat(op string) benchkit.Stat {
	v := make([]float64, len(l.runs))
	for i, r := range l.runs {
		v[i] = r[op]
	}
	return benchkit.StatOf(v)
}

// sealedChunk is a chunk as a pack stores it.
type sealedChunk struct {
	off   int // offset in the pack: the nonce
	n     int // sealed length
	raw   int // plaintext length
	codec byte
}

const (
	codecRaw = 0
	codecLZ4 = 1
	adSize   = 16 + 1 + 32 // repository ID, blob type, blob ID
)

// measureLimits times each limit operation once over the state data and
// returns MB/s (10^6 bytes of state per second) by operation.
func measureLimits(data []byte) (map[string]float64, error) {
	var gearKey, idKey, encKey [32]byte
	rand.Read(gearKey[:])
	rand.Read(idKey[:])
	rand.Read(encKey[:])
	params := cdc.DefaultParams()
	chunker, err := cdc.New(params, cdc.NewTable(gearKey))
	if err != nil {
		return nil, err
	}
	hasher, err := newIDHasher(idKey)
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(encKey)
	if err != nil {
		return nil, err
	}
	comp := &lz4Codec{buf: make([]byte, params.Max)}
	ad := make([]byte, adSize)
	var nonceBuf counterNonce
	nonce, hash, compress := nonceBuf.at, hasher.sum, comp.compress

	out := map[string]float64{}
	mbps := func(d time.Duration) float64 { return float64(len(data)) / d.Seconds() / 1e6 }
	timeIt := func(op string, f func()) {
		freeMemory()
		start := time.Now()
		f()
		out[op] = mbps(time.Since(start))
	}

	// Every buffer a pass writes is touched before it is timed: the
	// limits measure the work, not the kernel's first-touch page faults.
	dst := make([]byte, len(data))
	copy(dst, data)
	timeIt(limMemmove, func() { copy(dst, data) })
	dst = nil

	// Chunk boundaries, from the chunking pass, for the passes that work
	// chunk by chunk.
	ends := make([]int, 0, 2*len(data)/params.Avg+16)
	timeIt(limChunk, func() {
		for pos := 0; pos < len(data); {
			pos += chunker.Cut(data[pos:])
			ends = append(ends, pos)
		}
	})
	timeIt(limChunkHash, func() {
		for pos := 0; pos < len(data); {
			n := chunker.Cut(data[pos:])
			hash(data[pos : pos+n])
			pos += n
		}
	})
	compressed := 0
	timeIt(limCompress, func() {
		start := 0
		for _, end := range ends {
			p, _ := compress(data[start:end])
			compressed += len(p)
			start = end
		}
	})
	out[limRatio] = float64(len(data)) / float64(compressed)

	// The pack: every chunk compressed and sealed, one after the other,
	// as a Save of new data writes them.
	pack := make([]byte, 48, len(data)+len(ends)*gcm.Overhead()+48) // the object header, then the chunks
	clear(pack[:cap(pack)])
	sealed := make([]sealedChunk, 0, len(ends))
	timeIt(limSaveWork, func() {
		for pos := 0; pos < len(data); {
			n := chunker.Cut(data[pos:])
			p := data[pos : pos+n]
			hash(p)
			payload, codec := compress(p)
			off := len(pack)
			pack = gcm.Seal(pack, nonce(off), payload, ad)
			sealed = append(sealed, sealedChunk{off: off, n: len(pack) - off, raw: n, codec: codec})
			pos += n
		}
	})

	plain := make([]byte, 0, params.Max)
	state := make([]byte, 0, params.Max)
	openDecompress := func(c sealedChunk) ([]byte, error) {
		payload, err := gcm.Open(plain[:0], nonce(c.off), pack[c.off:c.off+c.n], ad)
		if err != nil {
			return nil, err
		}
		if c.codec == codecRaw {
			return append(state[:0], payload...), nil
		}
		n, err := lz4.UncompressBlock(payload, state[:c.raw])
		if err != nil || n != c.raw {
			return nil, fmt.Errorf("lz4 gave %d bytes, want %d: %v", n, c.raw, err)
		}
		return state[:n], nil
	}
	var openErr error
	timeIt(limOpenDecomp, func() {
		for _, c := range sealed {
			if _, err := openDecompress(c); err != nil {
				openErr = err
				return
			}
		}
	})
	timeIt(limRestoreWork, func() {
		for _, c := range sealed {
			p, err := openDecompress(c)
			if err != nil {
				openErr = err
				return
			}
			hash(p)
		}
	})
	if openErr != nil {
		return nil, fmt.Errorf("open a sealed chunk: %w", openErr)
	}
	return out, nil
}
