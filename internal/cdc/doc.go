// Package cdc splits data into content-defined chunks, so that a snapshot
// store can keep each distinct chunk once: an edit changes the chunks
// around it and leaves the boundaries, and so the chunks, everywhere else
// as they were.
//
// The chunker is FastCDC (Xia et al., "FastCDC: a Fast and Efficient
// Content-Defined Chunking Approach for Data Deduplication", USENIX ATC
// 2016, and the 2020 journal version in IEEE TPDS): a gear rolling hash,
// no boundary search before the minimum size, and normalized chunking. The
// code is written for this package.
//
// # Boundary rule
//
// The rule below, the gear table derivation (NewTable) and Params decide
// every chunk, so they are part of the on-disk format;
// testdata/boundaries.golden pins them.
//
// Let G be the gear table (256 random 64-bit values) and b[0..] the bytes
// from the start of the current chunk. The gear hash at length p is the
// hash of the window of the last 64 bytes:
//
//	h(p) = Σ G[b[p-1-k]] << k  (mod 2^64),  k = 0 .. min(p, 64)-1
//
// which is what h = h<<1 + G[b] computes one byte at a time: after 64 steps
// a byte's value has shifted out. The chunk ends after the first p in
// [Min, Max) such that the top s(p) bits of h(p) are all zero:
//
//	s(p) = log2(Avg) + 2   for p ≤ N   (strict: a cut at 1 in 4*Avg lengths)
//	s(p) = log2(Avg) - 2   for p > N   (loose: 1 in Avg/4)
//	N    = max(Min, Avg - Avg/8 - Min/4)
//
// or after min(len, Max) bytes if there is no such p. The next chunk starts
// there with its own h(p).
//
// # High bits, not low bits
//
// Bit k of h depends only on the last k+1 bytes, so a mask on the low bits,
// as several FastCDC implementations use, sees a window of log2(Avg) bytes
// or so. On structured data (JSON, logs) such short windows repeat, and
// the chunk sizes drift far from the target. The top bits depend on all 64
// bytes of the window, so this package tests h < 2^(64-s), the top s bits.
//
// # Normalization
//
// Normalized chunking (level 2) makes a cut unlikely below N and likely
// above it, which narrows the size distribution: fewer tiny chunks, which
// cost index entries, and fewer huge ones, which cost dedup. FastCDC puts
// N at Avg, which makes the mean about 1.13*Avg; this package puts it at
// Avg - Avg/8 - Min/4, which gives a mean within 3% of Avg for any Min up
// to Avg/2, on data whose 64-byte windows do not repeat. Measured means are
// in the table below.
//
// # Speed
//
// The hash at Min depends only on the 64 bytes before it, so Cut skips the
// first Min-64 bytes of every chunk without reading them. Past Min, it
// feeds eight bytes per step in two halves of four, and computes the four
// hashes of a half from the hash before it (h<<1+G[b0],
// h<<2+(G[b0]<<1+G[b1]), ...), so that the loop-carried dependency is one
// shift and one add per four bytes rather than per byte. Cut has no bounds checks in its loop and does not
// allocate.
//
// # Defaults
//
// DefaultParams is Min 32 KiB, Avg 64 KiB, Max 256 KiB. Measured on an AMD
// EPYC (AVX2, Go 1.26, one goroutine, shared 2-core machine; median of 10
// runs) over 64 MiB of gen.Random and gen.Events, with Min Avg/2 and Max
// 4*Avg. "Cut" is the throughput of Cut over data in memory; "reuse" is
// the share of bytes whose chunk is unchanged after 100 single-byte
// insertions (random) or 100 edits inserting, deleting or overwriting 1 to
// 64 bytes (events); "lz4" is the compression ratio of each chunk by itself;
// "index" is the size of an index of 50 bytes per chunk, per TiB of unique
// data:
//
//	Avg      Cut GB/s        mean chunk (B)   reuse %        lz4    index
//	         random events   random events    random events  events per TiB
//	16 KiB   4.27   4.44     16070  15466     97.3   97.5    3.17   3.2 GiB
//	32 KiB   4.44   4.73     31896  30366     94.8   95.1    3.41   1.6 GiB
//	64 KiB   4.64   4.42     64158  64219     89.8   90.5    3.60   800 MiB
//	128 KiB  4.70   4.95    129804 128808     81.6   81.5    3.72   400 MiB
//
// Reader, which copies the stream into its buffer, runs at 3.6 to 3.7 GB/s
// with the defaults. On the same machine and data, through their readers
// at 64 KiB average (bench/cdc_test.go), restic/chunker runs at 0.51 GB/s,
// jotfs/fastcdc-go at 1.6 to 1.7 GB/s and PlakarKorp/go-cdc-chunkers'
// FastCDC at 1.6 GB/s; its JC chunker runs at 8 to 9 GB/s by jumping over
// bytes unhashed, and reuses less (86% and 81% in the same tests, against
// 90% and 91% for this package).
//
// 64 KiB keeps about 90% of the bytes after 100 scattered edits to 64 MiB
// (each edit costs about one chunk, 1.05*Avg), gives lz4 its full 64 KiB
// window so that per-chunk compression is within 4% of 128 KiB chunks and
// 13% better than 16 KiB ones, and needs a quarter of the index of 16 KiB
// chunks. Speed depends little on Avg. A workload of tiny scattered
// updates to a large state that is rarely read back whole could choose
// 32 KiB. Min Avg/2 rather than FastCDC's Avg/4 skips twice as many bytes
// unhashed (about 1.4 times the speed) and reused slightly more (90.2%
// against 89.9% at 64 KiB, mean of six edit seeds), because it narrows the
// size distribution. Max 4*Avg is reached by almost no chunk of
// non-degenerate data; Reader buffers at least 2*Max.
//
// # Security
//
// Chunk boundaries are a function of the content. With a public gear table,
// anyone who can see chunk sizes (the sizes of encrypted objects in a
// bucket) can test whether a repository holds a known file, by chunking it
// and looking for that sequence of sizes. NewTable therefore derives the
// table from a secret 32-byte seed, drawn at random when a repository is
// created and kept with its keys, so that only key holders can compute
// boundaries. This raises the cost of such fingerprinting; it does not
// make chunk sizes cryptographically hiding. An attacker who can have
// chosen data backed up and observe the resulting sizes may learn about
// the table, and size patterns of large known files remain statistically
// visible, so stores should also pack chunks into larger objects in random
// order (as restic does) rather than store one object per chunk.
//
// # Usage
//
//	c, err := cdc.New(cdc.DefaultParams(), cdc.NewTable(repoSeed))
//	if err != nil { ... }
//	r := cdc.NewReader(f, c)
//	for {
//		chunk, err := r.Next() // valid until the next call
//		if err == io.EOF {
//			break
//		}
//		if err != nil { ... }
//		store(chunk)
//	}
//
// For data already in memory, call Cut directly:
//
//	for len(data) > 0 {
//		n := c.Cut(data)
//		store(data[:n])
//		data = data[n:]
//	}
//
// # Concurrency
//
// A Chunker is immutable (New copies the Table) and may be shared by any
// number of goroutines. A Reader is used by one goroutine at a time.
package cdc
