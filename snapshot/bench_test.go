package snapshot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"
	"gocloud.dev/blob/memblob"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/continuity-go/continuity/internal/gen"
)

// The benchmarks here measure Save and Restore and, stage by stage, the
// work they do per chunk, on the two kinds of data of internal/gen:
// incompressible bytes and JSON event lines. bench/cmd/snapbench puts the
// same figures side by side with restic; these are for benchstat:
//
//	go test -run '^$' -bench . -count 10 ./snapshot/ | tee new.txt

const (
	// hotPathBytes is the data of one BenchmarkHotPath op, in
	// hotPathPiece pieces: about a chunk each, as Save hands them over.
	hotPathBytes = 8 << 20
	hotPathPiece = 64 << 10
	// benchStateBytes is the state BenchmarkSave and BenchmarkRestore
	// store.
	benchStateBytes = 64 << 20
	// benchEdits small edits of 1 to 64 bytes change about 1% of the
	// 1024 or so chunks of a 64 MiB state (an edit changes the chunk it
	// falls in, and sometimes moves a boundary into the next one); the
	// benchmark reports the share it measured as new-chunks-%.
	benchEdits   = 10
	benchEditLen = 64
)

var benchKinds = []string{"events", "random"}

// benchData returns n bytes of kind ("events" or "random"), the same for
// every benchmark of a run.
func benchData(kind string, n int) []byte {
	return benchDataCache()[fmt.Sprintf("%s/%d", kind, n)]
}

var benchDataCache = sync.OnceValue(func() map[string][]byte {
	m := map[string][]byte{}
	for _, n := range []int{hotPathBytes, benchStateBytes} {
		m[fmt.Sprintf("events/%d", n)] = gen.Events(1, n)
		m[fmt.Sprintf("random/%d", n)] = gen.Random(1, n)
	}
	return m
})

// benchKeyring is a keyring with fixed keys, as a repository derives them.
func benchKeyring(b *testing.B) *keyring {
	k, err := deriveKeyring(bytes.Repeat([]byte{7}, masterKeySize), [repoIDSize]byte{1})
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func pieces(data []byte, n int) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		k := min(n, len(data))
		out = append(out, data[:k])
		data = data[k:]
	}
	return out
}

// BenchmarkHotPath measures each stage of the per-chunk work of Save and
// Restore alone, on 8 MiB in 64 KiB pieces, with the code Save and
// Restore use (hasher, compressor, decompressor, the pack AEAD), beside
// alternatives: xxhash64 (not keyed: no chunk ID), HMAC-SHA-256 (a keyed
// ID on SHA-NI) and XChaCha20-Poly1305 (an AEAD without AES-NI). The
// codec stages store random pieces raw, as Save does (lz4 and zstd give
// up on them), so their decompress rows on random data do no work: a raw
// chunk's plaintext is where it was opened, as in Restore.
func BenchmarkHotPath(b *testing.B) {
	k := benchKeyring(b)
	salt := [saltSize]byte{3}
	gcm, err := k.objectAEAD(0, kindPack, salt[:])
	if err != nil {
		b.Fatal(err)
	}
	xc, err := chacha20poly1305.NewX(k.enc[0][:])
	if err != nil {
		b.Fatal(err)
	}
	var adBuf [repoIDSize + 1 + blobIDSize]byte
	ad := k.blobAD(&adBuf, blobData, blobID{9})
	var nb [nonceSize]byte
	xnonce := make([]byte, chacha20poly1305.NonceSizeX)

	type stage struct {
		name string
		// prep turns a piece into the stage's input (nil: the piece).
		prep func(p []byte) ([]byte, byte)
		run  func(dst, in []byte, codec byte, raw int) []byte
	}
	compressed := func(c Codec) func(p []byte) ([]byte, byte) {
		comp := newCompressor(c)
		return func(p []byte) ([]byte, byte) {
			out, codec := comp.compress(p)
			return bytes.Clone(out), codec
		}
	}
	var dec decompressor
	defer dec.close()
	decompress := func(dst, in []byte, codec byte, raw int) []byte {
		_, dst, err := dec.plaintext(dst[:0], codec, in, raw)
		if err != nil {
			b.Fatal(err)
		}
		return dst
	}
	h := k.newHasher()
	mac := hmac.New(sha256.New, k.dataID[:])
	lz4c, zstdc := newCompressor(LZ4), newCompressor(Zstd)
	stages := []stage{
		{name: "copy", run: func(dst, in []byte, _ byte, _ int) []byte { return append(dst[:0], in...) }},
		{name: "xxhash64", run: func(dst, in []byte, _ byte, _ int) []byte {
			xxhash.Sum64(in)
			return dst
		}},
		{name: "blake3-keyed", run: func(dst, in []byte, _ byte, _ int) []byte {
			h.sum(blobData, in)
			return dst
		}},
		{name: "hmac-sha256", run: func(dst, in []byte, _ byte, _ int) []byte {
			mac.Reset()
			mac.Write(in)
			return mac.Sum(dst[:0])
		}},
		{name: "lz4-compress", run: func(dst, in []byte, _ byte, _ int) []byte {
			lz4c.compress(in)
			return dst
		}},
		{name: "lz4-decompress", prep: compressed(LZ4), run: decompress},
		{name: "zstd-compress", run: func(dst, in []byte, _ byte, _ int) []byte {
			zstdc.compress(in)
			return dst
		}},
		{name: "zstd-decompress", prep: compressed(Zstd), run: decompress},
		{name: "aes-gcm-seal", run: func(dst, in []byte, _ byte, _ int) []byte {
			return gcm.Seal(dst[:0], nonce(&nb, 48), in, ad)
		}},
		{name: "aes-gcm-open", prep: func(p []byte) ([]byte, byte) {
			return gcm.Seal(nil, nonce(&nb, 48), p, ad), 0
		}, run: func(dst, in []byte, _ byte, _ int) []byte {
			out, err := gcm.Open(dst[:0], nonce(&nb, 48), in, ad)
			if err != nil {
				b.Fatal(err)
			}
			return out
		}},
		{name: "xchacha20poly1305-seal", run: func(dst, in []byte, _ byte, _ int) []byte {
			return xc.Seal(dst[:0], xnonce, in, ad)
		}},
	}
	for _, st := range stages {
		for _, kind := range benchKinds {
			b.Run(fmt.Sprintf("stage=%s/data=%s", st.name, kind), func(b *testing.B) {
				ps := pieces(benchData(kind, hotPathBytes), hotPathPiece)
				ins := make([][]byte, len(ps))
				codecs := make([]byte, len(ps))
				stored := 0
				for i, p := range ps {
					ins[i] = p
					if st.prep != nil {
						ins[i], codecs[i] = st.prep(p)
					}
					stored += len(ins[i])
				}
				dst := make([]byte, 0, hotPathPiece+1024)
				b.SetBytes(hotPathBytes)
				b.ReportAllocs()
				for b.Loop() {
					for i, in := range ins {
						dst = st.run(dst, in, codecs[i], len(ps[i]))
					}
				}
				if st.prep != nil && st.name != "aes-gcm-open" {
					b.ReportMetric(float64(hotPathBytes)/float64(stored), "ratio")
				}
			})
		}
	}
}

// benchRepo creates a repository with Format f in a new mem:// bucket;
// close releases both. The bucket does not compute the MD5 of what is
// written (memblob does by default, at about 600 MB/s, for an attribute
// the repository never reads), so that the benchmarks measure the
// repository's own work.
func benchRepo(b *testing.B, f Format, workers int) (r *Repo, close func()) {
	bucket := memblob.OpenBucket(&memblob.Options{NoMD5: true})
	r, err := Init(context.Background(), bucket, RawKey([32]byte{5}), f, Options{Workers: workers})
	if err != nil {
		b.Fatal(err)
	}
	return r, func() {
		r.Close()
		bucket.Close()
	}
}

func benchSave(b *testing.B, r *Repo, data []byte) Stats {
	_, st, err := r.Save(context.Background(), bytes.NewReader(data), Meta{})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkSave measures Save of a 64 MiB state into a mem:// bucket with
// the default Format (lz4): kind=first into an empty repository;
// kind=unchanged, the same state again; kind=edited, the state after 10
// small edits (about 1% of the chunks new, reported as new-chunks-%) into
// a repository holding the state before them. Bytes/op is the state's size.
func BenchmarkSave(b *testing.B) {
	for _, kind := range benchKinds {
		for _, op := range []string{"first", "unchanged", "edited"} {
			for _, workers := range []int{1, 2} {
				b.Run(fmt.Sprintf("data=%s/kind=%s/workers=%d", kind, op, workers), func(b *testing.B) {
					base := benchData(kind, benchStateBytes)
					data := base
					if op == "edited" {
						data = gen.Edit(2, base, benchEdits, benchEditLen)
					}
					var r *Repo
					var closeRepo func()
					// prepare gives a repository in the state the
					// op starts from, outside the timing.
					prepare := func() {
						b.StopTimer()
						defer b.StartTimer()
						if r != nil && op == "unchanged" {
							return
						}
						if closeRepo != nil {
							closeRepo()
						}
						r, closeRepo = benchRepo(b, Format{}, workers)
						if op != "first" {
							benchSave(b, r, base)
						}
					}
					defer func() { closeRepo() }()
					b.SetBytes(int64(len(data)))
					b.ReportAllocs()
					var st Stats
					for b.Loop() {
						prepare()
						st = benchSave(b, r, data)
					}
					b.ReportMetric(100*float64(st.ChunksNew)/float64(st.Chunks), "new-chunks-%")
					b.ReportMetric(float64(st.StoredBytes), "stored-B")
				})
			}
		}
	}
}

// BenchmarkRestore measures Restore of a 64 MiB state from a mem://
// bucket (default Format) to io.Discard.
func BenchmarkRestore(b *testing.B) {
	for _, kind := range benchKinds {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("data=%s/workers=%d", kind, workers), func(b *testing.B) {
				data := benchData(kind, benchStateBytes)
				r, closeRepo := benchRepo(b, Format{}, workers)
				defer closeRepo()
				m, _, err := r.Save(context.Background(), bytes.NewReader(data), Meta{})
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				for b.Loop() {
					if err := r.Restore(context.Background(), m.ID, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkChunk measures the chunking alone of a 64 MiB state with the
// repository's chunker (default Format): op=cut calls Cut over the data as
// Save's reader does; op=cut+copy also copies each chunk into a buffer of
// its own, as Save does before handing it to a worker.
func BenchmarkChunk(b *testing.B) {
	for _, kind := range benchKinds {
		for _, op := range []string{"cut", "cut+copy"} {
			b.Run(fmt.Sprintf("data=%s/op=%s", kind, op), func(b *testing.B) {
				data := benchData(kind, benchStateBytes)
				r, closeRepo := benchRepo(b, Format{}, 1)
				defer closeRepo()
				buf := make([]byte, 0, r.format.ChunkMax)
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				var chunks int
				for b.Loop() {
					chunks = 0
					for d := data; len(d) > 0; chunks++ {
						n := r.chunk.Cut(d)
						if op == "cut+copy" {
							buf = append(buf[:0], d[:n]...)
						}
						d = d[n:]
					}
				}
				b.ReportMetric(float64(len(data))/float64(chunks), "B/chunk")
			})
		}
	}
}
