package snapshot

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// compressor holds one goroutine's compression state.
type compressor struct {
	codec byte
	lz4   lz4.Compressor
	zstd  *zstd.Encoder
	buf   []byte
}

func newCompressor(c Codec) *compressor {
	cp := &compressor{codec: byte(c)}
	if c == Zstd {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			panic(err) // only for invalid options
		}
		cp.zstd = enc
	}
	return cp
}

// compress returns the payload to store and its codec: the compressed form
// if it is smaller, else src itself with codecRaw (lz4 does not give up on
// random data; it would store a slightly larger block).
func (c *compressor) compress(src []byte) ([]byte, byte) {
	if len(src) < 64 {
		return src, codecRaw
	}
	switch c.codec {
	case codecLZ4:
		if cap(c.buf) < len(src) {
			c.buf = make([]byte, len(src))
		}
		// A destination shorter than the input makes lz4 report 0 as
		// soon as the output cannot shrink.
		n, err := c.lz4.CompressBlock(src, c.buf[:len(src)-1])
		if err != nil || n == 0 {
			return src, codecRaw
		}
		return c.buf[:n], codecLZ4
	case codecZstd:
		c.buf = c.zstd.EncodeAll(src, c.buf[:0])
		if len(c.buf) >= len(src) {
			return src, codecRaw
		}
		return c.buf, codecZstd
	}
	return src, codecRaw
}

// decompressor holds one goroutine's decompression state.
type decompressor struct {
	zstd *zstd.Decoder
}

// plaintext returns the raw bytes of payload (raw bytes long), and dst: a
// raw blob's are payload itself, a compressed one's are decompressed onto
// the end of dst.
func (d *decompressor) plaintext(dst []byte, codec byte, payload []byte, raw int) (plain, _ []byte, err error) {
	start := len(dst)
	switch codec {
	case codecRaw:
		if len(payload) != raw {
			return nil, nil, fmt.Errorf("raw blob of %d bytes, want %d", len(payload), raw)
		}
		return payload, dst, nil
	case codecLZ4:
		dst = growLen(dst, raw)
		n, err := lz4.UncompressBlock(payload, dst[start:])
		if err != nil {
			return nil, nil, fmt.Errorf("lz4: %w", err)
		}
		if n != raw {
			return nil, nil, fmt.Errorf("lz4 gave %d bytes, want %d", n, raw)
		}
	case codecZstd:
		if d.zstd == nil {
			z, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxChunk))
			if err != nil {
				return nil, nil, err
			}
			d.zstd = z
		}
		if dst, err = d.zstd.DecodeAll(payload, dst); err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		if len(dst)-start != raw {
			return nil, nil, fmt.Errorf("zstd gave %d bytes, want %d", len(dst)-start, raw)
		}
	default:
		return nil, nil, fmt.Errorf("unknown codec %d", codec)
	}
	return dst[start:], dst, nil
}

func (d *decompressor) close() {
	if d.zstd != nil {
		d.zstd.Close()
	}
}

// growLen extends dst by n bytes (contents undefined).
func growLen(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		nb := make([]byte, len(dst), len(dst)+n)
		copy(nb, dst)
		dst = nb
	}
	return dst[:len(dst)+n]
}
