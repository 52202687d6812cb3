package main

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"

	"github.com/pierrec/lz4/v4"
	"github.com/zeebo/blake3"
)

// The per-chunk primitives as the snapshot package uses them, shared by
// the physical limits and the primitives table.

// idHasher computes keyed BLAKE3-256 chunk IDs as snapshot/crypto.go's
// hasher does: one keyed hasher, Reset before each chunk.
type idHasher struct {
	h  *blake3.Hasher
	id [32]byte
}

func newIDHasher(key [32]byte) (*idHasher, error) {
	h, err := blake3.NewKeyed(key[:])
	if err != nil {
		return nil, err
	}
	return &idHasher{h: h}, nil
}

func (h *idHasher) sum(p []byte) {
	h.h.Reset()
	h.h.Write(p)
	h.h.Sum(h.id[:0])
}

// lz4Codec is snapshot/codec.go's lz4 path: lz4 block compression into a
// destination one byte shorter than the chunk, so that lz4 gives up as
// soon as the chunk cannot shrink, and the chunk stored raw then.
type lz4Codec struct {
	c   lz4.Compressor
	buf []byte
}

func (c *lz4Codec) compress(p []byte) ([]byte, byte) {
	if len(p) < 64 {
		return p, codecRaw
	}
	if cap(c.buf) < len(p) {
		c.buf = make([]byte, len(p))
	}
	n, err := c.c.CompressBlock(p, c.buf[:len(p)-1])
	if err != nil || n == 0 {
		return p, codecRaw
	}
	return c.buf[:n], codecLZ4
}

// newGCM returns AES-256-GCM with key, as snapshot/crypto.go's objectAEAD
// makes it for each object (from a key HKDF derives per object).
func newGCM(key [32]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// counterNonce is a GCM nonce that counts within one object, as
// snapshot/crypto.go's nonce does (the pack uses the blob's offset).
type counterNonce [12]byte

func (b *counterNonce) at(n int) []byte {
	binary.LittleEndian.PutUint64(b[:8], uint64(n))
	return b[:]
}
