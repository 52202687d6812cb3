package cdc

import (
	"math/bits"

	"github.com/stretchr/testify/require"
)

// cutRef is the boundary rule of doc.go written for clarity instead of
// speed: the hash at each candidate length is recomputed from the window,
// and the mask is applied literally. Cut must agree with it on every input.
func cutRef(p Params, t *Table, data []byte) int {
	n := min(len(data), p.Max)
	normal := max(p.Min, p.Avg-p.Avg/8-p.Min/4)
	avgBits := bits.Len(uint(p.Avg)) - 1
	for l := p.Min; l < n; l++ {
		var h uint64
		for _, b := range data[max(0, l-64):l] {
			h = h<<1 + t[b]
		}
		maskBits := avgBits - 2
		if l <= normal {
			maskBits = avgBits + 2
		}
		mask := ^uint64(0) << (64 - maskBits)
		if h&mask == 0 {
			return l
		}
	}
	return n
}

// chunkAll splits data by calling Cut until it is used up.
func chunkAll(c *Chunker, data []byte) [][]byte {
	var chunks [][]byte
	for len(data) > 0 {
		n := c.Cut(data)
		chunks = append(chunks, data[:n])
		data = data[n:]
	}
	return chunks
}

// lengths returns the lengths of chunks.
func lengths(chunks [][]byte) []int {
	ls := make([]int, len(chunks))
	for i, c := range chunks {
		ls[i] = len(c)
	}
	return ls
}

func mustNew(t require.TestingT, p Params, seed byte) *Chunker {
	c, err := New(p, NewTable([32]byte{seed}))
	require.NoError(t, err)
	return c
}
